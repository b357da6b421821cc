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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sqlalchemy import bindparam, select, text
from sqlmodel import Session

import embeddings.cache
import matcher.evidence
import matcher.signals
import matcher.texts
from embeddings.base import Embedder
from embeddings.cache import embed_with_cache, text_hash
from matcher.evidence import (
    AREA_EVIDENCE_QUANTILE,
    AREA_TOP_ITEMS,
    COPARTICIPATION,
    EVIDENCE_WEIGHTS_FILE,
    EvidenceWeights,
    area_strength_of,
    item_weights,
    load_evidence_weights,
    percentile_among,
    pooled_vectors,
    raw_area_strength,
    recency,
)
from matcher.signals import (
    TopKRowMeans,
    decayed_coparticipation,
    decayed_ties,
    regional_partnership_weights,
    regional_project_weights,
)
from matcher.texts import area_text, project_text
from seed_data.fingerprint import code_digest, combine, table_digests
from seed_data.reference import COUNTRY_GROUPS_FILE, GROUP_PREFIX, expand_countries, load_country_groups
from seed_data.tables import EvidenceType, PartnershipType, PriorityArea, Programme, table_of

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

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
    funding_scheme: str | None = None  # CORDIS code (Horizon Europe), e.g. HORIZON-RIA


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
    # (n_projects + n_items, dim): CORDIS projects (zero rows for those without text), then the other items
    evidence_vectors: npt.NDArray[np.float32]
    evidence_weights: FloatArray  # (n_projects + n_items,) type x recency weight; 0 for projects without text
    items: list[ItemInfo]  # evidence items other than CORDIS projects, aligned with evidence rows n_projects..
    items_of: sp.csr_matrix  # (n, n_items) the item's weight in its institution's row
    membership: sp.csr_matrix  # (n_nodes, n_projects) 1 where the node took part
    coordinated: sp.csr_matrix  # (n_nodes, n_projects) 1 where it coordinated
    coparticipation: sp.csr_matrix  # (n_nodes, n_nodes) the co-participation weight, zero diagonal
    tie_graph: sp.csr_matrix  # (n_nodes, n_nodes) known partnerships, weighted by type
    ties: list[TieInfo]  # the known partnerships between catalogue institutions behind tie_graph
    graph: sp.csr_matrix  # (n_nodes, n_nodes) the larger of co-participation and tie weights
    adamic_adar_weights: FloatArray  # (n_nodes,) 1/log(degree) for degree >= 2, else 0
    node_names: list[str]  # (n_nodes,) institution names, then "PIC <number>"
    area_keys: list[str]
    area_names: list[str]
    area_vectors: npt.NDArray[np.float32]  # (n_areas, dim)
    raw_strength: FloatArray  # (n, n_areas) mean of the best weighted item similarities
    area_strength: FloatArray  # (n, n_areas) percentile in [0, 1] among institutions with evidence
    track_record: FloatArray  # (n,) percentile in [0, 1] among institutions with projects
    bri_record: FloatArray  # (n,) percentile of known partnerships with other Belt-and-Road countries
    erasmus_record: FloatArray  # (n,) percentile of known Erasmus+ partnerships (CBHE, mobility) abroad
    node_countries: npt.NDArray[np.str_]  # (n_nodes,) institutions' countries, then the unnamed PICs' ("" unknown)
    project_decay: FloatArray  # (n_projects,) recency factor of each project (half-life TRACK_RECORD_HALF_LIFE)
    joint_recency: sp.csr_matrix  # (n_nodes, n_nodes) recency-weighted projects two nodes shared
    tie_recency: sp.csr_matrix  # (n_nodes, n_nodes) known partnerships, tie weight x recency
    regional_projects: sp.csr_matrix  # (n_nodes, n_projects) how much each participation shows regional experience
    regional_ties: FloatArray  # (n,) known partnerships with Central Asian and other third-country institutions
    regional_record: FloatArray  # (n,) percentile of regional experience (projects and partnerships)
    thematic_quantiles: FloatArray  # cosine quantiles of random institution pairs, for calibration
    programmes: dict[str, dict[str, Any]]
    country_groups: dict[str, frozenset[str]]  # region key -> its countries (seed_data/reference)
    weights: EvidenceWeights
    reference_year: int  # the year item ages are counted from
    as_of: dt.date | None = None
    stats: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._project_has_text = self.evidence_weights[: len(self.projects)] > 0
        self.text_projects = np.flatnonzero(self._project_has_text).astype(np.intp)  # columns of projects with text
        self.owners = evidence_owners(self.membership[: self.n], self.evidence_weights[: len(self.projects)],
                                      self.items_of)
        # a focused request's per-institution mean of its best item cosines (components.Thematic)
        self.owner_top_items = TopKRowMeans.from_owners(self.owners, AREA_TOP_ITEMS)
        # area by area, contiguous: a request reads one or two areas' column over every candidate
        self.area_strength_by_area = np.ascontiguousarray(self.area_strength.T)
        self.membership_csc = self.membership.tocsc()  # column slices: the participants of given projects
        # each project's start as a day number (undated ones first in time): explanations list the latest first
        self.project_start_days = np.array([(p.start_date or dt.date.min).toordinal() for p in self.projects],
                                           dtype=np.int64)
        self._ties_by_pair: dict[tuple[int, int], list[TieInfo]] = {}
        for tie in self.ties:
            for pair in (tie.rows, tie.rows[::-1]):
                self._ties_by_pair.setdefault(pair, []).append(tie)
        self._evidence_rows = np.flatnonzero(self.has_evidence)
        self._evidence_vectors = np.ascontiguousarray(self.vectors[self._evidence_rows])
        # most CORDIS projects have no text (zero rows): a request multiplies only the projects with text and the
        # other items (each has a vector)
        self._text_items = np.concatenate([self.text_projects, np.arange(len(self.projects),
                                                                         len(self.evidence_vectors), dtype=np.intp)])
        self._text_item_vectors = np.ascontiguousarray(self.evidence_vectors[self._text_items])
        # (n_areas,) the cosine an item needs with an area's description to be evidence in it (ranking.focus_vector)
        self.area_item_floor = (
            np.quantile(self._text_item_vectors @ self.area_vectors.T, AREA_EVIDENCE_QUANTILE, axis=0)
            if len(self._text_items) else np.full(len(self.area_keys), np.inf))
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

    def item_cosines(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(n_projects + n_items,) cosine of every evidence item's vector with ``vector``; 0 for projects without
        text (only the items with a vector are multiplied, about two fifths of the rows)."""
        out = np.zeros(len(self.evidence_vectors), dtype=np.float32)
        out[self._text_items] = self._text_item_vectors @ vector
        return out

    @property
    def n(self) -> int:
        return len(self.institutions)

    @staticmethod
    def row_members(matrix: sp.csr_matrix, row: int) -> npt.NDArray[np.int32]:
        """Column indices of one CSR row, without scipy's slicing machinery (it costs ~50 µs a call)."""
        return matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]

    @property
    def project_vectors(self) -> npt.NDArray[np.float32]:
        """(n_projects, dim) the CORDIS projects' vectors (zero rows without text)."""
        return self.evidence_vectors[: len(self.projects)]

    @property
    def item_vectors(self) -> npt.NDArray[np.float32]:
        """(n_items, dim) the other evidence items' vectors."""
        return self.evidence_vectors[len(self.projects):]

    def ties_between(self, a: int, b: int) -> list[TieInfo]:
        """Known partnerships between rows ``a`` and ``b``."""
        return self._ties_by_pair.get((a, b), [])

    def evidence_of(self, row: int) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """Evidence rows (into ``evidence_vectors``) of institution ``row`` and their weights: its CORDIS
        projects with text, then its other items."""
        projects = self.row_members(self.membership, row)
        projects = projects[self._project_has_text[projects]]
        items = self.row_members(self.items_of, row) + len(self.projects)
        rows = np.concatenate([projects, items]).astype(np.intp)
        return rows, self.evidence_weights[rows]

    @property
    def project_has_text(self) -> npt.NDArray[np.bool_]:
        """(n_projects,) whether a project has a text vector."""
        return self._project_has_text

    @property
    def evidence_rows(self) -> npt.NDArray[np.intp]:
        """Rows of institutions with research evidence (the only ones with a non-zero vector)."""
        return self._evidence_rows


