"""Array kernels behind the history signals (repeat partnership, regional experience, similar past projects) and
the focused thematic value (the mean of each institution's best item scores, ``TopKRowMeans``).

Pure functions over the index's sparse matrices (scikit-learn style); ``engine.build_index`` precomputes what
does not depend on a request, the components (``matcher/components.py``) compute the rest per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from matcher.evidence import EvidenceWeights, recency

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# Regional experience: a past project counts this much when another participant is Kazakh or Central Asian,
# and 1 when another participant is from any other country neither in the EU nor associated to Horizon Europe.
CENTRAL_ASIA_PROJECT_WEIGHT = 2.0
# Similar past projects: the request's nearest past projects (by text) that count, and the least cosine one
# needs to count at all (below it, a "neighbour" is noise).
N_SIMILAR_PROJECTS = 200
MIN_SIMILAR_COSINE = 0.3


def decayed_coparticipation(membership: sp.csr_matrix, project_decay: FloatArray) -> sp.csr_matrix:
    """(n_nodes, n_nodes) sum over the projects two nodes shared of each project's recency factor; zero
    diagonal. A joint project of this year counts 1, one a half-life ago 0.5."""
    weighted = membership @ sp.diags(project_decay)
    shared = (weighted @ membership.T).tocsr()
    shared.setdiag(0)
    shared.eliminate_zeros()
    return shared


def decayed_ties(ties: Iterable[Any], n_nodes: int, *, weights: EvidenceWeights, reference_year: int
                 ) -> sp.csr_matrix:
    """(n_nodes, n_nodes) known partnerships between catalogue institutions (``TieInfo``: rows, type, year),
    each its type's tie weight times its recency, summed per pair, symmetric."""
    rows, cols, values = [], [], []
    for tie in ties:
        year = np.array([np.nan if tie.year is None else tie.year], dtype=float)
        value = weights.ties[tie.type] * float(recency(year, reference_year=reference_year,
                                                       recency=weights.recency)[0])
        a, b = tie.rows
        rows += [a, b]
        cols += [b, a]
        values += [value, value]
    return sp.csr_matrix((values, (rows, cols)), shape=(n_nodes, n_nodes))


def _regional_weight(country: str, *, central_asia: frozenset[str], associated: frozenset[str]) -> float:
    """How much a partner from ``country`` shows regional experience (0 for the EU, associated or unknown)."""
    if country in central_asia:
        return CENTRAL_ASIA_PROJECT_WEIGHT
    return 1.0 if country and country not in associated else 0.0


def regional_project_weights(membership: sp.csr_matrix, node_countries: npt.NDArray[np.str_], *,
                             central_asia: frozenset[str], associated: frozenset[str]) -> sp.csr_matrix:
    """(n_nodes, n_projects) for each participation, how much the project shows regional experience for that
    participant: ``CENTRAL_ASIA_PROJECT_WEIGHT`` when *another* participant is from ``central_asia``, else 1
    when another is from a third country (neither an EU member nor in ``associated``), else 0."""
    coo = membership.tocoo()
    in_ca = np.isin(node_countries, sorted(central_asia))
    in_outside = ~np.isin(node_countries, sorted(associated)) & (node_countries != "") & ~in_ca
    per_project_ca = np.bincount(coo.col, weights=in_ca[coo.row], minlength=membership.shape[1])
    per_project_out = np.bincount(coo.col, weights=in_outside[coo.row], minlength=membership.shape[1])
    others_ca = per_project_ca[coo.col] - in_ca[coo.row]
    others_out = per_project_out[coo.col] - in_outside[coo.row]
    value = np.where(others_ca > 0, CENTRAL_ASIA_PROJECT_WEIGHT, np.where(others_out > 0, 1.0, 0.0))
    out = sp.csr_matrix((value, (coo.row, coo.col)), shape=membership.shape)
    out.eliminate_zeros()
    return out


def regional_partnership_weights(partnerships: Sequence[Mapping[str, Any]], *, row_of: Mapping[str, int],
                                 countries: npt.NDArray[np.str_], central_asia: frozenset[str],
                                 associated: frozenset[str], weights: EvidenceWeights, reference_year: int,
                                 keep: Any) -> FloatArray:
    """(n,) known partnerships with institutions of ``central_asia`` (counting ``CENTRAL_ASIA_PROJECT_WEIGHT``)
    or of other third countries (not in ``associated``: 1), each its tie weight times its recency; both sides
    count one, a partner in no catalogue row by its country for the side that recorded it."""
    out = np.zeros(len(countries), dtype=np.float64)
    for p in partnerships:
        a = row_of.get(p["institution_id"])
        if a is None or not keep(p.get("year")):
            continue
        b = row_of.get(p.get("partner_id") or "")
        year = np.array([np.nan if p.get("year") is None else p["year"]], dtype=float)
        value = weights.ties[p["type"]] * float(recency(year, reference_year=reference_year,
                                                        recency=weights.recency)[0])
        partner_country = str(countries[b]) if b is not None else (p.get("partner_country") or "")
        sides = [(a, partner_country)] + ([(b, str(countries[a]))] if b is not None and b != a else [])
        for row, other in sides:
            if other == countries[row]:
                continue
            out[row] += value * _regional_weight(other, central_asia=central_asia, associated=associated)
    return out


