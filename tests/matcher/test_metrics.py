"""Ranking metrics: hand-computed values, tie handling, and scikit-learn as an oracle."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from matcher.metrics import ndcg_at_k, query_metrics, recall_at_k, reciprocal_rank, relevant_ranks


def test_perfect_and_empty_rankings() -> None:
    scores = np.array([0.9, 0.8, 0.1, 0.0])
    perfect = relevant_ranks(scores, np.array([0, 1]))
    assert query_metrics(perfect) == {"recall@10": 1.0, "recall@50": 1.0, "ndcg@10": 1.0, "mrr": 1.0}
    assert query_metrics(np.array([])) == {"recall@10": 0.0, "recall@50": 0.0, "ndcg@10": 0.0, "mrr": 0.0}


def test_one_relevant_at_rank_three() -> None:
    ranks = relevant_ranks(np.array([0.9, 0.8, 0.7, 0.1]), np.array([2]))
    assert ranks.tolist() == [3.0]
    assert ndcg_at_k(ranks, k=10) == pytest.approx(0.5)
    assert reciprocal_rank(ranks) == pytest.approx(1 / 3)
    assert recall_at_k(ranks, k=2) == 0.0


def test_shifting_scores_changes_nothing() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(50)
    relevant = np.array([3, 17, 40])
    assert relevant_ranks(scores + 7.0, relevant).tolist() == relevant_ranks(scores, relevant).tolist()


@pytest.mark.parametrize("seed", range(5))
def test_ndcg_agrees_with_sklearn_on_binary_relevance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.random(30)
    relevant = rng.choice(30, size=4, replace=False)
    y_true = np.zeros(30)
    y_true[relevant] = 1
    ours = ndcg_at_k(relevant_ranks(scores, relevant), k=10)
    assert ours == pytest.approx(ndcg_score(y_true[None], scores[None], k=10))


def test_ties_are_averaged_so_input_order_does_not_matter() -> None:
    scores = np.array([0.5, 0.5, 0.5, 0.5])
    assert relevant_ranks(scores, np.array([0])).tolist() == [2.5]
    assert relevant_ranks(scores, np.array([3])).tolist() == [2.5]