def rank_percentile(values: FloatArray, mask: npt.NDArray[np.bool_]) -> FloatArray:
    """Rank-percentile of ``values`` among rows where ``mask`` holds (ties averaged), 0 elsewhere, column by
    column for a matrix.

    The best row gets 1.0; 0.9 means "better than 90% of the institutions with evidence". Index-build time
    only; a request's percentile is :func:`grid_percentile`.
    """
    out = np.zeros(values.shape, dtype=np.float64)
    n_ranked = int(mask.sum())
    if n_ranked == 0:
        return out
    from scipy.stats import rankdata  # here: scipy.stats costs start-up time, and a loaded index never ranks

    out[mask] = rankdata(values[mask], method="average", axis=0) / n_ranked
    return out


# grid_percentile counts values closer than this (2**-15, in cosine) as ties.
PERCENTILE_GRID_STEPS_PER_UNIT = 32768


def grid_percentile(values: FloatArray, ranked: npt.NDArray[np.intp], *, low: float = -1.0, high: float = 1.0,
                    steps_per_unit: int = PERCENTILE_GRID_STEPS_PER_UNIT) -> FloatArray:
    """:func:`rank_percentile` of ``values`` in [``low``, ``high``] among the rows ``ranked`` (0 elsewhere),
    with values in the same cell of a grid of ``steps_per_unit`` cells per unit counted as ties: one count per
    cell and their running sum instead of a sort, linear in the rows (a focused request ranks every
    institution with evidence). It differs from the exact percentile only where distinct values share a
    cell, by at most half that cell's share of the rows."""
    out = np.zeros(values.shape, dtype=np.float64)
    if not len(ranked):
        return out
    n_cells = int(np.ceil((high - low) * steps_per_unit)) + 1
    cells = np.clip(np.rint((values[ranked] - low) * steps_per_unit), 0, n_cells - 1).astype(np.intp)
    counts = np.bincount(cells, minlength=n_cells)
    below = np.cumsum(counts) - counts
    out[ranked] = (below[cells] + (counts[cells] + 1) / 2) / len(ranked)  # ties: the average of their ranks
    return out


