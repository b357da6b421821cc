"""Quick validation estimates for unsaved weights: the project-idea task on a fixed sample, in milliseconds.

``run_evaluation`` takes minutes: it builds the index as of the validation cutoff, embeds nothing new but
scores every baseline on every query. An officer moving a weight slider needs a figure at once, so
:class:`ValidationSample` does the slow part once: it builds the index as of ``VALIDATION_CUTOFF``, draws a
seeded sample of project-idea queries and stores every sampled query's component values. A call to
:meth:`ValidationSample.metrics` is then a weighted sum of stored arrays and one sort per query.

The figures are those of ``run_evaluation``'s hybrid method on the same queries (``hybrid_scorer``:
components under the ``horizon`` programme family, weights normalised), with one difference: under
``ties="excluded"`` the requester's existing partners are ranked last, as suggestions leave them out,
whereas ``hybrid_scorer`` scores ``excluded`` as ``neutral``. Diversity re-ranking (λ, the country cap)
changes no metric here either: it reorders a shortlist, not which institutions are relevant.

Storage: rows that no component can score above 0 (institutions with no project, no research evidence and
no co-participation before the cutoff) are not stored; they all score exactly 0 and are counted. For the
kept rows, four float32 planes of shape (n_queries, n_kept) hold thematic, area fit, complementarity and
network values (track record is the same for every query and is stored once). On the shipped catalogue,
200 queries over 22,310 of the 58,655 rows take 73 MB (``nbytes_``); float16 would halve that, but its
three significant digits would turn distinct scores into ties and move the metrics away from
``run_evaluation``'s. Building takes about 15 s (reading the catalogue and the index as of the cutoff, with
a transient peak of some 700 MB); a call to ``metrics`` about 25-40 ms on one core (results are remembered
per weighting), an 11-point sweep about 0.3 s.
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
from matcher.evaluation import VALIDATION_CUTOFF, VALIDATION_UNTIL, EvalQuery, component_matrix, idea_task
from matcher.metrics import METRICS, query_metrics
from matcher.types import COMPONENTS, TiePreference

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.intp]

DEFAULT_N_QUERIES = 200
# Metrics remembered per (normalised weights, ties): a slider moved back, or the published profile shown
# with every answer, costs nothing the second time. Entries are a few hundred bytes.
METRICS_CACHE_SIZE = 1024
# Components stored per query, in this order; track record is stored once (it does not depend on the query).
_PER_QUERY = ("thematic", "area_fit", "complementarity", "network")
_SHARED = "track_record"
assert set(_PER_QUERY) | {_SHARED} == set(COMPONENTS), "every component is stored"
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
    planes_ : ndarray float32 (4, n_queries, n_kept)
        Thematic, area fit, complementarity and network (ties neutral) values.
    track_record_ : ndarray float32 (n_kept,)
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

    def fit(self, index: CatalogueIndex, queries: Sequence[EvalQuery]) -> ValidationSample:
        """Sample ``queries`` (project-idea queries over ``index``, built as of the cutoff) and store their
        component values."""
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
        degree = np.diff(index.graph.indptr)[:n]
        # the rows any component can score above 0: evidence (thematic, area fit, complementarity), a
        # track record, or a co-participation (network, direct ties)
        scored = index.has_evidence | (index.track_record > 0) | (degree > 0)
        rows = np.flatnonzero(scored)
        position = np.full(n, -1, dtype=np.intp)
        position[rows] = np.arange(len(rows))
        n_kept, n_q = len(rows), len(chosen)
        planes = np.zeros((len(_PER_QUERY), n_q, n_kept), dtype=np.float32)
        columns = [COMPONENTS.index(name) for name in _PER_QUERY]
        track_record = np.zeros(n_kept, dtype=np.float32)
        truth_pos, n_truth_zero, excluded_pos, tie_pos = [], [], [], []
        n_zero = np.zeros(n_q, dtype=np.intp)
        n_zero_excluded = np.zeros(n_q, dtype=np.intp)
        for q, query in enumerate(chosen):
            values = component_matrix(index, query, ties=TiePreference.neutral)
            if values[~scored].any():
                raise ValueError("a component scores rows without evidence, track record or co-participation "
                                 "above 0: widen the rows ValidationSample stores")
            planes[:, q, :] = values[rows][:, columns].T
            shared = values[rows, COMPONENTS.index(_SHARED)].astype(np.float32)
            if q == 0:
                track_record = shared
            elif not np.array_equal(shared, track_record):
                raise ValueError("the track record differs between queries: store it per query")
            truth = position[query.truth]
            truth_pos.append(truth[truth >= 0])
            n_truth_zero.append(int((truth < 0).sum()))
            excluded = position[query.exclude]
            excluded_pos.append(excluded[excluded >= 0])
            n_zero_excluded[q] = int((excluded < 0).sum())
            n_zero[q] = n - n_kept - n_zero_excluded[q]
            ties = np.flatnonzero(direct_ties(index, query.requester_row)[:n])
            tie_pos.append(position[ties])  # co-participants have degree > 0, so all are stored
        self.query_ids_ = [q.id for q in chosen]
        self.n_catalogue_ = n
        self.rows_ = rows
        self.planes_ = planes
        self.track_record_ = track_record
        self.truth_pos_ = truth_pos
        self.n_truth_zero_ = np.array(n_truth_zero, dtype=np.intp)
        self.n_zero_ = n_zero
        self.n_zero_excluded_ = n_zero_excluded
        self.excluded_flat_ = self._flat(excluded_pos, n_kept)
        self.tie_flat_ = self._flat(tie_pos, n_kept)
        self.metrics_cache_: OrderedDict[tuple[tuple[float, ...], str], dict[str, float]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.nbytes_ = int(planes.nbytes + track_record.nbytes + rows.nbytes + self.tie_flat_.nbytes
                           + sum(t.nbytes for t in truth_pos))
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
        if "planes_" in state:  # fitted
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
        check_is_fitted(self, "planes_")
        return int(self.planes_.shape[1])

    # --- scoring ------------------------------------------------------------------------------------------

    def scores(self, weights: Mapping[str, float], ties: TiePreference | str = TiePreference.neutral
               ) -> npt.NDArray[np.float32]:
        """(n_queries, n_kept) hybrid scores under ``weights`` (normalised) and ``ties``; rows never ranked
        (the requester, and its existing partners under ``excluded``) are -inf."""
        check_is_fitted(self, "planes_")
        ties = TiePreference(ties)
        w = check_weights_vector(weights).astype(np.float32)
        weight = dict(zip(COMPONENTS, w, strict=True))
        # the components are added in COMPONENTS order, element by element, so equal rows score equal
        scores = self.planes_[0] * weight["thematic"]
        scratch = np.empty_like(scores)
        for plane, name in ((1, "area_fit"), (2, "complementarity")):
            scores += np.multiply(self.planes_[plane], weight[name], out=scratch)
        scores += self.track_record_ * weight["track_record"]
        flat = scores.reshape(-1)
        before_network = flat[self.tie_flat_] if ties is TiePreference.preferred else None
        scores += np.multiply(self.planes_[3], weight["network"], out=scratch)
        if before_network is not None:  # an existing partner's network value is 1
            flat[self.tie_flat_] = before_network + weight["network"]
        elif ties is TiePreference.excluded:
            flat[self.tie_flat_] = -np.inf
        flat[self.excluded_flat_] = -np.inf
        return scores

    def per_query(self, weights: Mapping[str, float], ties: TiePreference | str = TiePreference.neutral
                  ) -> list[dict[str, float]]:
        """Every sampled query's metrics (``query_metrics``), in ``query_ids_`` order."""
        scores = self.scores(weights, ties)
        out = []
        for q in range(scores.shape[0]):
            row = scores[q]
            truth = np.concatenate([row[self.truth_pos_[q]], np.zeros(self.n_truth_zero_[q], dtype=np.float32)])
            ordered = np.sort(row)
            left = np.searchsorted(ordered, truth, side="left")
            right = np.searchsorted(ordered, truth, side="right")
            # rows not stored score 0 (or -inf when excluded): they tie with a truth row scoring the same
            greater = (len(row) - right) + np.where(truth == -np.inf, self.n_zero_[q], 0)
            equal = (right - left) + np.where(truth == 0, self.n_zero_[q], 0) \
                + np.where(truth == -np.inf, self.n_zero_excluded_[q], 0) - 1
            ranks = greater + 1 + equal / 2.0
            out.append(query_metrics(ranks.astype(np.float64)))
        return out

    def metrics(self, weights: Mapping[str, float], ties: TiePreference | str = TiePreference.neutral
                ) -> dict[str, float]:
        """Mean of each metric over the sample (4 decimals, as the evaluation report rounds); remembered for
        the last ``METRICS_CACHE_SIZE`` weightings."""
        check_is_fitted(self, "planes_")
        # the float32 weights ``scores`` multiplies by: equal keys, equal computations
        key = (tuple(float(w) for w in check_weights_vector(weights).astype(np.float32)), TiePreference(ties).value)
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
    index, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors, cutoff=cutoff,
                               until=until)
    sample = ValidationSample(n_queries, random_state=random_state, cutoff=cutoff, until=until).fit(index, queries)
    logger.info("validation sample built in %.1f s", time.perf_counter() - started)
    return sample
