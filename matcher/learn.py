"""Learn component weights from history: which components separate true partners from the rest.

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

import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.utils.validation import check_is_fitted, check_X_y

from matcher.engine import CatalogueIndex
from matcher.evaluation import EvalQuery, component_matrix
from matcher.types import COMPONENTS, ComponentWeights, ScoringProfile

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


def training_pairs(index: CatalogueIndex, queries: Sequence[EvalQuery], *, base: ScoringProfile,
                   random_state: int = 0) -> tuple[FloatArray, npt.NDArray[np.int_], npt.NDArray[np.int_]]:
    """Component values of partners and sampled non-partners: X (n_pairs, n_components), y, query number."""
    weights = base.weights.normalised()
    w = np.array([weights[name] for name in COMPONENTS])
    rng = np.random.default_rng(random_state)
    xs, ys, groups = [], [], []
    for number, query in enumerate(queries):
        values = component_matrix(index, query)
        blocked = np.zeros(index.n, dtype=bool)
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


def feedback_pairs(index: CatalogueIndex, feedback: Sequence[tuple[str, str, int]]
                   ) -> tuple[FloatArray, npt.NDArray[np.int_]]:
    """Offices' verdicts as extra labels: (requester id, suggested institution id, 1 accepted / 0 rejected),
    described by the components with the requester's own profile as the query. Pairs whose requester has
    no research evidence or is unknown are skipped (there is nothing to compare)."""
    xs, ys = [], []
    for requester, candidate, label in feedback:
        r, c = index.row_of.get(requester), index.row_of.get(candidate)
        if r is None or c is None or not index.has_evidence[r]:
            continue
        query = EvalQuery(id=f"feedback:{requester}", requester_row=r, vector=index.vectors[r], text=None,
                          truth=np.array([c], dtype=np.intp), newcomers=np.array([], dtype=np.intp),
                          exclude=np.array([r], dtype=np.intp))
        xs.append(component_matrix(index, query)[c])
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


def learn_profile(index: CatalogueIndex, queries: Sequence[EvalQuery], *, base: ScoringProfile,
                  feedback: Sequence[tuple[str, str, int]] = (), random_state: int = 0
                  ) -> tuple[ScoringProfile, dict[str, object]]:
    """Fit weights on ``queries`` (sorted by start date) plus office ``feedback`` labels; return the profile
    and its provenance. C is chosen on the history alone; the final fit adds the feedback pairs."""
    if not queries:  # (idea_task refuses an empty window before this; a caller passing none is told why)
        raise ValueError("no training query: weights cannot be learned from an empty history")
    ordered = sorted(queries, key=lambda q: (q.start_date or q.id, q.id))
    X, y, groups = training_pairs(index, ordered, base=base, random_state=random_state)
    c, losses = choose_c(X, y, groups, random_state=random_state)
    X_feedback, y_feedback = feedback_pairs(index, feedback)
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