@dataclass(frozen=True)
class ItemInfo:
    """Display data of one evidence item other than a CORDIS project (owner profiles included)."""

    id: str
    type: str
    title: str
    year: int | None
    source: str
    row: int  # the institution's row


@dataclass(frozen=True)
class TieInfo:
    """A known partnership between two catalogue institutions (rows), as a network edge."""

    id: str
    rows: tuple[int, int]
    type: str
    year: int | None
    source: str
    description: str | None


OWNER_PROFILE_TITLE = "Profile text supplied by the institution"
# Country groups (seed_data/reference/country_groups.json) the regional experience reads.
CENTRAL_ASIA, EU27, HE_ASSOCIATED = "CENTRAL_ASIA", "EU27", "HE_ASSOCIATED"
BRI_FAMILY = "bri"  # the programme family of the Belt-and-Road track
ERASMUS_FAMILY = "erasmus"  # the programme family of Erasmus+
# Known partnership types that are Erasmus+ experience (with a partner in another country).
ERASMUS_PARTNERSHIP_TYPES = frozenset({PartnershipType.erasmus_cbhe.value, PartnershipType.erasmus_mobility.value})


def owner_profile_item(institution: Mapping[str, Any]) -> dict[str, Any] | None:
    """The owner profile of an institution row as an evidence item (``None`` without one)."""
    text = institution.get("profile_owner")
    if not text:
        return None
    updated = institution.get("profile_owner_updated")
    year = updated.year if isinstance(updated, dt.datetime | dt.date) else (
        int(updated[:4]) if isinstance(updated, str) and updated[:4].isdigit() else None)
    return {"id": f"owner:{institution['id']}", "institution_id": institution["id"], "type": "owner_profile",
            "title": OWNER_PROFILE_TITLE, "text": text, "year": year, "source": "owner profile"}


def _evidence_items(items: Sequence[Mapping[str, Any]], institutions: Sequence[Mapping[str, Any]], *,
                    item_vectors: Mapping[str, npt.NDArray[np.float32]],
                    owner_vectors: Mapping[str, npt.NDArray[np.float32]], row_of: Mapping[str, int], dim: int,
                    keep: Callable[[ItemInfo], bool]) -> tuple[list[ItemInfo], npt.NDArray[np.float32]]:
    """The evidence items other than CORDIS projects (the ``items`` rows, and the owner profiles of
    ``institutions`` that have an owner vector) with a vector and a catalogue row that ``keep`` accepts, by id,
    and their (n_items, dim) vectors."""
    rows = [*items, *(o for r in institutions if r["id"] in owner_vectors and (o := owner_profile_item(r)))]
    infos: list[ItemInfo] = []
    vectors: list[npt.NDArray[np.float32]] = []
    for item in sorted(rows, key=lambda i: i["id"]):
        row = row_of.get(item["institution_id"])
        vec = owner_vectors.get(item["institution_id"]) if item["type"] == "owner_profile" else (
            item_vectors.get(item["id"]))
        if row is None or vec is None:
            continue
        info = ItemInfo(item["id"], item["type"], item["title"], item.get("year"), item["source"], row)
        if keep(info):
            infos.append(info)
            vectors.append(vec)
    return infos, np.array(vectors, dtype=np.float32).reshape(len(vectors), dim)


def _info_weights(infos: Sequence[ItemInfo], *, reference_year: int, weights: EvidenceWeights) -> FloatArray:
    """(n,) the weight of each item: type times recency."""
    return item_weights(np.array([i.type for i in infos], dtype=str),
                        np.array([np.nan if i.year is None else i.year for i in infos], dtype=float),
                        reference_year=reference_year, weights=weights)


def evidence_owners(membership: sp.csr_matrix, project_weights: FloatArray, items_of: sp.csr_matrix
                    ) -> sp.csr_matrix:
    """(n, n_projects + n_items): each evidence row's weight in its institution's row (its CORDIS projects,
    then its other items), the matrix pooled vectors, area strengths and the focused thematic read."""
    owners = sp.hstack([sp.csr_matrix(membership @ sp.diags(project_weights)), items_of], format="csr")
    owners.eliminate_zeros()
    return owners


def _kept(year: int | None, as_of: dt.date | None) -> bool:
    """Whether an item or tie dated ``year`` is known as of ``as_of``: undated ones are left out of a cut
    (nothing shows they were known then)."""
    return as_of is None or (year is not None and year < as_of.year)


