"""The array kernels of a focused request against their plain definitions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import rankdata

from matcher.engine import grid_percentile, rank_percentile
from matcher.signals import TopKRowMeans


def _naive_top_k_means(owners: sp.csr_matrix, scores: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(owners.shape[0])
    for row in range(owners.shape[0]):
        start, end = owners.indptr[row], owners.indptr[row + 1]
        if start == end:
            continue
        weighted = scores[owners.indices[start:end]] * np.minimum(owners.data[start:end], 1.0)
        out[row] = np.sort(weighted)[::-1][:k].mean()
    return out


@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_k_row_means_match_their_definition(k: int) -> None:
    rng = np.random.default_rng(k)
    n, n_items = 300, 2000
    # row lengths from 0 to a few hundred, so every block width and the short rows are exercised
    lengths = np.minimum(rng.geometric(0.08, size=n) - 1, 400)
    lengths[:4] = [0, k, k + 1, 2 * k + 3]
    rows = np.repeat(np.arange(n), lengths)
    cols = np.concatenate([rng.choice(n_items, size=m, replace=False) for m in lengths])
    weights = rng.uniform(0.2, 1.6, size=len(cols))  # weights above 1 are capped at 1
    owners = sp.csr_matrix((weights, (rows, cols)), shape=(n, n_items))
    scores = np.round(rng.uniform(-0.2, 0.9, size=n_items), 2)  # rounded: ties among a row's items
    layout = TopKRowMeans.from_owners(owners, k)
    np.testing.assert_allclose(layout(scores), _naive_top_k_means(owners, scores, k), rtol=0, atol=1e-12)
    assert layout(scores.astype(np.float32)).dtype == np.float64


def test_top_k_row_means_of_an_empty_matrix_are_zero() -> None:
    layout = TopKRowMeans.from_owners(sp.csr_matrix((4, 6)), 3)
    np.testing.assert_array_equal(layout(np.ones(6)), np.zeros(4))


def test_grid_percentile_is_the_average_rank_percentile_at_its_resolution() -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(-1.0, 1.0, size=5000)
    values[:500] = values[500:1000]  # exact ties
    ranked = np.flatnonzero(rng.random(5000) < 0.7)
    mask = np.zeros(5000, dtype=bool)
    mask[ranked] = True
    # values on the grid: exactly the average-rank percentile, ties included (scipy's definition)
    on_grid = np.rint(values * 4096) / 4096
    expected = np.zeros(5000)
    expected[ranked] = rankdata(on_grid[ranked], method="average") / len(ranked)
    np.testing.assert_allclose(grid_percentile(on_grid, ranked, steps_per_unit=4096), expected, atol=1e-12)
    np.testing.assert_allclose(rank_percentile(on_grid, mask), expected, atol=1e-12)
    # off the grid: within half a cell's share of the rows of the exact value, 0 for rows not ranked
    got = grid_percentile(values, ranked, steps_per_unit=64)
    exact = rank_percentile(values, mask)
    cells = np.rint((values[ranked] + 1.0) * 64).astype(int)
    half_cell = np.bincount(cells)[cells] / 2 / len(ranked)
    assert np.all(np.abs(got[ranked] - exact[ranked]) <= half_cell + 1e-12)
    assert not got[~mask].any()
    assert not grid_percentile(values, np.zeros(0, dtype=np.intp)).any()
