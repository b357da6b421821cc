"""Quick validation estimates for unsaved weights: the project-idea task on a fixed sample, in milliseconds.

``run_evaluation`` takes minutes: it builds the index as of the validation cutoff and ranks every query with
every method. An officer moving a weight slider needs a figure at once, so :class:`ValidationSample` does the
slow part once: it draws a seeded sample of project-idea queries, ranks each through the ranking core
(``Matcher.rank``, exactly as the evaluation and ``POST /suggestions`` rank it) and stores the component
values. A call to :meth:`ValidationSample.metrics` is then the core's kernel (a ``WeightScorer`` over the
stored values, the tie preference applied as ``ranking.scores_of`` does) and one sort per query.

The figures are those of ``run_evaluation``'s hybrid method on the same queries (up to float32 storage of
the values). Diversity re-ranking (λ, the country cap) changes no metric: it reorders a shortlist, not which
institutions are relevant.

Storage: rows that no component can score above 0 for any request (``scorable_rows``: no evidence, record,
project or edge before the cutoff) are not stored; they all score exactly 0 and are counted. For the kept
rows, one float32 array of shape (n_queries, n_kept, n_components) holds every value. Its size, build time
and call time are printed by ``bench/estimate_first_call.py``; results are remembered per weighting.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from sqlmodel import Session

from embeddings.base import Embedder
from matcher.components import direct_ties
from matcher.engine import (
    CatalogueIndex,
    CatalogueRows,
    EmbeddingStats,
    embed_projects,
    read_catalogue,
)
from matcher.evaluation import VALIDATION_CUTOFF, VALIDATION_UNTIL, EvalQuery, idea_task, query_values
from matcher.metrics import METRICS, query_metrics
from matcher.ranking import WeightScorer, apply_ties
from matcher.suggest import Matcher
from matcher.types import COMPONENTS, TiePreference

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.intp]

DEFAULT_N_QUERIES = 200
# Ranks deeper than this are never read exactly by the metrics (recall@50 is the deepest), but the best one's.
RANK_DEPTH = 50
# Metrics remembered per (normalised weights, ties): a slider moved back, or the published profile shown
# with every answer, costs nothing the second time. Entries are a few hundred bytes.
METRICS_CACHE_SIZE = 1024


def scorable_rows(index: CatalogueIndex) -> npt.NDArray[np.bool_]:
    """(n,) the rows a component can score above 0 for some request: research evidence (thematic, area fit,
    complementarity), a track record of any programme or regional experience, a project (similar past
    projects) or an edge (network, repeat partnership). Every other row scores 0 under any weights."""
    n = index.n
    has_project = np.diff(index.membership.indptr)[:n] > 0
    degree = np.diff(index.graph.indptr)[:n]
    return (index.has_evidence | (index.track_record > 0) | (index.bri_record > 0) | (index.erasmus_record > 0)
            | index.has_charter | (index.regional_record > 0) | has_project | (degree > 0))
NOTE = (
    "Project-idea task on a fixed random sample of Horizon Europe projects starting in [cutoff, until): the "
    "coordinator asks, the other named participants are the truth, and the index knows only what started "
    "before the cutoff. Same figures as the full evaluation's hybrid method on these queries. Diversity "
    "re-ranking (mmr_lambda, max_per_country) does not change these metrics; ties='excluded' ranks the "
    "coordinator's existing partners last, as suggestions leave them out."
)


def check_weights_vector(weights: Mapping[str, float]) -> npt.NDArray[np.float64]:
    """The weights in ``COMPONENTS`` order, normalised to sum to 1; ``ValueError`` naming the problem."""
    unknown = sorted(set(weights) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown component(s) {unknown}; allowed: {list(COMPONENTS)}")
    w = np.array([float(weights.get(name, 0.0)) for name in COMPONENTS])
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be finite and >= 0, got {dict(weights)}")
    if w.sum() <= 0 or not np.isfinite(w.sum()):
        raise ValueError("at least one component weight must be positive")
    return w / w.sum()


class ValidationSample(BaseEstimator):
    """Stored component values of a fixed sample of project-idea queries, for fast metrics under any weights.

    Parameters
    ----------
    n_queries : int, default 200
        Queries kept (all of them when the window has fewer).
    random_state : int, default 0
        Seed of the sample.
    cutoff, until : date
        The evaluation window (default: the validation split, 2024).

    Attributes (after :meth:`fit`)
    ------------------------------
    query_ids_ : list of str
        The sampled projects, by id.
    rows_ : ndarray (n_kept,)
        Index rows stored; every other row scores 0 under any weights.
    values_ : ndarray float32 (n_queries, n_kept, len(COMPONENTS))
        Every component's value (ties neutral), as ``Matcher.rank`` gives them.
    nbytes_ : int
        Memory held by the stored arrays.
    """

    def __init__(self, n_queries: int = DEFAULT_N_QUERIES, *, random_state: int = 0,
                 cutoff: dt.date = VALIDATION_CUTOFF, until: dt.date = VALIDATION_UNTIL) -> None:
        self.n_queries = n_queries
        self.random_state = random_state
        self.cutoff = cutoff
        self.until = until

    # --- building -----------------------------------------------------------------------------------------

    def fit(self, matcher: Matcher, queries: Sequence[EvalQuery]) -> ValidationSample:
        """Sample ``queries`` (project-idea queries over ``matcher``'s index, built as of the cutoff) and store
        the component values the ranking core gives their candidates (``Matcher.rank``, ties neutral)."""
        index = matcher.index
        assert index.as_of == self.cutoff, "the index must be built as of the cutoff"
        if not queries:  # metrics of no query would be zeros that look like figures
            raise ValueError("no project-idea query to sample: the validation sample needs at least one")
        started = time.perf_counter()
        rng = np.random.default_rng(self.random_state)
        chosen = list(queries)
        if len(chosen) > self.n_queries:
            keep = sorted(rng.choice(len(chosen), size=self.n_queries, replace=False))
            chosen = [chosen[i] for i in keep]
        n = index.n
        scored = scorable_rows(index)
        rows = np.flatnonzero(scored)
        position = np.full(n, -1, dtype=np.intp)
        position[rows] = np.arange(len(rows))
        n_kept, n_q = len(rows), len(chosen)
        values = np.zeros((n_q, n_kept, len(COMPONENTS)), dtype=np.float32)
        truth_pos, n_truth_zero, excluded_pos, tie_pos = [], [], [], []
        n_zero = np.zeros(n_q, dtype=np.intp)
        n_zero_excluded = np.zeros(n_q, dtype=np.intp)
        for q, query in enumerate(chosen):
            full = query_values(matcher, query)
            if full[~scored].any():
                raise ValueError("a component scores rows outside scorable_rows above 0: widen the rows "
                                 "ValidationSample stores")
            values[q] = full[rows]
            truth = position[query.truth]
            truth_pos.append(truth[truth >= 0])
            n_truth_zero.append(int((truth < 0).sum()))
            excluded = position[query.exclude]
            excluded_pos.append(excluded[excluded >= 0])
            n_zero_excluded[q] = int((excluded < 0).sum())
            n_zero[q] = n - n_kept - n_zero_excluded[q]
            ties = np.flatnonzero(direct_ties(index, query.requester_row)[:n])
            tie_pos.append(position[ties])  # co-participants and known partners have degree > 0: all stored
        self.query_ids_ = [q.id for q in chosen]
        self.n_catalogue_ = n
        self.rows_ = rows
        self.values_ = values
        self.truth_pos_ = truth_pos
        self.n_truth_zero_ = np.array(n_truth_zero, dtype=np.intp)
        self.n_zero_ = n_zero
        self.n_zero_excluded_ = n_zero_excluded
        self.excluded_flat_ = self._flat(excluded_pos, n_kept)
        self.tie_flat_ = self._flat(tie_pos, n_kept)
        self.metrics_cache_: OrderedDict[tuple[tuple[float, ...], str], dict[str, float]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.nbytes_ = int(values.nbytes + rows.nbytes + self.tie_flat_.nbytes + sum(t.nbytes for t in truth_pos))
        logger.info("validation sample: %d of %d queries, %d of %d rows stored, %.1f MB, %.1f s", n_q, len(queries),
                    n_kept, n, self.nbytes_ / 1e6, time.perf_counter() - started)
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (api/index_store.py saves the sample) without its lock and its remembered metrics."""
        state = dict(super().__getstate__())
        state.pop("_cache_lock", None)
        state.pop("metrics_cache_", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "values_" in state:  # fitted
            self.metrics_cache_ = OrderedDict()
            self._cache_lock = threading.Lock()

    @staticmethod
    def _flat(positions: list[IntArray], n_kept: int) -> IntArray:
        """Per-query positions as indices into the flattened (n_queries, n_kept) score matrix."""
        if not positions:
            return np.zeros(0, dtype=np.intp)
        return np.concatenate([q * n_kept + np.asarray(p, dtype=np.intp) for q, p in enumerate(positions)])

    @property
    def n_queries_(self) -> int:
        """Queries in the sample."""
        check_is_fitted(self, "values_")
        return int(self.values_.shape[0])

    # --- scoring ------------------------------------------------------------------------------------------

    def scores(self, weights: Mapping[str, float], ties: TiePreference | str = TiePreference.neutral
               ) -> npt.NDArray[np.float64]:
        """(n_queries, n_kept) scores under ``weights`` (normalised) and ``ties``, by the ranking core's kernel
        (``ranking.scores_of`` with a ``WeightScorer``): existing partners get the full network value under
        ``preferred`` and -inf under ``excluded``; rows never ranked (the requester) are -inf."""
        check_is_fitted(self, "values_")
        ties = TiePreference(ties)
        scorer = WeightScorer(check_weights_vector(weights))
        n_q, n_kept, n_c = self.values_.shape
        flat_values = self.values_.reshape(-1, n_c)
        tied = np.zeros(n_q * n_kept, dtype=bool)
        tied[self.tie_flat_] = True
        scores = scorer.predict(flat_values)
        if ties is TiePreference.preferred and len(self.tie_flat_):  # the kernel again, on the tied rows only
            scores[self.tie_flat_] = scorer.predict(apply_ties(flat_values[self.tie_flat_],
                                                               np.ones(len(self.tie_flat_), dtype=bool), ties))
        elif ties is TiePreference.excluded:
            scores[tied] = -np.inf
        scores[self.excluded_flat_] = -np.inf
        return scores.reshape(n_q, n_kept)

    def per_query(self, weights: Mapping[str, float], ties: TiePreference | str = TiePreference.neutral
                  ) -> list[dict[str, float]]:
        """Every sampled query's metrics (``query_metrics``), in ``query_ids_`` order."""
        # float32 products of float32 values: exact in float32 too, and half the memory to scan
        scores = self.scores(weights, ties).astype(np.float32)
        out = []
        for q in range(scores.shape[0]):
            row = scores[q]
            truth = np.concatenate([row[self.truth_pos_[q]], np.zeros(self.n_truth_zero_[q], dtype=np.float32)])
            ranks = _relevant_ranks(row, truth, n_zero=int(self.n_zero_[q]),
                                    n_zero_excluded=int(self.n_zero_excluded_[q]))
            out.append(query_metrics(ranks))
        return out

    def metrics(self, weights: Mapping[str, float], ties: TiePreference | str = TiePreference.neutral
                ) -> dict[str, float]:
        """Mean of each metric over the sample (4 decimals, as the evaluation report rounds); remembered for
        the last ``METRICS_CACHE_SIZE`` weightings."""
        check_is_fitted(self, "values_")
        # the normalised weights ``scores`` multiplies by: equal keys, equal computations
        key = (tuple(float(w) for w in check_weights_vector(weights)), TiePreference(ties).value)
        with self._cache_lock:
            if key in self.metrics_cache_:
                self.metrics_cache_.move_to_end(key)
                return dict(self.metrics_cache_[key])
        rows = self.per_query(weights, ties)
        result = {m: round(float(np.mean([r[m] for r in rows])), 4) if rows else 0.0 for m in METRICS}
        with self._cache_lock:
            self.metrics_cache_[key] = result
            while len(self.metrics_cache_) > METRICS_CACHE_SIZE:
                self.metrics_cache_.popitem(last=False)
        return dict(result)

    def sweep(self, weights: Mapping[str, float], ties: TiePreference | str, *, component: str, metric: str,
              steps: int = 11) -> list[tuple[float, float]]:
        """``metric`` as ``component``'s raw weight runs from 0 to the sum of all the given weights, the other
        weights fixed: ``steps`` (weight, value) points. ``ValueError`` when the others are all 0 (at weight 0
        nothing would be weighted) or a name is unknown."""
        if component not in COMPONENTS:
            raise ValueError(f"unknown component {component!r}; allowed: {list(COMPONENTS)}")
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; allowed: {list(METRICS)}")
        check_weights_vector(weights)
        others = {name: float(value) for name, value in weights.items() if name != component}
        if sum(others.values()) <= 0:
            raise ValueError(f"every weight but {component!r} is 0: give another component a weight to sweep it")
        top = sum(float(v) for v in weights.values())
        points = []
        for value in np.linspace(0.0, top, steps):
            points.append((round(float(value), 6), self.metrics({**others, component: float(value)}, ties)[metric]))
        return points


def _relevant_ranks(row: npt.NDArray[np.float32], truth: npt.NDArray[np.float32], *, n_zero: int,
                    n_zero_excluded: int) -> npt.NDArray[np.float64]:
    """The ranks (ties averaged, as ``metrics.relevant_ranks``) of the ``truth`` scores among the stored
    ``row`` and the rows not stored (``n_zero`` scoring 0, ``n_zero_excluded`` scoring -inf), as far as the
    metrics read them: exact within the top ``RANK_DEPTH`` and for the best truth row (MRR); a truth row
    below the top ``RANK_DEPTH`` otherwise gets +inf. One partition and one pass per query, no sort."""
    ranks = np.full(len(truth), np.inf)
    if not len(truth):
        return ranks
    depth = min(RANK_DEPTH, len(row))
    kth = np.partition(row, len(row) - depth)[len(row) - depth] if depth else -np.inf
    top = row[row >= kth]
    exact = truth >= kth if kth > 0 else np.ones(len(truth), dtype=bool)  # <= 0: the unstored zeros compete
    exact[np.argmax(truth)] = True
    for i in np.flatnonzero(exact):
        value = truth[i]
        pool = top if value >= kth > 0 else row
        greater = int((pool > value).sum()) + (n_zero if value == -np.inf else 0)
        equal = int((pool == value).sum()) + (n_zero if value == 0 else 0) \
            + (n_zero_excluded if value == -np.inf else 0) - 1
        ranks[i] = greater + 1 + equal / 2.0
    return ranks


def build_validation_sample(
    *,
    session: Session,
    embedder: Embedder,
    rows: CatalogueRows | None = None,
    n_queries: int = DEFAULT_N_QUERIES,
    random_state: int = 0,
    cutoff: dt.date = VALIDATION_CUTOFF,
    until: dt.date = VALIDATION_UNTIL,
) -> ValidationSample:
    """Read the catalogue (unless given), build the index as of ``cutoff`` and fit the sample on the
    project-idea queries of ``[cutoff, until)``, as ``run_evaluation`` makes them."""
    started = time.perf_counter()
    rows = rows if rows is not None else read_catalogue(session)
    vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
    matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors, cutoff=cutoff,
                                 until=until)
    sample = ValidationSample(n_queries, random_state=random_state, cutoff=cutoff, until=until).fit(matcher, queries)
    logger.info("validation sample built in %.1f s", time.perf_counter() - started)
    return sample