def _tie_graph(partnerships: Sequence[Mapping[str, Any]], row_of: Mapping[str, int], n_nodes: int,
               weights: EvidenceWeights, as_of: dt.date | None) -> tuple[sp.csr_matrix, list[TieInfo]]:
    """(n_nodes, n_nodes) symmetric graph of known partnerships between catalogue institutions, each edge the
    largest weight of its types; partners that resolved to no institution make no edge."""
    ties: list[TieInfo] = []
    strongest: dict[tuple[int, int], float] = {}  # the strongest type counts, not the number of agreements
    for p in sorted(partnerships, key=lambda p: p["id"]):
        a, b = row_of.get(p["institution_id"]), row_of.get(p.get("partner_id") or "")
        if a is None or b is None or a == b or not _kept(p.get("year"), as_of):
            continue
        ties.append(TieInfo(p["id"], (a, b), p["type"], p.get("year"), p["source"], p.get("description")))
        for edge in ((a, b), (b, a)):
            strongest[edge] = max(strongest.get(edge, 0.0), weights.ties[p["type"]])
    graph = sp.csr_matrix((list(strongest.values()), ([e[0] for e in strongest], [e[1] for e in strongest])),
                          shape=(n_nodes, n_nodes))
    return graph, ties


def _country_groups() -> dict[str, frozenset[str]]:
    """The country groups a request may name as regions (seed_data/reference/country_groups.json)."""
    spec = load_country_groups()
    return {key: expand_countries([f"{GROUP_PREFIX}{key}"], spec) for key in spec}


