"""Ranking metrics, as pure functions of the ranks at which the relevant candidates were placed.

A ranking over tens of thousands of candidates is summarised per query by ``relevant_ranks``: the
(1-based) rank of each relevant candidate, with ties between equal scores averaged as scikit-learn does,
so the result never depends on the order candidates were given in. Every metric takes those ranks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def relevant_ranks(scores: FloatArray, relevant: npt.NDArray[np.intp]) -> FloatArray:
    """Ranks (1 = best) of the ``relevant`` positions in ``scores``, ties averaged.

    A candidate tied with ``t`` others at a score that ``g`` candidates beat gets rank ``g + 1 + t / 2``.

    >>> relevant_ranks(np.array([0.9, 0.5, 0.5, 0.1]), np.array([1, 3]))
    array([2.5, 4. ])
    """
    values = scores[relevant]
    greater = (scores[None, :] > values[:, None]).sum(axis=1)
    equal = (scores[None, :] == values[:, None]).sum(axis=1) - 1
    return greater + 1 + equal / 2.0


def recall_at_k(ranks: FloatArray, *, k: int) -> float:
    """Share of the relevant candidates ranked within the top ``k`` (denominator: all relevant ones).

    >>> recall_at_k(np.array([1.0, 7.0, 60.0]), k=10)
    0.6666666666666666
    """
    if len(ranks) == 0:
        return 0.0
    return float((ranks <= k).sum() / len(ranks))


def ndcg_at_k(ranks: FloatArray, *, k: int) -> float:
    """Normalised discounted cumulative gain at ``k`` with binary gain: DCG = sum over relevant candidates
    ranked within ``k`` of 1 / log2(rank + 1), divided by the DCG of the ideal ranking (all relevant first).

    >>> round(ndcg_at_k(np.array([3.0]), k=10), 3)  # one relevant item at rank 3: 1 / log2(4)
    0.5
    """
    if len(ranks) == 0:
        return 0.0
    hits = ranks[ranks <= k]
    dcg = float((1.0 / np.log2(hits + 1)).sum())
    ideal = float((1.0 / np.log2(np.arange(1, min(len(ranks), k) + 1) + 1)).sum())
    return dcg / ideal


def reciprocal_rank(ranks: FloatArray) -> float:
    """1 / rank of the best-ranked relevant candidate (0 when there is none).

    >>> reciprocal_rank(np.array([4.0, 2.0]))
    0.5
    """
    return float(1.0 / ranks.min()) if len(ranks) else 0.0


METRICS = ("recall@10", "recall@50", "ndcg@10", "mrr")


def query_metrics(ranks: FloatArray) -> dict[str, float]:
    """All reported metrics for one query's relevant ranks."""
    return {
        "recall@10": recall_at_k(ranks, k=10),
        "recall@50": recall_at_k(ranks, k=50),
        "ndcg@10": ndcg_at_k(ranks, k=10),
        "mrr": reciprocal_rank(ranks),
    }
