"""What-if: how two scoring profiles' shortlists differ for the same requesters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from matcher.suggest import Matcher
from matcher.types import ScoringProfile, SuggestionRequest


class RequesterChange(BaseModel):
    """One requester's top-k under profile A and under profile B."""

    requester_id: str
    requester_name: str
    overlap: float = Field(description="|top-k A ∩ top-k B| / k (k = the longer list when fewer are eligible)")
    rank_correlation: float | None = Field(
        description="Kendall's tau over the union of both lists (absent = rank k+1); null when undefined")
    entered: list[str] = Field(description="Names in B's top-k but not A's")
    left: list[str] = Field(description="Names in A's top-k but not B's")


class WhatIfReport(BaseModel):
    programme: str
    areas: list[str]
    k: int
    n_requesters: int
    mean_overlap: float
    mean_rank_correlation: float | None
    requesters: list[RequesterChange]


def kazakh_universities(matcher: Matcher) -> list[str]:
    """The default requesters: every Kazakh university in the catalogue."""
    return [i.id for i in matcher.index.institutions if i.country == "KZ" and i.kind == "university"]


def compare_rankings(matcher: Matcher, a: ScoringProfile, b: ScoringProfile, *, programme: str,
                     areas: Sequence[str] = (), requesters: Sequence[str] | None = None, k: int = 10
                     ) -> WhatIfReport:
    """Each requester's top ``k`` under ``a`` and ``b``: overlap, rank correlation, who entered and left."""
    # imported here: scipy.stats takes 0.6 s to import, and the API imports this module at every start
    from scipy.stats import kendalltau

    ids = list(requesters) if requesters is not None else kazakh_universities(matcher)
    changes = []
    for requester in ids:
        request = SuggestionRequest(requester_id=requester, programme=programme, areas=list(areas), k=k)
        top_a = [s.institution for s in matcher.suggest(request, a).data]
        top_b = [s.institution for s in matcher.suggest(request, b).data]
        ids_a, ids_b = [i.id for i in top_a], [i.id for i in top_b]
        union = list(dict.fromkeys(ids_a + ids_b))
        rank_a = [ids_a.index(x) if x in ids_a else k for x in union]
        rank_b = [ids_b.index(x) if x in ids_b else k for x in union]
        tau = kendalltau(rank_a, rank_b).statistic if len(union) > 1 else float("nan")
        names = {i.id: i.name for i in top_a + top_b}
        changes.append(RequesterChange(
            requester_id=requester, requester_name=matcher.index.institutions[matcher.index.row_of[requester]].name,
            overlap=round(len(set(ids_a) & set(ids_b)) / max(len(ids_a), len(ids_b), 1), 4),
            rank_correlation=None if np.isnan(tau) else round(float(tau), 4),
            entered=[names[x] for x in ids_b if x not in ids_a], left=[names[x] for x in ids_a if x not in ids_b]))
    taus = [c.rank_correlation for c in changes if c.rank_correlation is not None]
    return WhatIfReport(
        programme=programme, areas=list(areas), k=k, n_requesters=len(changes),
        mean_overlap=round(float(np.mean([c.overlap for c in changes])), 4) if changes else 0.0,
        mean_rank_correlation=round(float(np.mean(taus)), 4) if taus else None, requesters=changes)