def bri_countries(programmes: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """The countries of the Belt-and-Road track: every partner and requester country of the programmes of the
    ``bri`` family."""
    return frozenset(c for p in programmes if p.get("family") == BRI_FAMILY
                     for c in [*p.get("requester_countries", ()), *(x for cs in p["partner_countries"].values()
                                                                    for x in cs)])


def cooperation_record(partnerships: Sequence[Mapping[str, Any]], *, row_of: Mapping[str, int],
                       countries: npt.NDArray[np.str_], allowed: frozenset[str] | None, weights: EvidenceWeights,
                       reference_year: int, as_of: dt.date | None,
                       types: frozenset[str] | None = None) -> FloatArray:
    """(n,) percentile, among institutions with any, of the known partnerships (of ``types``; None: all) with
    institutions of another country among ``allowed`` (None: any other country): each weighs its type's tie
    weight times its recency. Both sides count one; a partner that resolved to no institution counts for the
    side that recorded it, by the partner's country."""
    kept = [p for p in partnerships if p["institution_id"] in row_of and _kept(p.get("year"), as_of)
            and (types is None or p["type"] in types)]
    years = np.array([np.nan if p.get("year") is None else p["year"] for p in kept], dtype=float)
    tie_weights = np.array([weights.ties[p["type"]] for p in kept], dtype=float) * recency(
        years, reference_year=reference_year, recency=weights.recency)
    record = np.zeros(len(countries), dtype=np.float64)
    for p, weight in zip(kept, tie_weights, strict=True):
        a, b = row_of[p["institution_id"]], row_of.get(p.get("partner_id") or "")
        other = str(countries[b]) if b is not None else (p.get("partner_country") or "")
        if other and (allowed is None or other in allowed) and other != countries[a]:
            record[a] += weight
        if b is not None and b != a and (allowed is None or countries[a] in allowed) and countries[a] != countries[b]:
            record[b] += weight
    return rank_percentile(record, record > 0)


def regional_percentile(regional_projects: sp.csr_matrix, coordinated: sp.csr_matrix, project_decay: FloatArray,
                        regional_ties: FloatArray) -> FloatArray:
    """(n,) percentile, among institutions with any, of regional experience: each past project with a Central
    Asian or other third-country partner (its regional weight x recency, coordinations counting
    ``COORDINATOR_WEIGHT``) plus the known partnerships with such institutions."""
    n = len(regional_ties)
    per_project = regional_projects[:n] @ sp.diags(project_decay)
    coordinated_share = per_project.multiply(coordinated[:n]) * (COORDINATOR_WEIGHT - 1.0)
    raw = np.asarray(per_project.sum(axis=1)).ravel() + np.asarray(coordinated_share.sum(axis=1)).ravel()
    raw = raw + regional_ties
    return rank_percentile(raw, raw > 0)


def programme_records(partnerships: Sequence[Mapping[str, Any]], *, row_of: Mapping[str, int],
                      countries: npt.NDArray[np.str_], programmes: Sequence[Mapping[str, Any]],
                      weights: EvidenceWeights, reference_year: int, as_of: dt.date | None
                      ) -> tuple[FloatArray, FloatArray]:
    """The track records that known partnerships make: the Belt-and-Road record (any partnership with an
    institution of another Belt-and-Road country) and the Erasmus+ record (CBHE and mobility partnerships with
    an institution abroad), each a :func:`cooperation_record`."""
    record = partial(cooperation_record, partnerships, row_of=row_of, countries=countries, weights=weights,
                     reference_year=reference_year, as_of=as_of)
    return record(allowed=bri_countries(programmes)), record(allowed=None, types=ERASMUS_PARTNERSHIP_TYPES)


def _network(coparticipation: sp.csr_matrix, ties: sp.csr_matrix) -> tuple[sp.csr_matrix, FloatArray]:
    """The network scored: co-participation and known partnerships, the larger weight per pair, and the
    Adamic–Adar weight of every node (1/log(degree) for degree >= 2, else 0)."""
    graph = coparticipation.maximum(ties).tocsr() if ties.nnz else coparticipation
    degree = np.diff(graph.indptr)
    return graph, np.where(degree >= 2, 1.0 / np.log(np.maximum(degree, 2)), 0.0)


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
    items: Sequence[Mapping[str, Any]] = (),
    item_vectors: Mapping[str, npt.NDArray[np.float32]] | None = None,
    partnerships: Sequence[Mapping[str, Any]] = (),
    weights: EvidenceWeights | None = None,
    as_of: dt.date | None = None,
    random_state: int = 0,
) -> CatalogueIndex:
    """Build the scoring arrays from plain rows.

    Rows dated on or after ``as_of`` (projects by start date, and their participations; items and
    partnerships by year, undated ones too) are left out, so nothing from the future reaches vectors,
    strengths, track records or the graph. ``project_vectors`` maps project id to its text's vector,
    ``item_vectors`` evidence item id to its text's vector, ``owner_vectors`` institution id to its owner
    profile's vector (an ``owner_profile`` item). ``weights``: how each type and its recency count
    (default: the shipped ``matcher/data/evidence_weights.json``).
    """
    weights = weights or load_evidence_weights()
    item_vectors = item_vectors or {}
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
                    p["programme"], p.get("funding_scheme"))
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
    node_countries = [info.country for info in infos]
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
                node_countries.append(part.get("country") or "")
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
    coparticipation = (membership @ membership.T).tocsr()
    coparticipation.setdiag(0)
    coparticipation.eliminate_zeros()
    coparticipation.data[:] = weights.ties[COPARTICIPATION]
    tie_graph, ties = _tie_graph(partnerships, row_of, n_nodes, weights, as_of)
    graph, aa_weights = _network(coparticipation, tie_graph)

    # evidence items other than CORDIS projects (owner profiles included), as of the index date
    item_infos, item_matrix = _evidence_items(items, institutions, item_vectors=item_vectors,
                                              owner_vectors=owner_vectors, row_of=row_of, dim=dim,
                                              keep=lambda info: _kept(info.year, as_of))

    # weights: type times recency, against the latest year the evidence knows (or the cut)
    known_years = [p.start_date.year for p in project_infos if p.start_date] + [
        i.year for i in item_infos if i.year is not None]
    reference_year = as_of.year if as_of else max(known_years, default=dt.date.today().year)
    project_years = np.array([p.start_date.year if p.start_date else np.nan for p in project_infos], dtype=float)
    project_weights = item_weights(np.full(len(project_infos), EvidenceType.eu_project.value), project_years,
                                   reference_year=reference_year, weights=weights) * has_text
    iweights = _info_weights(item_infos, reference_year=reference_year, weights=weights)
    items_of = sp.csr_matrix((iweights, ([i.row for i in item_infos], np.arange(len(item_infos)))),
                             shape=(n, len(item_infos)))
    owners = evidence_owners(membership[:n], project_weights, items_of)
    evidence_vectors = np.vstack([pvecs, item_matrix])
    vectors = pooled_vectors(owners, evidence_vectors)
    has_evidence = np.diff(owners.indptr) > 0

    # area strength: the best few weighted item similarities, then percentile
    area_keys = [a["key"] for a in areas]
    raw_strength = raw_area_strength(owners, evidence_vectors, area_vectors)
    area_strength = rank_percentile(raw_strength, has_evidence)

    # track record: recency-weighted project count, coordinator roles weighted up, then percentile
    years = np.array([p.start_date.year if p.start_date else reference_year for p in project_infos], dtype=float)
    decay = 0.5 ** (np.maximum(reference_year - years, 0) / TRACK_RECORD_HALF_LIFE_YEARS)
    weighted = membership[:n] @ decay + (COORDINATOR_WEIGHT - 1.0) * (coordinated[:n] @ decay)
    track_record = rank_percentile(np.asarray(weighted, dtype=np.float64), np.asarray(weighted) > 0)
    countries = np.array([i.country for i in infos])
    node_country_array = np.array(node_countries)
    groups = _country_groups()
    joint_recency = decayed_coparticipation(membership, decay)
    tie_recency = decayed_ties(ties, n_nodes, weights=weights, reference_year=reference_year)
    regional_projects = regional_project_weights(membership, node_country_array,
                                                 central_asia=groups[CENTRAL_ASIA],
                                                 associated=groups[EU27] | groups[HE_ASSOCIATED])
    regional_ties = regional_partnership_weights(
        partnerships, row_of=row_of, countries=countries, central_asia=groups[CENTRAL_ASIA],
        associated=groups[EU27] | groups[HE_ASSOCIATED], weights=weights, reference_year=reference_year,
        keep=lambda year: _kept(year, as_of))
    regional_record = regional_percentile(regional_projects, coordinated, decay, regional_ties)
    bri_record, erasmus_record = programme_records(partnerships, row_of=row_of, countries=countries,
                                                   programmes=programmes, weights=weights,
                                                   reference_year=reference_year, as_of=as_of)

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
        countries=countries,
        kinds=np.array([i.kind for i in infos]),
        has_evidence=has_evidence,
        has_charter=np.array([bool(i.erasmus_code) for i in infos]),
        vectors=vectors,
        projects=project_infos,
        evidence_vectors=evidence_vectors,
        evidence_weights=np.concatenate([project_weights, iweights]),
        items=item_infos,
        items_of=items_of,
        membership=membership,
        coordinated=coordinated,
        coparticipation=coparticipation,
        tie_graph=tie_graph,
        ties=ties,
        graph=graph,
        adamic_adar_weights=aa_weights,
        node_names=node_names,
        area_keys=area_keys,
        area_names=[a["name"] for a in areas],
        area_vectors=area_vectors,
        raw_strength=raw_strength,
        area_strength=area_strength,
        track_record=track_record,
        bri_record=bri_record,
        erasmus_record=erasmus_record,
        node_countries=node_country_array,
        project_decay=decay,
        joint_recency=joint_recency,
        tie_recency=tie_recency,
        regional_projects=regional_projects,
        regional_ties=regional_ties,
        regional_record=regional_record,
        thematic_quantiles=quantiles,
        programmes={p["key"]: dict(p) for p in programmes},
        country_groups=groups,
        weights=weights,
        reference_year=reference_year,
        as_of=as_of,
        stats={"institutions": n, "with_evidence": int(has_evidence.sum()), "projects": len(kept_projects),
               "projects_with_text": int(has_text.sum()), "evidence_items": len(item_infos),
               "known_ties": len(ties), "graph_nodes": n_nodes, "graph_edges": int(graph.nnz // 2)},
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
    items: list[dict[str, Any]] = field(default_factory=list)  # evidence_item rows
    partnerships: list[dict[str, Any]] = field(default_factory=list)


def _json(value: Any) -> Any:
    # plain SQL returns JSON columns as text on SQLite and already parsed on PostgreSQL
    return json.loads(value) if isinstance(value, str) else value


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value


# The columns the matcher reads, shared by read_catalogue and catalogue_fingerprint so the fingerprint
# covers exactly what an index is built from.
INSTITUTION_COLUMNS = ("id", "name", "country", "kind", "city", "pic", "ror_id", "erasmus_code", "website",
                       "native_name", "profile_owner", "profile_owner_updated")
ITEM_COLUMNS = ("id", "institution_id", "type", "title", "text", "year", "source")
PARTNERSHIP_COLUMNS = ("id", "institution_id", "partner_id", "partner_country", "type", "year", "source",
                       "description")
PROJECT_COLUMNS = ("id", "programme", "acronym", "title", "objective", "keywords", "euroscivoc", "start_date",
                   "funding_scheme")
PARTICIPATION_COLUMNS = ("project_id", "pic", "role", "institution_id", "country")
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
         "keywords": _json(r[5]) or [], "euroscivoc": _json(r[6]) or [], "start_date": _date(r[7]),
         "funding_scheme": r[8]}
        for r in connection.exec_driver_sql(f"SELECT {', '.join(PROJECT_COLUMNS)} FROM project ORDER BY id")
    ]
    participations = [
        dict(zip(PARTICIPATION_COLUMNS, r, strict=True))
        for r in connection.exec_driver_sql(f"SELECT {', '.join(PARTICIPATION_COLUMNS)} FROM participation")
    ]
    items = [
        dict(zip(ITEM_COLUMNS, r, strict=True))
        for r in connection.exec_driver_sql(f"SELECT {', '.join(ITEM_COLUMNS)} FROM evidence_item ORDER BY id")
    ]
    partnerships = [
        dict(zip(PARTNERSHIP_COLUMNS, r, strict=True))
        for r in connection.exec_driver_sql(f"SELECT {', '.join(PARTNERSHIP_COLUMNS)} FROM partnership ORDER BY id")
    ]
    areas = [a.model_dump() for a in session.scalars(select(PriorityArea).order_by(PriorityArea.key))]
    programmes = [p.model_dump() for p in session.scalars(select(Programme).order_by(Programme.key))]
    return CatalogueRows(institutions, projects, participations, areas, programmes, items, partnerships)


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
    (items_digest,) = table_digests(session, "evidence_item", [ITEM_COLUMNS], order_by=["id"])
    (partnerships_digest,) = table_digests(session, "partnership", [PARTNERSHIP_COLUMNS], order_by=["id"])
    reference = [
        table_digests(session, str(table.__tablename__),
                      [[c.name for c in table_of(table).columns]],
                      order_by=["key"])[0]
        for table in (PriorityArea, Programme)
    ]
    code = code_digest(sys.modules[__name__], matcher.texts, matcher.evidence, matcher.signals, embeddings.cache,
                       packages=("numpy", "scipy"))
    return combine("catalogue-index", code, model_id, institutions_digest, projects_digest, participations_digest,
                   items_digest, partnerships_digest, EVIDENCE_WEIGHTS_FILE.read_text(encoding="utf-8"),
                   COUNTRY_GROUPS_FILE.read_text(encoding="utf-8"), *reference)


