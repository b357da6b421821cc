"""Learn from history: component weights (a logistic regression) and a learned ranker (LightGBM LambdaRank).

Training pairs come from the project-idea task on a training window that ends where validation starts:
for each project, its real partners (label 1) and sampled other institutions (label 0), described by
their component values. A logistic regression on those values gives one coefficient per component;
negative coefficients are set to 0 (a profile's weights are non-negative) and the rest normalised.
The regularisation strength is chosen by time-ordered cross-validation (earlier projects train, later
ones validate), so no fold learns from its own future.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.utils.validation import check_is_fitted, check_X_y

from matcher.evaluation import VALUES_ONLY, EvalQuery, evaluation_programme, query_values
from matcher.metrics import ndcg_at_k
from matcher.ranker import CATEGORICAL, FEATURES, RERANK_DEPTH, feature_matrix, model_id
from matcher.suggest import Matcher
from matcher.types import COMPONENTS, ComponentWeights, ScoringProfile, SuggestionRequest, TiePreference

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

# Per training query: this many random non-partners, and as many "hard" ones from the top of the base
# profile's ranking (random negatives alone teach little but popularity). Hard negatives come from the
# combined ranking, not from one component: drawing them by thematic similarity alone would make thematic
# similarity look anti-correlated with partnership and drive its weight to 0.
N_RANDOM_NEGATIVES = 20
N_HARD_NEGATIVES = 20
N_HARD_POOL = 200
C_GRID = (0.01, 0.1, 1.0, 10.0)
N_TIME_FOLDS = 3


class WeightLearner(BaseEstimator):
    """Logistic regression on component values; ``weights_`` are its non-negative, normalised coefficients.

    Parameters
    ----------
    C : float, default 1.0
        Inverse regularisation strength of the logistic regression.
    random_state : int or None, default None
        Seed of the solver.
    """

    def __init__(self, C: float = 1.0, *, random_state: int | None = None) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, X: FloatArray, y: npt.NDArray[np.int_]) -> WeightLearner:
        """Fit on ``X`` (n_pairs, n_components) component values and ``y`` 0/1 partner labels."""
        X, y = check_X_y(X, y)
        model = LogisticRegression(C=self.C, random_state=self.random_state, max_iter=1000).fit(X, y)
        coef = np.clip(model.coef_.ravel(), 0.0, None)
        self.coef_ = model.coef_.ravel()
        self.weights_ = coef / coef.sum() if coef.sum() > 0 else np.full(X.shape[1], 1.0 / X.shape[1])
        self.model_ = model
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: FloatArray) -> FloatArray:
        """Probability of being a partner, from the underlying logistic regression."""
        check_is_fitted(self)
        return self.model_.predict_proba(X)


def training_pairs(matcher: Matcher, queries: Sequence[EvalQuery], *, base: ScoringProfile,
                   random_state: int = 0) -> tuple[FloatArray, npt.NDArray[np.int_], npt.NDArray[np.int_]]:
    """Component values (as the ranking core gives them) of partners and sampled non-partners:
    X (n_pairs, n_components), y, query number."""
    weights = base.weights.normalised()
    w = np.array([weights[name] for name in COMPONENTS])
    rng = np.random.default_rng(random_state)
    xs, ys, groups = [], [], []
    for number, query in enumerate(queries):
        values = query_values(matcher, query)
        blocked = np.zeros(matcher.index.n, dtype=bool)
        blocked[query.truth] = True
        blocked[query.exclude] = True
        candidates = np.flatnonzero(~blocked)
        random_neg = rng.choice(candidates, size=min(N_RANDOM_NEGATIVES, len(candidates)), replace=False)
        similar = np.argsort(-(values @ w))[:N_HARD_POOL]
        similar = similar[~blocked[similar]]
        hard_neg = rng.choice(similar, size=min(N_HARD_NEGATIVES, len(similar)), replace=False)
        negatives = np.unique(np.concatenate([random_neg, hard_neg]))
        for rows, label in ((query.truth, 1), (negatives, 0)):
            xs.append(values[rows])
            ys.append(np.full(len(rows), label))
            groups.append(np.full(len(rows), number))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(groups)


def feedback_pairs(matcher: Matcher, feedback: Sequence[tuple[str, str, int]]
                   ) -> tuple[FloatArray, npt.NDArray[np.int_]]:
    """Offices' verdicts as extra labels: (requester id, suggested institution id, 1 accepted / 0 rejected),
    described by the components the ranking core gives the candidate for the requester's own request (its
    profile as the query). Pairs whose requester has no research evidence or is unknown are skipped (there is
    nothing to compare)."""
    index = matcher.index
    xs, ys = [], []
    for requester, candidate, label in feedback:
        r, c = index.row_of.get(requester), index.row_of.get(candidate)
        if r is None or c is None or c == r or not index.has_evidence[r]:
            continue
        request = SuggestionRequest(requester_id=requester, programme=evaluation_programme(index), eligibility="all",
                                    ties=TiePreference.neutral)
        ranking = matcher.rank(request, VALUES_ONLY)
        xs.append(ranking.values[np.searchsorted(ranking.rows, c)])
        ys.append(label)
    if not xs:
        return np.zeros((0, len(COMPONENTS))), np.zeros(0, dtype=int)
    return np.vstack(xs), np.array(ys)


def choose_c(X: FloatArray, y: npt.NDArray[np.int_], groups: npt.NDArray[np.int_], *, random_state: int = 0
             ) -> tuple[float, dict[float, float]]:
    """The C with the lowest mean log-loss over time-ordered folds (queries are numbered by start date)."""
    edges = np.linspace(groups.min(), groups.max() + 1, N_TIME_FOLDS + 2).astype(int)
    losses: dict[float, float] = {}
    for c in C_GRID:
        fold_losses = []
        for k in range(1, N_TIME_FOLDS + 1):
            train, test = groups < edges[k], (groups >= edges[k]) & (groups < edges[k + 1])
            if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
                continue
            learner = WeightLearner(C=c, random_state=random_state).fit(X[train], y[train])
            fold_losses.append(log_loss(y[test], learner.predict_proba(X[test])[:, 1]))
        losses[c] = float(np.mean(fold_losses)) if fold_losses else float("inf")
    best = min(losses, key=lambda c: (losses[c], c))
    return best, losses


def learn_profile(matcher: Matcher, queries: Sequence[EvalQuery], *, base: ScoringProfile,
                  feedback: Sequence[tuple[str, str, int]] = (), random_state: int = 0
                  ) -> tuple[ScoringProfile, dict[str, object]]:
    """Fit weights on ``queries`` (sorted by start date) plus office ``feedback`` labels; return the profile
    and its provenance. C is chosen on the history alone; the final fit adds the feedback pairs."""
    if not queries:  # (idea_task refuses an empty window before this; a caller passing none is told why)
        raise ValueError("no training query: weights cannot be learned from an empty history")
    ordered = sorted(queries, key=lambda q: (q.start_date or q.id, q.id))
    X, y, groups = training_pairs(matcher, ordered, base=base, random_state=random_state)
    c, losses = choose_c(X, y, groups, random_state=random_state)
    X_feedback, y_feedback = feedback_pairs(matcher, feedback)
    X, y = np.vstack([X, X_feedback]), np.concatenate([y, y_feedback])
    learner = WeightLearner(C=c, random_state=random_state).fit(X, y)
    weights = dict(zip(COMPONENTS, (round(float(w), 4) for w in learner.weights_), strict=True))
    data_hash = hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()[:16]
    provenance = {
        "method": "logistic regression on component values, negative coefficients set to 0",
        "components": list(COMPONENTS), "coefficients": [round(float(v), 4) for v in learner.coef_],
        "C": c, "cv_log_loss": {str(k): round(v, 4) for k, v in losses.items()},
        "n_queries": len(ordered), "n_pairs": int(len(y)), "n_positive": int(y.sum()),
        "n_feedback_pairs": int(len(y_feedback)),
        "training_data_sha256": data_hash, "sklearn": sklearn.__version__,
    }
    logger.info("learned weights %s (C=%s) from %d pairs", weights, c, len(y))
    profile = base.model_copy(update={"weights": ComponentWeights(**weights)})
    return profile, provenance


# --- the learned ranker (LightGBM LambdaRank; the model and its features: matcher/ranker.py) -------------------

# Per training query, the list the model learns to re-order is drawn from what it will re-order: the base
# profile's best RERANK_DEPTH (ranker.py). Its partners there are the positives, and negatives are sampled from
# it uniformly. (Partners from anywhere against negatives from the top taught the first model that a high
# base score means "not a partner": it re-ranked worse than its base, recall@50 0.120 against 0.253.)
N_RANKER_NEGATIVES = 200
RANKER_PARAM_GRID: tuple[dict[str, Any], ...] = (
    {"num_leaves": 15, "n_estimators": 150, "learning_rate": 0.05, "min_child_samples": 20},
    {"num_leaves": 31, "n_estimators": 300, "learning_rate": 0.03, "min_child_samples": 20},
    {"num_leaves": 7, "n_estimators": 300, "learning_rate": 0.05, "min_child_samples": 40},
)




def _query_groups(matcher: Matcher, queries: Sequence[EvalQuery], *, base: ScoringProfile, random_state: int
                  ) -> tuple[FloatArray, npt.NDArray[np.int_], list[int]]:
    """Features and labels of each query's list (its partners among the base profile's best ``RERANK_DEPTH``,
    and negatives sampled from those), grouped; queries with no partner there are left out."""
    rng = np.random.default_rng(random_state)
    index = matcher.index
    xs, ys, sizes = [], [], []
    for query in queries:
        ranking = matcher.rank(query.request(), base)
        values = np.zeros((index.n, len(COMPONENTS)))
        values[ranking.rows] = ranking.values
        scores = ranking.full_scores(index.n)  # the base profile's, as the core ranked them
        scores[query.exclude] = -np.inf
        depth = min(RERANK_DEPTH, len(scores))
        shortlist = np.argpartition(-scores, depth - 1)[:depth]
        shortlist = shortlist[np.isfinite(scores[shortlist])]
        is_partner = np.isin(shortlist, query.truth)
        positives = shortlist[is_partner]
        if not len(positives):  # a list without a partner teaches a ranking nothing
            continue
        others = shortlist[~is_partner]
        negatives = rng.choice(others, size=min(N_RANKER_NEGATIVES, len(others)), replace=False)
        rows = np.concatenate([positives, negatives]).astype(np.intp)
        xs.append(feature_matrix(values[rows], index=index, query=ranking.query, rows=rows))
        ys.append(np.r_[np.ones(len(positives)), np.zeros(len(negatives))].astype(int))
        sizes.append(len(rows))
    return np.vstack(xs), np.concatenate(ys), sizes


def _fit(X: FloatArray, y: npt.NDArray[np.int_], sizes: list[int], params: dict[str, Any], random_state: int) -> Any:
    import lightgbm

    model = lightgbm.LGBMRanker(objective="lambdarank", random_state=random_state, n_jobs=2, verbose=-1,
                                deterministic=True, force_row_wise=True, **params)
    model.fit(X, y, group=sizes, feature_name=list(FEATURES), categorical_feature=list(CATEGORICAL))
    return model


def _mean_ndcg(model: Any, X: FloatArray, y: npt.NDArray[np.int_], sizes: list[int]) -> float:
    """Mean nDCG@10 of the model's order over the candidate lists (the sampled candidates of each query)."""
    scores = model.booster_.predict(X)
    out, start = [], 0
    for size in sizes:
        s, labels = scores[start:start + size], y[start:start + size]
        order = np.argsort(-s, kind="stable")
        ranks = (np.flatnonzero(labels[order] == 1) + 1).astype(np.float64)
        out.append(ndcg_at_k(ranks, k=10))
        start += size
    return float(np.mean(out)) if out else 0.0


