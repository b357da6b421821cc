"""Evaluation on real history: rank partners as of a cutoff date, score against what happened after it.

Task "partners for a project idea": every Horizon Europe project starting in ``[cutoff, until)`` is a
request; its title, objective and keywords are the idea and its coordinator the requester. The index is
built as of ``cutoff`` (``build_index(as_of=cutoff)``), so profiles, area strengths, track records and
the graph know only projects that started before it. All institutions but the coordinator are ranked;
the truth is the project's other named participants.

Task "new partners for an institution": institutions with projects before the cutoff; the truth is the
institutions they first share a project with in ``[cutoff, until)``; existing partners are not ranked.

Every method ranks the same candidates for the same queries: random, popularity, TF-IDF text similarity,
embeddings only, graph only (Adamic–Adar) and the hybrid under a scoring profile.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sqlmodel import Session, col, select

from embeddings.base import Embedder
from embeddings.cache import embed_with_cache
from matcher.components import adamic_adar
from matcher.engine import CatalogueIndex, CatalogueRows, EmbeddingStats, FloatArray, index_from_rows
from matcher.metrics import METRICS, query_metrics, relevant_ranks
from matcher.suggest import Matcher
from matcher.texts import project_text
from matcher.types import ComponentWeights, ScoringProfile, SuggestionRequest, TiePreference
from seed_data.tables import ACTION_TYPES, Project, action_type

logger = logging.getLogger(__name__)

CENTRAL_ASIA_OTHER = frozenset({"KG", "TJ", "TM", "UZ"})
# Areas inferred for an idea: the ones its text is most similar to (the request names none).
N_IDEA_AREAS = 2
# The TF-IDF baseline keeps words in at least this many institution documents (typos and ids are noise).
TFIDF_MIN_DF = 2
# TF-IDF documents hold an institution's most recent projects only: the busiest institutions have over a
# thousand, and their concatenated texts would dominate memory and time for little ranking gain.
TFIDF_MAX_PROJECTS = 20
BASELINES = ("random", "popularity", "tfidf", "embeddings", "graph", "similar_projects", "edgebank")
# The programme an evaluation request names (its family sets the track record; eligibility is "all"): the
# history replayed is Horizon Europe's.
EVALUATION_PROGRAMME = "horizon-europe"
EVALUATION_FAMILY = "horizon"


def evaluation_programme(index: CatalogueIndex) -> str:
    """The programme evaluation requests name: ``EVALUATION_PROGRAMME``, else (a catalogue without it, such as
    a test's) a programme of the same family, else the first programme."""
    if EVALUATION_PROGRAMME in index.programmes:
        return EVALUATION_PROGRAMME
    keys = sorted(index.programmes)
    same = [k for k in keys if index.programmes[k].get("family") == EVALUATION_FAMILY]
    if not (same or keys):
        raise ValueError("the catalogue has no programme: an evaluation request needs one")
    return (same or keys)[0]
# The validation split: tune and choose on projects starting in 2024, knowing only what started before.
# Projects starting on or after 2025-01-01 are the reserved test set.
VALIDATION_CUTOFF, VALIDATION_UNTIL = dt.date(2024, 1, 1), dt.date(2025, 1, 1)
# Learning (weights, the ranker) trains on the year before the validation cutoff, so validation stays unseen.
TRAINING_CUTOFF = dt.date(2023, 1, 1)
# The programme whose projects are the project-idea task's requests.
IDEA_PROGRAMME = "HORIZON"
# Unmatched project ids named in an error message, at most.
MAX_IDS_SHOWN = 10


class EmptyEvaluation(ValueError):
    """An evaluation with no request to score: no Horizon Europe project with a coordinator and another
    participant starts in ``[cutoff, until)`` (or none of the ``restrict_to`` ids does). Its figures would
    be zeros that look like results, so it is refused.

    ``n_after_cutoff``: such projects starting on or after the cutoff, whatever the end of the window;
    ``unmatched``: the ``restrict_to`` ids that are not projects of the window (sorted).
    """

    def __init__(self, *, cutoff: dt.date, until: dt.date, n_in_window: int, n_after_cutoff: int,
                 unmatched: Sequence[str] = ()) -> None:
        self.cutoff, self.until = cutoff, until
        self.n_in_window, self.n_after_cutoff = n_in_window, n_after_cutoff
        self.unmatched = list(unmatched)
        window = f"[{cutoff.isoformat()}, {until.isoformat()})"
        if until <= cutoff:
            reason = f"the window {window} is empty: the end (until) must be after the cutoff"
        elif self.unmatched and n_in_window == 0:
            shown = ", ".join(self.unmatched[:MAX_IDS_SHOWN])
            more = f" and {len(self.unmatched) - MAX_IDS_SHOWN} more" if len(self.unmatched) > MAX_IDS_SHOWN else ""
            reason = (f"none of the {len(self.unmatched)} project ids given is a Horizon Europe project starting "
                      f"in {window}: {shown}{more}")
        elif n_in_window == 0:
            reason = f"no Horizon Europe project starts in {window}"
        else:
            reason = (f"none of the {n_in_window} Horizon Europe projects starting in {window} has a coordinator, "
                      "another participant and a text")
        super().__init__(f"nothing to evaluate: {reason} ({n_after_cutoff} Horizon Europe projects start on or "
                         f"after the cutoff {cutoff.isoformat()})")


def _is_idea_project(project: Mapping[str, Any]) -> bool:
    return project["programme"] == IDEA_PROGRAMME and project.get("start_date") is not None


def _idea_window(starts: Iterable[tuple[str, dt.date]], *, cutoff: dt.date, until: dt.date,
                 restrict_to: set[str] | None) -> tuple[int, set[str], list[str]]:
    """From (id, start date) of Horizon Europe projects: how many start on or after ``cutoff``, the ids
    chosen (starting in ``[cutoff, until)``, of ``restrict_to`` when given) and the ``restrict_to`` ids that
    are not projects of the window (sorted)."""
    after_cutoff = [(project_id, start) for project_id, start in starts if start >= cutoff]
    window = {project_id for project_id, start in after_cutoff if start < until}
    if restrict_to is None:
        return len(after_cutoff), window, []
    return len(after_cutoff), window & restrict_to, sorted(restrict_to - window)


def check_window(session: Session, *, cutoff: dt.date, until: dt.date, restrict_to: set[str] | None = None) -> int:
    """Horizon Europe projects starting in ``[cutoff, until)`` (those of ``restrict_to`` only, when given),
    read from the database in milliseconds, before the minutes of an evaluation; ``EmptyEvaluation`` when
    there are none."""
    starts = session.exec(select(col(Project.id), col(Project.start_date)).where(
        col(Project.programme) == IDEA_PROGRAMME, col(Project.start_date) >= cutoff)).all()
    n_after_cutoff, chosen, unmatched = _idea_window(
        ((project_id, start) for project_id, start in starts if start is not None),
        cutoff=cutoff, until=until, restrict_to=restrict_to)
    if not chosen:
        raise EmptyEvaluation(cutoff=cutoff, until=until, n_in_window=0, n_after_cutoff=n_after_cutoff,
                              unmatched=unmatched)
    return len(chosen)


@dataclass
class EvalQuery:
    """One request of an evaluation task with its truth (rows of the index). :meth:`request` is the
    suggestion request it asks: the evaluation ranks exactly what ``POST /suggestions`` would."""

    id: str
    requester_row: int
    requester_id: str
    text: str | None  # the idea (project-idea task); None: the requester's own profile
    areas: list[str]  # the areas the idea is closest to (project-idea task), else none
    truth: npt.NDArray[np.intp]
    newcomers: npt.NDArray[np.intp]  # truth rows with no project before the cutoff
    exclude: npt.NDArray[np.intp]  # rows no method ranks: the requester (and, new partners, its existing ones)
    tags: frozenset[str] = frozenset()
    start_date: dt.date | None = None
    action_type: str | None = None  # the project's (project-idea task): RIA, IA, CSA, MSCA, ERC, EIC, other
    ties: TiePreference | None = None  # the task's tie preference (new partners: existing ones excluded)
    programme: str = EVALUATION_PROGRAMME

    def request(self) -> SuggestionRequest:
        """The suggestion request of this query: the requester, the idea and its areas, ranked among every
        institution (``eligibility="all"``: real consortia include partners a programme would not fund)."""
        return SuggestionRequest(requester_id=self.requester_id, text=self.text, areas=self.areas,
                                 programme=self.programme, eligibility="all", ties=self.ties)


@dataclass
class MethodResult:
    """Per-query metrics of one method; ``summary`` averages them per breakdown."""

    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    per_query_newcomers: dict[str, dict[str, float]] = field(default_factory=dict)

    def summary(self, queries: Sequence[EvalQuery]) -> dict[str, dict[str, float | int]]:
        """Mean metrics over every query, per participant group (kz, central_asia, china) and action type, and
        over the newcomers (truth partners with no project before the cutoff) with the ceiling: the share of
        true partners that had any project before it."""
        groups: dict[str, list[str]] = {"all": [q.id for q in queries]}
        for tag in ("kz", "central_asia", "china"):
            groups[tag] = [q.id for q in queries if tag in q.tags]
        for kind in ACTION_TYPES:
            ids = [q.id for q in queries if q.action_type == kind]
            if ids:
                groups[f"action:{kind}"] = ids
        out: dict[str, dict[str, float | int]] = {}
        for name, ids in groups.items():
            out[name] = _mean([self.per_query[i] for i in ids if i in self.per_query])
        out["newcomers"] = _mean(list(self.per_query_newcomers.values()))
        n_truth = sum(len(q.truth) for q in queries)
        out["newcomers"]["ceiling"] = round(1.0 - sum(len(q.newcomers) for q in queries) / n_truth, 4) \
            if n_truth else 0.0
        return out


def _mean(rows: list[dict[str, float]]) -> dict[str, float | int]:
    if not rows:
        return {"n_queries": 0, **dict.fromkeys(METRICS, 0.0)}
    return {"n_queries": len(rows), **{m: round(float(np.mean([r[m] for r in rows])), 4) for m in METRICS}}


def infer_areas(index: CatalogueIndex, vector: npt.NDArray[np.float32] | None) -> list[str]:
    """The ``N_IDEA_AREAS`` priority areas an idea's vector is closest to: what an office would name."""
    if vector is None or not len(index.area_keys):
        return []
    return [index.area_keys[a] for a in np.argsort(-(index.area_vectors @ vector), kind="stable")[:N_IDEA_AREAS]]


def project_idea_queries(
    index: CatalogueIndex,
    *,
    projects: Sequence[Mapping[str, Any]],
    participations: Sequence[Mapping[str, Any]],
    idea_vectors: Mapping[str, npt.NDArray[np.float32]],
    idea_texts: Mapping[str, str],
    cutoff: dt.date,
    until: dt.date,
    restrict_to: set[str] | None = None,
) -> list[EvalQuery]:
    """Queries of the project-idea task: Horizon Europe projects starting in ``[cutoff, until)``; an idea's
    areas are inferred from its (query) vector in ``idea_vectors``."""
    assert index.as_of == cutoff, "the index must be built as of the cutoff"
    in_window = {str(p["id"]): p for p in projects
                 if _is_idea_project(p) and cutoff <= p["start_date"] < until
                 and (restrict_to is None or p["id"] in restrict_to)}
    members: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for part in participations:
        if part["project_id"] in in_window and part.get("institution_id"):
            members[str(part["project_id"])].append((str(part["institution_id"]), str(part["role"])))
    past_projects = np.asarray(index.membership[: index.n].sum(axis=1)).ravel()
    queries = []
    for project_id, project in sorted(in_window.items()):
        coordinators = [i for i, role in members[project_id] if role == "coordinator"]
        if not coordinators or project_id not in idea_vectors or project_id not in idea_texts:
            continue
        requester = index.row_of[coordinators[0]]
        truth = np.array(sorted({index.row_of[i] for i, _ in members[project_id]} - {requester}), dtype=np.intp)
        if len(truth) == 0:
            continue
        countries = {index.institutions[r].country for r in truth} | {index.institutions[requester].country}
        tags = {tag for tag, hit in (("kz", "KZ" in countries), ("central_asia", bool(countries & CENTRAL_ASIA_OTHER)),
                                     ("china", "CN" in countries)) if hit}
        queries.append(EvalQuery(
            id=project_id, requester_row=requester, requester_id=coordinators[0], text=idea_texts[project_id],
            areas=infer_areas(index, idea_vectors[project_id]), truth=truth,
            newcomers=truth[past_projects[truth] == 0], exclude=np.array([requester], dtype=np.intp),
            tags=frozenset(tags), start_date=project["start_date"], programme=evaluation_programme(index),
            action_type=action_type(project.get("funding_scheme"))))
    logger.info("project-idea task: %d queries (%d projects in the window)", len(queries), len(in_window))
    return queries


def idea_task(
    rows: CatalogueRows,
    *,
    session: Session,
    embedder: Embedder,
    project_vectors: Mapping[str, npt.NDArray[np.float32]],
    cutoff: dt.date,
    until: dt.date,
    restrict_to: set[str] | None = None,
) -> tuple[Matcher, list[EvalQuery]]:
    """A matcher over the index as of ``cutoff`` and the project-idea queries of ``[cutoff, until)``: each
    window project's own text is the idea, embedded as a request's text is (``encode_queries``, through the
    embedding cache) and handed to the matcher in advance.

    ``EmptyEvaluation`` when there is no query: checked on the rows first, before the index is built, and
    again on the queries made. ``restrict_to`` ids that are not projects of the window are logged.
    """
    n_after_cutoff, chosen, unmatched = _idea_window(
        ((str(p["id"]), p["start_date"]) for p in rows.projects if _is_idea_project(p)),
        cutoff=cutoff, until=until, restrict_to=restrict_to)

    def empty(n_in_window: int) -> EmptyEvaluation:
        return EmptyEvaluation(cutoff=cutoff, until=until, n_in_window=n_in_window,
                               n_after_cutoff=n_after_cutoff, unmatched=unmatched)

    if not chosen:
        raise empty(0)
    if unmatched:
        logger.warning("%d of the project ids given are not Horizon Europe projects of [%s, %s): %s", len(unmatched),
                       cutoff, until, ", ".join(unmatched[:MAX_IDS_SHOWN]))
    index = index_from_rows(rows, session=session, embedder=embedder, project_vectors=project_vectors,
                            stats=EmbeddingStats(), as_of=cutoff)
    # only projects that can become requests (a coordinator and another named participant) are embedded
    named: dict[str, list[str]] = defaultdict(list)
    for part in rows.participations:
        if part["project_id"] in chosen and part.get("institution_id"):
            named[str(part["project_id"])].append(str(part["role"]))
    requestable = {i for i, roles in named.items() if "coordinator" in roles and len(roles) >= 2}
    texts = {str(p["id"]): t for p in rows.projects if str(p["id"]) in requestable and (t := project_text(p))}
    ids = sorted(texts)
    embedded = embed_with_cache(embedder, [texts[i] for i in ids], session=session, kind="query")
    logger.info("ideas embedded as queries: %d cached, %d new", embedded.n_hits, embedded.n_misses)
    idea_vectors = dict(zip(ids, embedded.vectors, strict=True))
    queries = project_idea_queries(index, projects=rows.projects, participations=rows.participations,
                                   idea_vectors=idea_vectors, idea_texts=texts, cutoff=cutoff, until=until,
                                   restrict_to=restrict_to)
    if not queries:
        raise empty(len(chosen))
    matcher = Matcher(index, embedder)
    matcher.know_text_vectors({texts[i]: idea_vectors[i] for i in ids})
    return matcher, queries


def new_partner_queries(
    index: CatalogueIndex,
    *,
    projects: Sequence[Mapping[str, Any]],
    participations: Sequence[Mapping[str, Any]],
    cutoff: dt.date,
    until: dt.date,
    max_queries: int = 1000,
    random_state: int = 0,
) -> list[EvalQuery]:
    """Queries of the new-partner task: for institutions active before the cutoff, the institutions they
    first work with in ``[cutoff, until)`` (a sample of ``max_queries`` requesters, fixed by the seed); their
    existing partners are never ranked (``ties=excluded``)."""
    assert index.as_of == cutoff, "the index must be built as of the cutoff"
    window = {str(p["id"]) for p in projects if p.get("start_date") and cutoff <= p["start_date"] < until}
    members: dict[str, set[int]] = defaultdict(set)
    for part in participations:
        if part["project_id"] in window and part.get("institution_id"):
            members[str(part["project_id"])].add(index.row_of[str(part["institution_id"])])
    future: dict[int, set[int]] = defaultdict(set)
    for together in members.values():
        for member in together:
            future[member] |= together - {member}
    active = np.flatnonzero(index.has_evidence)
    queries = []
    for row in active.tolist():
        past = set(index.graph[row].indices[index.graph[row].indices < index.n])
        new = sorted(future.get(row, set()) - past)
        if not new:
            continue
        queries.append(EvalQuery(id=index.institutions[row].id, requester_row=row,
                                 requester_id=index.institutions[row].id, text=None, areas=[],
                                 truth=np.array(new, dtype=np.intp), newcomers=np.array([], dtype=np.intp),
                                 exclude=np.array(sorted(past | {row}), dtype=np.intp),
                                 ties=TiePreference.excluded, programme=evaluation_programme(index)))
    rng = np.random.default_rng(random_state)
    if len(queries) > max_queries:
        keep = sorted(rng.choice(len(queries), size=max_queries, replace=False))
        queries = [queries[i] for i in keep]
    logger.info("new-partner task: %d queries", len(queries))
    return queries


Scorer = Callable[[EvalQuery], FloatArray]


def profile_scorer(matcher: Matcher, profile: ScoringProfile) -> Scorer:
    """Scores of every institution for a query under ``profile``: exactly what ``POST /suggestions`` ranks
    for the query's request (:meth:`EvalQuery.request`), before diversity re-ranking (which reorders a
    shortlist, not which institutions are relevant); rows never ranked score -inf."""

    def score(query: EvalQuery) -> FloatArray:
        return matcher.rank(query.request(), profile).full_scores(matcher.index.n)

    return score


VALUES_ONLY = ScoringProfile(weights=ComponentWeights(thematic=1.0))  # for callers that keep values, not scores


def query_values(matcher: Matcher, query: EvalQuery) -> FloatArray:
    """(n, len(COMPONENTS)) the component values the ranking core gives every institution for the query's
    request, ties neutral (what learning and the slider estimate read); 0 for rows it does not rank."""
    ranking = matcher.rank(query.request().model_copy(update={"ties": TiePreference.neutral}), VALUES_ONLY)
    values = np.zeros((matcher.index.n, ranking.values.shape[1]))
    values[ranking.rows] = ranking.values
    return values


def single_signal(profile: ScoringProfile, component: str) -> ScoringProfile:
    """``profile`` with all its weight on one component: a baseline ranked by the same core (a weight profile
    even when ``profile`` is a learned one: its other settings, diversity and ties, are kept)."""
    return profile.model_copy(update={"weights": ComponentWeights(**{component: 1.0}), "kind": "weights",
                                      "ranker_id": None})


def baseline_scorers(matcher: Matcher, *, institution_texts: Mapping[str, str] | None = None,
                     profile: ScoringProfile | None = None, random_state: int = 0) -> dict[str, Scorer]:
    """The baselines over the same index: random, popularity, TF-IDF text similarity (with
    ``institution_texts``: id -> text of its projects before the cutoff), embeddings only, graph only
    (Adamic–Adar), and through the ranking core with one component only (``profile``'s other settings):
    similar past projects only and repeat partners only (EdgeBank, time-decayed)."""
    index = matcher.index
    rng = np.random.default_rng(random_state)
    popularity = np.asarray(index.membership[: index.n].sum(axis=1), dtype=np.float64).ravel()

    def vector(query: EvalQuery) -> npt.NDArray[np.float32] | None:
        return matcher.text_vector(query.text) if query.text else (
            index.vectors[query.requester_row] if index.has_evidence[query.requester_row] else None)

    scorers: dict[str, Scorer] = {
        "random": lambda query: rng.random(index.n),
        "popularity": lambda query: popularity,
        "embeddings": lambda query: (index.vectors @ v).astype(np.float64) if (v := vector(query)) is not None
        else np.zeros(index.n),
        "graph": lambda query: adamic_adar(index, query.requester_row)[: index.n],
    }
    if profile is not None:
        scorers["similar_projects"] = profile_scorer(matcher, single_signal(profile, "similar_projects"))
        scorers["edgebank"] = profile_scorer(matcher, single_signal(profile, "repeat_partnership"))
    if institution_texts is not None:
        # imported here: scikit-learn takes most of a second to import, and the API imports this module
        from sklearn.feature_extraction.text import TfidfVectorizer

        docs = [institution_texts.get(info.id, "") for info in index.institutions]
        vectorizer = TfidfVectorizer(min_df=TFIDF_MIN_DF, stop_words="english", sublinear_tf=True, dtype=np.float32)
        try:
            matrix: sp.csr_matrix | None = vectorizer.fit_transform(docs)
        except ValueError:  # no word in two documents (a tiny catalogue, or no history before the cutoff)
            logger.warning("TF-IDF has no vocabulary before the cutoff: it scores 0 for every institution")
            matrix = None

        def tfidf(query: EvalQuery) -> FloatArray:
            if not query.text or matrix is None:
                return np.zeros(index.n)
            # a dense query vector makes this one sparse matrix-vector product (sparse x sparse is far slower)
            dense_query = vectorizer.transform([query.text]).toarray().ravel()
            return np.asarray(matrix @ dense_query, dtype=np.float64)

        scorers["tfidf"] = tfidf
    return scorers


def query_scores(query: EvalQuery, scorer: Scorer) -> FloatArray:
    """``scorer``'s scores for ``query`` with its excluded rows last (-inf: they can never be relevant)."""
    scores = np.array(scorer(query), dtype=np.float64, copy=True)
    scores[query.exclude] = -np.inf
    return scores


def evaluate(queries: Sequence[EvalQuery], scorers: Mapping[str, Scorer]) -> dict[str, MethodResult]:
    """Run every scorer on every query (``query_scores``) and keep each query's metrics."""
    results = {name: MethodResult() for name in scorers}
    for query in queries:
        for name, scorer in scorers.items():
            scores = query_scores(query, scorer)
            results[name].per_query[query.id] = query_metrics(relevant_ranks(scores, query.truth))
            if len(query.newcomers):
                results[name].per_query_newcomers[query.id] = query_metrics(
                    relevant_ranks(scores, query.newcomers))
    return results


def institution_texts_before(
    projects: Iterable[Mapping[str, Any]],
    participations: Iterable[Mapping[str, Any]],
    *,
    cutoff: dt.date,
    text_of: Callable[[Mapping[str, Any]], str | None],
) -> dict[str, str]:
    """For TF-IDF: each institution's project texts from before ``cutoff``, concatenated."""
    dated = {str(p["id"]): p for p in projects if p.get("start_date") and p["start_date"] < cutoff}
    own: dict[str, list[Mapping[str, object]]] = defaultdict(list)
    for part in participations:
        project = dated.get(str(part["project_id"]))
        if project is not None and part.get("institution_id"):
            own[str(part["institution_id"])].append(project)
    out = {}
    for inst, items in own.items():
        recent = sorted(items, key=lambda p: (p["start_date"], str(p["id"])), reverse=True)[:TFIDF_MAX_PROJECTS]
        texts = [t for p in recent if (t := text_of(p))]
        if texts:
            out[inst] = " ".join(texts)
    return out


def run_evaluation(
    rows: CatalogueRows,
    *,
    session: Session,
    embedder: Embedder,
    project_vectors: Mapping[str, npt.NDArray[np.float32]],
    cutoff: dt.date,
    until: dt.date,
    profile: ScoringProfile,
    restrict_to: set[str] | None = None,
    max_new_partner_queries: int = 1000,
    extra_profiles: Mapping[str, ScoringProfile] | None = None,
) -> dict[str, object]:
    """Both tasks, every baseline, the hybrid under ``profile`` and any ``extra_profiles`` (by name), all in one
    run; returns the report (JSON-ready). ``EmptyEvaluation`` when the window (or ``restrict_to``) holds no
    project-idea request."""
    started = time.perf_counter()
    matcher, idea_queries = idea_task(rows, session=session, embedder=embedder, project_vectors=project_vectors,
                                      cutoff=cutoff, until=until, restrict_to=restrict_to)
    index = matcher.index
    scorers = baseline_scorers(matcher, profile=profile, institution_texts=institution_texts_before(
        rows.projects, rows.participations, cutoff=cutoff, text_of=project_text))
    scorers["hybrid"] = profile_scorer(matcher, profile)
    for name, other in (extra_profiles or {}).items():
        scorers[name] = profile_scorer(matcher, other)
    idea_results = evaluate(idea_queries, scorers)
    partner_queries = new_partner_queries(index, projects=rows.projects, participations=rows.participations,
                                          cutoff=cutoff, until=until, max_queries=max_new_partner_queries)
    partner_scorers = {name: scorer for name, scorer in scorers.items() if name != "tfidf"}
    partner_results = evaluate(partner_queries, partner_scorers)
    return {
        "cutoff": cutoff.isoformat(),
        "until": until.isoformat(),
        "index": index.stats,
        "profile": profile.model_dump(mode="json"),
        "project_idea": {name: result.summary(idea_queries) for name, result in idea_results.items()},
        "new_partners": {name: result.summary(partner_queries)["all"] for name, result in partner_results.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
