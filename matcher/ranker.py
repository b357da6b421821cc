"""A learned ranker as a scorer of the ranking core: LightGBM (LambdaRank) over the component values and
further features of each candidate (its kind and region, the requester's region, same country, popularity,
degree, years since its last project, evidence, programme family).

It re-ranks: the weight profile it was trained over (its first stage, stored with it) ranks every eligible
candidate, and the model orders that ranking's best ``RERANK_DEPTH`` (every page a request can reach), so a
request costs a weighted sum over all candidates and a model over a thousand, not a model over sixty thousand.

The model is a profile kind of its own: its text, feature list, training-data hash and parameters are stored
with a weight-profile version (``learn.train_ranker`` fits it), which officers compare and publish like any
other; every suggestion it scores is explained by per-feature contributions (``pred_contrib``, TreeSHAP).

Scores come from the same trees compiled to machine code (lleaves, through LLVM): on a request's thousand
candidates that is about six times faster than LightGBM's own predictor, and equal to it up to rounding
(``tests/matcher/test_ranker.py``). LightGBM still computes the contributions, for the page only.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
import numpy.typing as npt

from matcher.components import IntArray, Query
from matcher.engine import CENTRAL_ASIA, EU27, HE_ASSOCIATED, CatalogueIndex, FloatArray
from matcher.ranking import WeightScorer
from matcher.types import COMPONENTS

logger = logging.getLogger(__name__)

KINDS = ("university", "research", "company", "public", "other")
REGIONS = ("EU27", "HE_ASSOCIATED", "CENTRAL_ASIA", "CN", "other")
FAMILIES = ("horizon", "erasmus", "bri", "bilateral")
# Features beyond the component values, in this order after them.
EXTRA_FEATURES = ("candidate_kind", "candidate_region", "requester_region", "same_country", "log_projects",
                  "log_degree", "years_since_last_project", "has_evidence", "programme_family")
FEATURES = (*COMPONENTS, *EXTRA_FEATURES)
CATEGORICAL = ("candidate_kind", "candidate_region", "requester_region", "programme_family")
NO_PROJECT_YEARS = 20.0  # years since the last project of an institution with none
# Scoring and contributions run on one thread: a request's model scores a thousand rows, where more threads only
# contend with the BLAS threads of the request before it (LightGBM measured 3.8 ms on one thread against 6.8 ms on
# two), and the service runs requests side by side.
PREDICT_THREADS = 1
# The first stage's best candidates that the model re-orders: every page a request can reach (offset <= 1000,
# k <= 100; see matcher.types.SuggestionRequest).
RERANK_DEPTH = 1100


def _region(country: str, groups: dict[str, frozenset[str]]) -> int:
    if country == "CN":
        return REGIONS.index("CN")
    for key in (CENTRAL_ASIA, EU27, HE_ASSOCIATED):
        if country in groups[key]:
            return REGIONS.index(key)
    return REGIONS.index("other")


@dataclass(frozen=True)
class _InstitutionFeatures:
    kind: npt.NDArray[np.float64]
    region: npt.NDArray[np.float64]
    log_projects: npt.NDArray[np.float64]
    log_degree: npt.NDArray[np.float64]
    years_since_last: npt.NDArray[np.float64]


_BASE: WeakKeyDictionary[CatalogueIndex, _InstitutionFeatures] = WeakKeyDictionary()
_BASE_LOCK = threading.Lock()


def institution_features(index: CatalogueIndex) -> _InstitutionFeatures:
    """The per-institution features of ``index`` (kind, region, popularity, degree, recency), computed once
    per index (kept as long as the index lives)."""
    with _BASE_LOCK:
        found = _BASE.get(index)
        if found is not None:
            return found
    n = index.n
    membership = index.membership[:n]
    years = np.array([p.start_date.year if p.start_date else np.nan for p in index.projects], dtype=float)
    last = np.full(n, np.nan)
    for row in range(n):
        own = index.row_members(index.membership, row)
        if len(own):
            last[row] = np.nanmax(years[own]) if np.isfinite(years[own]).any() else np.nan
    features = _InstitutionFeatures(
        kind=np.array([KINDS.index(k) if k in KINDS else KINDS.index("other") for k in index.kinds], dtype=float),
        region=np.array([_region(str(c), index.country_groups) for c in index.countries], dtype=float),
        log_projects=np.log1p(np.asarray(membership.sum(axis=1), dtype=float).ravel()),
        log_degree=np.log1p(np.diff(index.graph.indptr)[:n].astype(float)),
        years_since_last=np.where(np.isnan(last), NO_PROJECT_YEARS,
                                  np.clip(index.reference_year - last, 0.0, NO_PROJECT_YEARS)),
    )
    with _BASE_LOCK:
        _BASE[index] = features
    return features


def feature_matrix(values: npt.NDArray[np.floating[Any]], *, index: CatalogueIndex, query: Query,
                   rows: IntArray) -> FloatArray:
    """(len(rows), len(FEATURES)) the component ``values`` of the candidate ``rows`` and the further features."""
    base = institution_features(index)
    m = len(rows)
    requester = query.requester_row
    requester_region = base.region[requester] if requester is not None else float(REGIONS.index("other"))
    same_country = (index.countries[rows] == index.countries[requester]).astype(float) if requester is not None \
        else np.zeros(m)
    family = float(FAMILIES.index(query.programme_family)) if query.programme_family in FAMILIES else 0.0
    extra = np.column_stack([base.kind[rows], base.region[rows], np.full(m, requester_region), same_country,
                             base.log_projects[rows], base.log_degree[rows], base.years_since_last[rows],
                             index.has_evidence[rows].astype(float), np.full(m, family)])
    return np.hstack([np.asarray(values, dtype=np.float64).reshape(m, len(COMPONENTS)), extra])


class LearnedScorer:
    """A trained LightGBM ranker as a scorer of the ranking core (``ranking.Scorer``)."""

    def __init__(self, model_text: str) -> None:
        import lightgbm  # imported here: the service imports this module, and only learned profiles need it

        self.booster = lightgbm.Booster(model_str=model_text)
        self.id = model_id(model_text)
        names = tuple(self.booster.feature_name())
        if names != FEATURES:
            raise ValueError(f"the model's features {names} are not this code's {FEATURES}: retrain it")
        self.compiled = _compile(model_text)

    def predict(self, values: npt.NDArray[np.floating[Any]], *, index: CatalogueIndex, query: Query,
                rows: IntArray) -> FloatArray:
        """The model's raw scores (higher ranks first) of the candidate ``rows``."""
        if not len(rows):
            return np.zeros(0)
        X = feature_matrix(values, index=index, query=query, rows=rows)
        return np.asarray(self.compiled.predict(X, n_jobs=PREDICT_THREADS), dtype=np.float64)

    def contributions(self, X: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per-feature contributions (len(X), len(FEATURES)) of the candidates' :func:`feature_matrix` ``X`` and
        the expected value (the model's bias per row): together they sum to the score (``pred_contrib``,
        TreeSHAP). The caller builds ``X``: it shows the further features beside their contributions."""
        contrib = np.asarray(self.booster.predict(X, pred_contrib=True, num_threads=PREDICT_THREADS),
                             dtype=np.float64)
        return contrib[:, :-1], contrib[:, -1]


@dataclass(frozen=True)
class RerankingScorer:
    """A learned ranker behind its first stage (``ranking.Scorer``): ``first_stage`` scores every candidate,
    ``model`` re-scores the best ``depth`` of them. The rest keep the first stage's order below every
    re-scored one (their scores are the first stage's, shifted; no page shows them)."""

    first_stage: WeightScorer
    model: LearnedScorer
    depth: int = RERANK_DEPTH

    def shortlist(self, base: FloatArray) -> IntArray:
        """Positions of the candidates the model scores: the best ``depth`` first-stage scores ``base`` (all
        when fewer)."""
        if len(base) <= self.depth:
            return np.arange(len(base), dtype=np.intp)
        return np.argpartition(-base, self.depth - 1)[: self.depth].astype(np.intp)

    def predict(self, values: npt.NDArray[np.floating[Any]], *, index: CatalogueIndex, query: Query,
                rows: IntArray) -> FloatArray:
        """The model's scores of the shortlisted candidates; the others below them, in first-stage order."""
        base = self.first_stage.predict(values)
        top = self.shortlist(base)
        learned = self.model.predict(values[top], index=index, query=query, rows=rows[top])
        if len(top) == len(base):
            return learned
        out = base - base.max() + (learned.min() if len(learned) else 0.0) - 1.0
        out[top] = learned
        return out


def _compile(model_text: str) -> Any:
    """``model_text``'s trees compiled for this machine's CPU (an ``lleaves.Model`` returning raw scores); about
    a second per 300 trees, once per process and model."""
    import lleaves  # imported here, as lightgbm: only learned profiles need it

    with tempfile.TemporaryDirectory() as folder:  # lleaves reads a model file; the compiled code stays in memory
        path = Path(folder) / "model.txt"
        path.write_text(model_text, encoding="utf-8")
        compiled = lleaves.Model(model_file=str(path))
        compiled.compile(raw_score=True)
    return compiled


def model_id(model_text: str) -> str:
    """A model's identity: the first 16 hex digits of its text's SHA-256."""
    return hashlib.sha256(model_text.encode("utf-8")).hexdigest()[:16]


_LOADED: dict[str, LearnedScorer] = {}
_LOADED_LOCK = threading.Lock()


def load_ranker(model_text: str) -> LearnedScorer:
    """The scorer of a stored model, loaded once per process and model (the registry ``ranker_for`` reads)."""
    key = model_id(model_text)
    with _LOADED_LOCK:
        if key not in _LOADED:
            _LOADED[key] = LearnedScorer(model_text)
        return _LOADED[key]


def ranker_for(ranker_id: str) -> LearnedScorer:
    """A loaded model by its id; ``KeyError`` when no stored profile has loaded it in this process."""
    with _LOADED_LOCK:
        return _LOADED[ranker_id]