def train_ranker(matcher: Matcher, queries: Sequence[EvalQuery], *, base: ScoringProfile, random_state: int = 0
                 ) -> tuple[str, dict[str, Any]]:
    """Fit the ranker on ``queries`` (history before the validation cutoff, ranked by ``matcher``); choose the
    parameters on time-ordered folds. Returns the model text and its provenance (features, parameters, fold
    scores, training-data hash, sizes)."""
    if not queries:
        raise ValueError("no training query: a ranker cannot be learned from an empty history")
    ordered = sorted(queries, key=lambda q: (q.start_date.isoformat() if q.start_date else "", q.id))
    X, y, sizes = _query_groups(matcher, ordered, base=base, random_state=random_state)
    if not sizes:
        raise ValueError(f"no training project has a partner among the base profile's best {RERANK_DEPTH}: "
                         "there is nothing to learn to re-order")
    bounds = np.cumsum([0, *sizes])
    edges = np.linspace(0, len(sizes), N_TIME_FOLDS + 2).astype(int)
    fold_scores: dict[int, list[float]] = {k: [] for k in range(len(RANKER_PARAM_GRID))}
    for k in range(1, N_TIME_FOLDS + 1):
        train_q, test_q = slice(0, edges[k]), slice(edges[k], edges[k + 1])
        if edges[k] == 0 or edges[k + 1] == edges[k]:
            continue
        train_rows = slice(bounds[train_q.start], bounds[train_q.stop])
        test_rows = slice(bounds[test_q.start], bounds[test_q.stop])
        for p, params in enumerate(RANKER_PARAM_GRID):
            model = _fit(X[train_rows], y[train_rows], sizes[train_q], params, random_state)
            fold_scores[p].append(_mean_ndcg(model, X[test_rows], y[test_rows], sizes[test_q]))
    means = {p: float(np.mean(v)) if v else 0.0 for p, v in fold_scores.items()}
    best = max(means, key=lambda p: (means[p], -p))
    model = _fit(X, y, sizes, RANKER_PARAM_GRID[best], random_state)
    text = model.booster_.model_to_string()
    gains = model.booster_.feature_importance(importance_type="gain")
    import lightgbm

    provenance = {
        "method": "LightGBM LambdaRank over the component values and further features, re-ranking the base "
                  f"profile's best {RERANK_DEPTH}",
        "features": list(FEATURES), "categorical": list(CATEGORICAL), "params": RANKER_PARAM_GRID[best],
        "fold_ndcg@10": {str(p): round(v, 4) for p, v in means.items()}, "param_grid": list(RANKER_PARAM_GRID),
        "gain": {name: round(float(g), 2) for name, g in sorted(zip(FEATURES, gains, strict=True),
                                                                 key=lambda item: -item[1])},
        "n_queries": len(ordered), "n_lists": len(sizes), "n_rows": int(len(y)), "n_positive": int(y.sum()),
        "training_data_sha256": hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()[:16],
        "model_id": model_id(text), "lightgbm": lightgbm.__version__,
    }
    logger.info("ranker trained on %d queries (%d rows): params %s, fold nDCG@10 %s", len(ordered), len(y),
                RANKER_PARAM_GRID[best], provenance["fold_ndcg@10"])
    return text, provenance
