"""Turn catalogue rows and cached vectors into the arrays the scoring components read.

This is the one place where rows become arrays and row indices become ids again. ``build_index`` takes
plain rows (so tests can pass a handful); ``load_index`` reads them from the database, embeds what the
cache lacks, and can cut everything at a date (``as_of``) so an evaluation sees only the past.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sqlalchemy import select
from sqlmodel import Session

import embeddings.cache
import matcher.texts
from embeddings.base import Embedder
from embeddings.cache import embed_with_cache, text_hash
from matcher.texts import area_text, project_text
from seed_data.fingerprint import code_digest, combine, table_digests
from seed_data.tables import PriorityArea, Programme, table_of

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

# An institution is strong in an area when several of its projects are close to the area's description,
# not when one is: strength is the mean similarity of its best AREA_TOP_PROJECTS projects.
AREA_TOP_PROJECTS = 3
# Track record counts projects with a recency decay: a project's weight halves every this many years.
TRACK_RECORD_HALF_LIFE_YEARS = 4.0
# Cosine calibration is tabulated at this many steps per unit of cosine (1/1024: far below score gaps).
_CALIBRATION_STEPS_PER_UNIT = 1024
# A coordinator role is worth this many participations in the track record (it shows the institution
# can lead a consortium, which programmes value).
COORDINATOR_WEIGHT = 2.0


@dataclass
class InstitutionInfo:
    """Display data of one catalogue institution (the arrays hold everything scored)."""

    id: str
    name: str
    country: str
    kind: str
    city: str | None
    pic: str | None
    ror_id: str | None
    erasmus_code: str | None
    website: str | None
    native_name: str | None


@dataclass
class ProjectInfo:
    id: str
    acronym: str | None
    title: str | None
    start_date: dt.date | None
    keywords: list[str]
    programme: str


@dataclass(eq=False)  # identity hash: an index is cached against (filter masks), never compared by value
class CatalogueIndex:
    """Everything the scoring components need, as arrays aligned on institution rows ``0..n-1``.

    Graph nodes are institutions first (``0..n-1``) and then PICs that no source names (``n..n_nodes-1``):
    those count as shared partners but are never suggested.
    """

    institutions: list[InstitutionInfo]
    row_of: dict[str, int]
    countries: npt.NDArray[np.str_]  # (n,)
    kinds: npt.NDArray[np.str_]  # (n,)
    has_evidence: npt.NDArray[np.bool_]  # (n,) research text (projects or an owner profile)
    has_charter: npt.NDArray[np.bool_]  # (n,) Erasmus charter (ECHE) holder
    vectors: npt.NDArray[np.float32]  # (n, dim) unit rows; zero rows without evidence
    projects: list[ProjectInfo]  # projects known as of the index date
    project_vectors: npt.NDArray[np.float32]  # (n_projects, dim); zero rows for projects without text
    membership: sp.csr_matrix  # (n_nodes, n_projects) 1 where the node took part
    coordinated: sp.csr_matrix  # (n_nodes, n_projects) 1 where it coordinated
    graph: sp.csr_matrix  # (n_nodes, n_nodes) 1 for co-participation, zero diagonal
    adamic_adar_weights: FloatArray  # (n_nodes,) 1/log(degree) for degree >= 2, else 0
    node_names: list[str]  # (n_nodes,) institution names, then "PIC <number>"
    area_keys: list[str]
    area_names: list[str]
    area_vectors: npt.NDArray[np.float32]  # (n_areas, dim)
    area_strength: FloatArray  # (n, n_areas) percentile in [0, 1] among institutions with evidence
    track_record: FloatArray  # (n,) percentile in [0, 1] among institutions with projects
    thematic_quantiles: FloatArray  # cosine quantiles of random institution pairs, for calibration
    programmes: dict[str, dict[str, Any]]
    as_of: dt.date | None = None
    stats: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._project_has_text = np.linalg.norm(self.project_vectors, axis=1) > 0
        self._evidence_rows = np.flatnonzero(self.has_evidence)
        self._evidence_vectors = np.ascontiguousarray(self.vectors[self._evidence_rows])
        grid = np.linspace(-1.0, 1.0, 2 * _CALIBRATION_STEPS_PER_UNIT + 1)
        self._calibration_table = calibrate_thematic(grid, self.thematic_quantiles)

    def calibrated_cosines(self, vector: npt.NDArray[np.float32]) -> FloatArray:
        """(n,) :func:`calibrate_thematic` of :meth:`cosines`, read from a table on a fine grid of cosines
        (a lookup is several times faster than interpolating 100,000 values; the grid step is 1/1024)."""
        cells = np.rint((self.cosines(vector) + 1.0) * _CALIBRATION_STEPS_PER_UNIT).astype(np.intp)
        return self._calibration_table[np.clip(cells, 0, len(self._calibration_table) - 1)]

    def cosines(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(n,) cosine of every institution's vector with ``vector``; 0 without evidence. Only the rows with
        evidence are multiplied (about half the catalogue)."""
        out = np.zeros(self.n, dtype=np.float32)
        out[self._evidence_rows] = self._evidence_vectors @ vector
        return out

    @property
    def n(self) -> int:
        return len(self.institutions)

    @staticmethod
    def row_members(matrix: sp.csr_matrix, row: int) -> npt.NDArray[np.int32]:
        """Column indices of one CSR row, without scipy's slicing machinery (it costs ~50 µs a call)."""
        return matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]

    @property
    def project_has_text(self) -> npt.NDArray[np.bool_]:
        """(n_projects,) whether a project has a text vector."""
        return self._project_has_text

    @property
    def evidence_rows(self) -> npt.NDArray[np.intp]:
        """Rows of institutions with research evidence (the only ones with a non-zero vector)."""
        return self._evidence_rows