def texts_and_vectors(*, session: Session, embedder: Embedder, show_progress: bool | None = None
                      ) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Hashes and vectors of every text the catalogue ships vectors for (project, evidence item and area
    texts), from the cache, embedding what it lacks: the contents of a vector file. Imported items are left
    out: they are the database's, not the shipped catalogue's."""
    rows = read_catalogue(session)
    shipped_items = {r[0] for r in session.connection().exec_driver_sql(
        "SELECT id FROM evidence_item WHERE origin = 'catalogue'")}
    texts = [t for p in rows.projects if (t := project_text(p))] + [
        i["text"] for i in rows.items if i["id"] in shipped_items] + [area_text(a) for a in rows.areas]
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
    """Embed owner profiles, evidence items and areas (cached) and build the index as of ``as_of``."""
    owners = [(r["id"], r["profile_owner"]) for r in rows.institutions if r.get("profile_owner")]
    owner_result = embed_with_cache(embedder, [t for _, t in owners], session=session)
    item_result = embed_with_cache(embedder, [i["text"] for i in rows.items], session=session)
    area_result = embed_with_cache(embedder, [area_text(a) for a in rows.areas], session=session)
    for result in (owner_result, item_result, area_result):
        stats.hits += result.n_hits
        stats.misses += result.n_misses
    return build_index(
        institutions=rows.institutions,
        projects=rows.projects,
        participations=rows.participations,
        project_vectors=project_vectors,
        owner_vectors={iid: owner_result.vectors[k] for k, (iid, _) in enumerate(owners)},
        items=rows.items,
        item_vectors={i["id"]: item_result.vectors[k] for k, i in enumerate(rows.items)},
        partnerships=rows.partnerships,
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


def refresh_institutions(
    index: CatalogueIndex,
    institution_ids: Sequence[str],
    *,
    institutions: Sequence[Mapping[str, Any]],
    items: Sequence[Mapping[str, Any]],
    item_vectors: Mapping[str, npt.NDArray[np.float32]],
    owner_vectors: Mapping[str, npt.NDArray[np.float32]],
    partnerships: Sequence[Mapping[str, Any]],
) -> CatalogueIndex:
    """A copy of ``index`` in which only the evidence of ``institution_ids`` is new: their items (``items``,
    every current item of those institutions, with ``item_vectors`` by item id; ``institutions``: their rows,
    for the owner profile, with ``owner_vectors``), hence their vectors, evidence flags and area strengths;
    and the known-partnership edges (``partnerships``: every current row, a few hundred).

    Nothing else is recomputed: another institution's percentile would move by at most 1/n with a full
    rebuild (the next start makes one); track records and the thematic calibration are unchanged. For the
    served index only (``as_of`` None). Raises KeyError for an id the index does not hold.
    """
    if index.as_of is not None:
        raise ValueError("only the served index (as_of None) is refreshed in place; rebuild a cut index")
    changed = {index.row_of[i] for i in institution_ids}  # KeyError: not in this index
    kept = [k for k, item in enumerate(index.items) if item.row not in changed]
    n_projects = len(index.projects)
    new_infos, new_matrix = _evidence_items(items, institutions, item_vectors=item_vectors,
                                            owner_vectors=owner_vectors, row_of=index.row_of,
                                            dim=index.evidence_vectors.shape[1], keep=lambda info: info.row in changed)
    item_infos = [index.items[k] for k in kept] + new_infos
    new_weights = _info_weights(new_infos, reference_year=index.reference_year, weights=index.weights)
    iweights = np.concatenate([index.evidence_weights[n_projects + np.asarray(kept, dtype=np.intp)], new_weights])
    evidence_vectors = np.vstack([index.project_vectors, index.item_vectors[kept], new_matrix])
    evidence_weights = np.concatenate([index.evidence_weights[:n_projects], iweights])
    items_of = sp.csr_matrix((iweights, ([i.row for i in item_infos], np.arange(len(item_infos)))),
                             shape=(index.n, len(item_infos)))

    vectors, has_evidence = index.vectors.copy(), index.has_evidence.copy()
    raw_strength, area_strength = index.raw_strength.copy(), index.area_strength.copy()
    others = has_evidence.copy()
    others[list(changed)] = False
    others_sorted = np.sort(raw_strength[others], axis=0)
    for row in changed:
        projects = index.row_members(index.membership, row)
        evidence = np.concatenate([projects[index.project_has_text[projects]],
                                   index.row_members(items_of, row) + n_projects]).astype(np.intp)
        has_evidence[row] = len(evidence) > 0
        if not len(evidence):
            vectors[row], raw_strength[row], area_strength[row] = 0.0, 0.0, 0.0
            continue
        weights = evidence_weights[evidence]
        owner = sp.csr_matrix((weights, (np.zeros(len(evidence), dtype=np.intp), np.arange(len(evidence)))),
                              shape=(1, len(evidence)))
        vectors[row] = pooled_vectors(owner, evidence_vectors[evidence])[0]
        raw_strength[row] = area_strength_of(evidence_vectors[evidence], weights, index.area_vectors)[0]
        area_strength[row] = percentile_among(raw_strength[row], others_sorted)

    tie_graph, ties = _tie_graph(partnerships, index.row_of, index.graph.shape[0], index.weights, None)
    graph, aa_weights = _network(index.coparticipation, tie_graph)
    bri_record, erasmus_record = programme_records(partnerships, row_of=index.row_of, countries=index.countries,
                                                   programmes=list(index.programmes.values()),
                                                   weights=index.weights, reference_year=index.reference_year,
                                                   as_of=None)
    associated = index.country_groups[EU27] | index.country_groups[HE_ASSOCIATED]
    regional_ties = regional_partnership_weights(
        partnerships, row_of=index.row_of, countries=index.countries, central_asia=index.country_groups[CENTRAL_ASIA],
        associated=associated, weights=index.weights, reference_year=index.reference_year, keep=lambda _: True)
    stats = {**index.stats, "with_evidence": int(has_evidence.sum()), "evidence_items": len(item_infos),
             "known_ties": len(ties), "graph_edges": int(graph.nnz // 2)}
    return replace(index, vectors=vectors, has_evidence=has_evidence, evidence_vectors=evidence_vectors,
                   evidence_weights=evidence_weights, items=item_infos, items_of=items_of, tie_graph=tie_graph,
                   ties=ties, graph=graph, adamic_adar_weights=aa_weights, bri_record=bri_record,
                   erasmus_record=erasmus_record,
                   tie_recency=decayed_ties(ties, graph.shape[0], weights=index.weights,
                                            reference_year=index.reference_year),
                   regional_ties=regional_ties,
                   regional_record=regional_percentile(index.regional_projects, index.coordinated,
                                                       index.project_decay, regional_ties),
                   raw_strength=raw_strength,
                   area_strength=area_strength, stats=stats)


def load_refresh(index: CatalogueIndex, institution_ids: Sequence[str], *, session: Session,
                 embedder: Embedder, stats: EmbeddingStats | None = None) -> CatalogueIndex:
    """:func:`refresh_institutions` with the rows read from the database and their texts embedded (from the
    cache; what it lacks is embedded and added to ``session``, which the caller commits)."""
    stats = stats if stats is not None else EmbeddingStats()
    connection = session.connection()
    wanted = sorted(set(institution_ids))
    institutions = read_catalogue_institutions(connection, wanted)
    items = [dict(zip(ITEM_COLUMNS, r, strict=True)) for start in range(0, len(wanted), 500)
             for r in connection.execute(text(
                 f"SELECT {', '.join(ITEM_COLUMNS)} FROM evidence_item WHERE institution_id IN :ids ORDER BY id"
             ).bindparams(bindparam("ids", expanding=True)), {"ids": wanted[start:start + 500]})]
    partnerships = [dict(zip(PARTNERSHIP_COLUMNS, r, strict=True)) for r in connection.exec_driver_sql(
        f"SELECT {', '.join(PARTNERSHIP_COLUMNS)} FROM partnership ORDER BY id")]
    owners = [(r["id"], r["profile_owner"]) for r in institutions if r.get("profile_owner")]
    owner_result = embed_with_cache(embedder, [t for _, t in owners], session=session)
    item_result = embed_with_cache(embedder, [i["text"] for i in items], session=session)
    for result in (owner_result, item_result):
        stats.hits += result.n_hits
        stats.misses += result.n_misses
    return refresh_institutions(
        index, wanted, institutions=institutions, items=items,
        item_vectors={i["id"]: item_result.vectors[k] for k, i in enumerate(items)},
        owner_vectors={iid: owner_result.vectors[k] for k, (iid, _) in enumerate(owners)},
        partnerships=partnerships)


def read_catalogue_institutions(connection: Any, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The matcher's columns of the institutions ``ids``."""
    statement = text(f"SELECT {', '.join(INSTITUTION_COLUMNS)} FROM institution WHERE id IN :ids ORDER BY id"
                     ).bindparams(bindparam("ids", expanding=True))
    return [dict(zip(INSTITUTION_COLUMNS, r, strict=True)) for r in connection.execute(statement, {"ids": list(ids)})]