def similar_projects(project_cosines: npt.NDArray[np.floating[Any]], text_projects: IntArray,
                     project_decay: FloatArray, *, n_projects: int = N_SIMILAR_PROJECTS,
                     min_cosine: float = MIN_SIMILAR_COSINE) -> tuple[IntArray, FloatArray]:
    """The past projects nearest the query (columns, best first; ``project_cosines``: every project's cosine
    with the query vector; only the ``text_projects`` count) and their weights: cosine above ``min_cosine``,
    rescaled to (0, 1], times the project's recency factor."""
    sims = np.asarray(project_cosines[text_projects], dtype=np.float64)
    k = min(n_projects, len(sims))
    if k == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    top = top[sims[top] > min_cosine]
    weight = (sims[top] - min_cosine) / (1.0 - min_cosine) * project_decay[text_projects[top]]
    return text_projects[top].astype(np.intp), weight.astype(np.float64)


@dataclass(frozen=True)
class TopKRowMeans:
    """Per row of a sparse (n, n_items) ``owners`` matrix (the item's weight in its owner's row), the mean of
    its ``k`` best ``item score × min(weight, 1)``, 0 for a row without items: the rule of
    ``evidence.raw_area_strength`` for one query vector, vectorised over all rows.

    The layout is built once per matrix (:meth:`from_owners`); a call costs one sparse product for the rows
    with at most ``k`` items (their mean is a weighted sum) and, for the longer rows, a gather into blocks
    of equal padded width (powers of two) and one ``np.partition`` per block. Each block's padding points at
    a slot holding -inf, so it never ranks among a row's best."""

    k: int
    short: sp.csr_matrix  # (n, n_items) rows with 1..k items: min(weight, 1) / their count; others empty
    long_rows: IntArray  # rows with more than k items
    long_items: IntArray  # their items, row after row
    long_weights: FloatArray  # min(weight, 1) of those items, aligned
    blocks: tuple[tuple[IntArray, IntArray], ...]  # (positions in long_rows, (m, width) positions in long_items)

    @classmethod
    def from_owners(cls, owners: sp.csr_matrix, k: int) -> TopKRowMeans:
        """The layout of ``owners`` (CSR) for means of the ``k`` best items per row."""
        owners = owners.tocsr()
        lengths = np.diff(owners.indptr)
        capped = owners.copy()
        capped.data = np.minimum(capped.data, 1.0)
        is_short = (lengths > 0) & (lengths <= k)
        scale = np.where(is_short, 1.0 / np.maximum(lengths, 1), 0.0)
        short = (sp.diags(scale) @ capped).tocsr()
        short.eliminate_zeros()
        long_rows = np.flatnonzero(lengths > k).astype(np.intp)
        long = capped[long_rows].tocsr()
        long_lengths = np.diff(long.indptr)
        blocks = []
        width = 1 << max(k, 1).bit_length()  # the first power of two above k
        low = k + 1
        while len(long_rows) and low <= long_lengths.max():
            members = np.flatnonzero((long_lengths >= low) & (long_lengths <= width)).astype(np.intp)
            if len(members):
                offsets = np.arange(width)
                positions = long.indptr[members][:, None] + offsets
                positions[offsets >= long_lengths[members][:, None]] = long.nnz  # the -inf slot
                blocks.append((members, positions.astype(np.intp)))
            low, width = width + 1, width * 2
        return cls(k=k, short=short, long_rows=long_rows, long_items=long.indices.astype(np.intp),
                   long_weights=np.asarray(long.data, dtype=np.float64), blocks=tuple(blocks))

    def __call__(self, item_scores: npt.NDArray[np.floating[Any]]) -> FloatArray:
        """(n,) the mean of each row's ``k`` best weighted ``item_scores`` (n_items,)."""
        scores = np.asarray(item_scores, dtype=np.float64)
        out = np.asarray(self.short @ scores, dtype=np.float64)
        if not len(self.long_rows):
            return out
        weighted = np.empty(len(self.long_items) + 1)
        np.multiply(scores[self.long_items], self.long_weights, out=weighted[:-1])
        weighted[-1] = -np.inf
        means = np.empty(len(self.long_rows))
        for members, positions in self.blocks:
            width = positions.shape[1]
            means[members] = np.partition(weighted[positions], width - self.k, axis=1)[:, width - self.k:].sum(
                axis=1) / self.k
        out[self.long_rows] = means
        return out