def _percentile(values: FloatArray, mask: npt.NDArray[np.bool_]) -> FloatArray:
    """Rank-percentile of ``values`` among rows where ``mask`` holds (ties averaged), 0 elsewhere.

    The best row gets 1.0; 0.9 means "better than 90% of the institutions with evidence".
    """
    out = np.zeros(values.shape, dtype=np.float64)
    if mask.sum() == 0:
        return out
    from scipy.stats import rankdata

    sub = values[mask]
    out[mask] = rankdata(sub, method="average", axis=0) / sub.shape[0]
    return out


def _unit(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def build_index(
    *,
    institutions: Sequence[Mapping[str, Any]],
    projects: Sequence[Mapping[str, Any]],
    participations: Sequence[Mapping[str, Any]],
    project_vectors: Mapping[str, npt.NDArray[np.float32]],
    owner_vectors: Mapping[str, npt.NDArray[np.float32]],
    areas: Sequence[Mapping[str, Any]],
    area_vectors: npt.NDArray[np.float32],
    programmes: Sequence[Mapping[str, Any]],
    as_of: dt.date | None = None,
    random_state: int = 0,
) -> CatalogueIndex:
    """Build the scoring arrays from plain rows.

    Rows dated on or after ``as_of`` (projects by start date, and their participations) are left out, so
    nothing from the future reaches vectors, strengths, track records or the graph. ``project_vectors``
    maps project id to its text's vector; ``owner_vectors`` maps institution id to its owner profile's
    vector, which replaces the pooled project vector.
    """
    infos = [
        InstitutionInfo(r["id"], r["name"], r["country"], str(r["kind"]), r.get("city"), r.get("pic"),
                        r.get("ror_id"), r.get("erasmus_code"), r.get("website"), r.get("native_name"))
        for r in institutions
    ]
    row_of = {info.id: i for i, info in enumerate(infos)}
    n = len(infos)
    kept_projects = [
        p for p in projects if as_of is None or (p.get("start_date") is not None and p["start_date"] < as_of)
    ]
    kept_projects.sort(key=lambda p: p["id"])
    col_of = {p["id"]: j for j, p in enumerate(kept_projects)}
    project_infos = [
        ProjectInfo(p["id"], p.get("acronym"), p.get("title"), p.get("start_date"), list(p.get("keywords") or []),
                    p["programme"])
        for p in kept_projects
    ]
    dim = area_vectors.shape[1]
    pvecs = np.zeros((len(kept_projects), dim), dtype=np.float32)
    has_text = np.zeros(len(kept_projects), dtype=bool)
    for k, p in enumerate(kept_projects):
        vec = project_vectors.get(p["id"])
        if vec is not None:
            pvecs[k], has_text[k] = vec, True

    # graph nodes: institutions, then unnamed PICs
    node_of_pic: dict[str, int] = {}
    node_names = [info.name for info in infos]
    rows, cols, coord_rows, coord_cols = [], [], [], []
    for part in participations:
        j = col_of.get(part["project_id"])
        if j is None:
            continue
        inst = part.get("institution_id")
        if inst:
            node = row_of.get(inst)
            if node is None:
                continue
        else:
            node = node_of_pic.get(part["pic"])
            if node is None:
                node = node_of_pic[part["pic"]] = n + len(node_of_pic)
                node_names.append(f"PIC {part['pic']}")
        rows.append(node)
        cols.append(j)
        if part["role"] == "coordinator":
            coord_rows.append(node)
            coord_cols.append(j)
    n_nodes = n + len(node_of_pic)
    shape = (n_nodes, len(kept_projects))
    membership = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    membership.data[:] = 1.0  # duplicates (two roles in one project) count once
    coordinated = sp.csr_matrix((np.ones(len(coord_rows)), (coord_rows, coord_cols)), shape=shape)
    coordinated.data[:] = 1.0
    graph = (membership @ membership.T).tocsr()
    graph.setdiag(0)
    graph.eliminate_zeros()
    graph.data[:] = 1.0
    degree = np.asarray(graph.sum(axis=1)).ravel()
    aa_weights = np.where(degree >= 2, 1.0 / np.log(np.maximum(degree, 2)), 0.0)

    # institution vectors: mean of its project vectors (with text), or its owner profile
    inst_membership = membership[:n][:, has_text]
    text_vecs = pvecs[has_text]
    counts = np.asarray(inst_membership.sum(axis=1)).ravel()
    pooled = np.asarray(inst_membership @ text_vecs, dtype=np.float32)
    vectors = _unit(pooled)
    has_evidence = counts > 0
    for inst_id, vec in owner_vectors.items():
        if inst_id in row_of:
            vectors[row_of[inst_id]] = vec
            has_evidence[row_of[inst_id]] = True

    # area strength: mean of the best AREA_TOP_PROJECTS project similarities, then percentile
    area_keys = [a["key"] for a in areas]
    sims = text_vecs @ area_vectors.T if len(text_vecs) else np.zeros((0, len(areas)), dtype=np.float32)
    raw_strength = np.zeros((n, len(areas)), dtype=np.float64)
    indptr, indices = inst_membership.indptr, inst_membership.indices
    for i in np.flatnonzero(counts):
        block = sims[indices[indptr[i]:indptr[i + 1]]]
        top = -np.sort(-block, axis=0)[:AREA_TOP_PROJECTS]
        raw_strength[i] = top.mean(axis=0)
    for inst_id in owner_vectors:  # an owner profile without projects: its own similarity to each area
        row = row_of.get(inst_id)
        if row is not None and counts[row] == 0:
            raw_strength[row] = vectors[row] @ area_vectors.T
    area_strength = _percentile(raw_strength, has_evidence)

    # track record: recency-weighted project count, coordinator roles weighted up, then percentile
    reference_year = (as_of or max((p.start_date for p in project_infos if p.start_date), default=dt.date.today())).year
    years = np.array([p.start_date.year if p.start_date else reference_year for p in project_infos], dtype=float)
    decay = 0.5 ** (np.maximum(reference_year - years, 0) / TRACK_RECORD_HALF_LIFE_YEARS)
    weighted = membership[:n] @ decay + (COORDINATOR_WEIGHT - 1.0) * (coordinated[:n] @ decay)
    track_record = _percentile(np.asarray(weighted, dtype=np.float64), np.asarray(weighted) > 0)

    # thematic calibration: cosine quantiles between random pairs of institutions with evidence
    rng = np.random.default_rng(random_state)
    evidence_rows = np.flatnonzero(has_evidence)
    if len(evidence_rows) >= 2:
        a = rng.choice(evidence_rows, size=min(20000, len(evidence_rows) * 4))
        b = rng.choice(evidence_rows, size=a.shape[0])
        pair_cos = np.einsum("ij,ij->i", vectors[a], vectors[b])
        quantiles = np.quantile(pair_cos, np.linspace(0, 1, 101))
    else:
        quantiles = np.linspace(-1, 1, 101)

    return CatalogueIndex(
        institutions=infos,
        row_of=row_of,
        countries=np.array([i.country for i in infos]),
        kinds=np.array([i.kind for i in infos]),
        has_evidence=has_evidence,
        has_charter=np.array([bool(i.erasmus_code) for i in infos]),
        vectors=vectors,
        projects=project_infos,
        project_vectors=pvecs,
        membership=membership,
        coordinated=coordinated,
        graph=graph,
        adamic_adar_weights=aa_weights,
        node_names=node_names,
        area_keys=area_keys,
        area_names=[a["name"] for a in areas],
        area_vectors=area_vectors,
        area_strength=area_strength,
        track_record=track_record,
        thematic_quantiles=quantiles,
        programmes={p["key"]: dict(p) for p in programmes},
        as_of=as_of,
        stats={"institutions": n, "with_evidence": int(has_evidence.sum()), "projects": len(kept_projects),
               "projects_with_text": int(has_text.sum()), "graph_nodes": n_nodes,
               "graph_edges": int(graph.nnz // 2)},
    )


@dataclass
class EmbeddingStats:
    hits: int = 0
    misses: int = 0


@dataclass
class CatalogueRows:
    """The catalogue as plain rows, read once and reused (e.g. for indexes at several dates)."""

    institutions: list[dict[str, Any]]
    projects: list[dict[str, Any]]
    participations: list[dict[str, Any]]
    areas: list[dict[str, Any]]
    programmes: list[dict[str, Any]]


def _json(value: Any) -> Any:
    # plain SQL returns JSON columns as text on SQLite and already parsed on PostgreSQL
    return json.loads(value) if isinstance(value, str) else value


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value


# The columns the matcher reads, shared by read_catalogue and catalogue_fingerprint so the fingerprint
# covers exactly what an index is built from.
INSTITUTION_COLUMNS = ("id", "name", "country", "kind", "city", "pic", "ror_id", "erasmus_code", "website",
                       "native_name", "profile_owner")
PROJECT_COLUMNS = ("id", "programme", "acronym", "title", "objective", "keywords", "euroscivoc", "start_date")
PARTICIPATION_COLUMNS = ("project_id", "pic", "role", "institution_id")
PARTICIPATION_KEY = ("project_id", "pic", "role")


def read_catalogue(session: Session) -> CatalogueRows:
    """Read the columns the matcher needs from the database.

    The three large tables are read with plain SQL: SQLAlchemy's per-value type conversion (enums, JSON,
    dates) over 300,000 rows costs seconds of every service start, the conversions below milliseconds.
    """
    connection = session.connection()
    institutions = [
        dict(zip(INSTITUTION_COLUMNS, r, strict=True))
        for r in connection.exec_driver_sql(f"SELECT {', '.join(INSTITUTION_COLUMNS)} FROM institution ORDER BY id")
    ]
    projects = [
        {"id": r[0], "programme": r[1], "acronym": r[2], "title": r[3], "objective": r[4],
         "keywords": _json(r[5]) or [], "euroscivoc": _json(r[6]) or [], "start_date": _date(r[7])}
        for r in connection.exec_driver_sql(f"SELECT {', '.join(PROJECT_COLUMNS)} FROM project ORDER BY id")
    ]
    participations = [
        dict(zip(PARTICIPATION_COLUMNS, r, strict=True))
        for r in connection.exec_driver_sql(f"SELECT {', '.join(PARTICIPATION_COLUMNS)} FROM participation")
    ]
    areas = [a.model_dump() for a in session.scalars(select(PriorityArea).order_by(PriorityArea.key))]
    programmes = [p.model_dump() for p in session.scalars(select(Programme).order_by(Programme.key))]
    return CatalogueRows(institutions, projects, participations, areas, programmes)


def catalogue_fingerprint(session: Session, *, model_id: str, institutions_digest: str | None = None) -> str:
    """A digest of everything :func:`load_index` builds an index from: the columns :func:`read_catalogue`
    reads from every row, the embedding model's identity (cached vectors are a function of model and
    text) and the code that builds the index. Any change to any of them changes the digest.

    ``institutions_digest`` is the institution columns' digest when the caller computed it already (one
    scan of the table serves the search index's fingerprint too).
    """
    if institutions_digest is None:
        (institutions_digest,) = table_digests(session, "institution", [INSTITUTION_COLUMNS], order_by=["id"])
    (projects_digest,) = table_digests(session, "project", [PROJECT_COLUMNS], order_by=["id"])
    (participations_digest,) = table_digests(session, "participation", [PARTICIPATION_COLUMNS],
                                             order_by=PARTICIPATION_KEY)
    reference = [
        table_digests(session, str(table.__tablename__),
                      [[c.name for c in table_of(table).columns]],
                      order_by=["key"])[0]
        for table in (PriorityArea, Programme)
    ]
    code = code_digest(sys.modules[__name__], matcher.texts, embeddings.cache, packages=("numpy", "scipy"))
    return combine("catalogue-index", code, model_id, institutions_digest, projects_digest, participations_digest,
                   *reference)


def texts_and_vectors(*, session: Session, embedder: Embedder, show_progress: bool | None = None
                      ) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Hashes and vectors of every text the catalogue ships vectors for (project and area texts), from the
    cache, embedding what it lacks: the contents of a vector file."""
    rows = read_catalogue(session)
    texts = [t for p in rows.projects if (t := project_text(p))] + [area_text(a) for a in rows.areas]
    result = embed_with_cache(embedder, texts, session=session, show_progress=show_progress)
    unique = {text_hash(t): k for k, t in enumerate(texts)}  # equal texts share one row
    return list(unique), result.vectors[list(unique.values())]


def embed_projects(rows: CatalogueRows, *, session: Session, embedder: Embedder, stats: EmbeddingStats,
                   show_progress: bool | None = None) -> dict[str, npt.NDArray[np.float32]]:
    """Vectors of every project with text, from the cache (embedding and caching what it lacks)."""
    with_text = [(p["id"], t) for p in rows.projects if (t := project_text(p))]
    result = embed_with_cache(embedder, [t for _, t in with_text], session=session, show_progress=show_progress)
    stats.hits += result.n_hits
    stats.misses += result.n_misses
    return {pid: result.vectors[k] for k, (pid, _) in enumerate(with_text)}


def index_from_rows(rows: CatalogueRows, *, session: Session, embedder: Embedder,
                    project_vectors: Mapping[str, npt.NDArray[np.float32]], stats: EmbeddingStats,
                    as_of: dt.date | None = None) -> CatalogueIndex:
    """Embed owner profiles and areas (cached) and build the index as of ``as_of``."""
    owners = [(r["id"], r["profile_owner"]) for r in rows.institutions if r.get("profile_owner")]
    owner_result = embed_with_cache(embedder, [t for _, t in owners], session=session)
    area_result = embed_with_cache(embedder, [area_text(a) for a in rows.areas], session=session)
    for result in (owner_result, area_result):
        stats.hits += result.n_hits
        stats.misses += result.n_misses
    return build_index(
        institutions=rows.institutions,
        projects=rows.projects,
        participations=rows.participations,
        project_vectors=project_vectors,
        owner_vectors={iid: owner_result.vectors[k] for k, (iid, _) in enumerate(owners)},
        areas=rows.areas,
        area_vectors=area_result.vectors,
        programmes=rows.programmes,
        as_of=as_of,
    )


def load_index(
    *,
    session: Session,
    embedder: Embedder,
    as_of: dt.date | None = None,
    show_progress: bool | None = None,
    stats: EmbeddingStats | None = None,
) -> CatalogueIndex:
    """Read the catalogue from the database, embed texts the cache lacks (and cache them), build the index.

    New vectors are added to ``session``; the caller commits so the next start finds them cached.
    """
    stats = stats if stats is not None else EmbeddingStats()
    rows = read_catalogue(session)
    vectors = embed_projects(rows, session=session, embedder=embedder, stats=stats, show_progress=show_progress)
    index = index_from_rows(rows, session=session, embedder=embedder, project_vectors=vectors, stats=stats,
                            as_of=as_of)
    logger.info("embeddings: %d cached, %d embedded", stats.hits, stats.misses)
    return index


def calibrate_thematic(cosines: FloatArray, quantiles: FloatArray) -> FloatArray:
    """Map raw cosines to [0, 1] by the catalogue's distribution: 0.9 = more similar than 90% of random
    institution pairs."""
    return np.interp(cosines, quantiles, np.linspace(0.0, 1.0, len(quantiles)))
