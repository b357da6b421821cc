"""Portfolio matching for a national office: partners for a set of requesters at once, so that each requester
gets ``k`` partners, no partner more than ``c`` requesters, and no requester more than ``max_per_country``
partners of one country, maximising the total score.

Two layers, as the style guide asks:

- :func:`assign` is the pure kernel: a score matrix (requesters x candidates, ``-inf`` where a candidate is not
  eligible for a requester) and the candidates' countries in, an :class:`Assignment` out. It is a min-cost flow
  (OR-Tools ``SimpleMinCostFlow``)::

      source --k--> requester --max_per_country--> requester x country --1, -score--> candidate --c--> sink

  solved as a *maximum* flow of minimum cost: first as many (requester, partner) pairs as the capacities allow
  (every requester gets ``k`` whenever that is possible at all), then, among those, the largest total score.
  Scores are integer-scaled (``SCORE_SCALE``: a resolution of 1e-6) because the solver works in integers.
  An optional ``country_bonus`` rewards each requester's *distinct* countries: the first unit through a
  requester x country node earns the bonus, further units do not (a concave reward, which a min-cost flow
  optimises exactly). It is 0 unless asked for, and it is reported apart from the scores.

  Infeasibility is reported, never raised: a requester that cannot get ``k`` partners gets as many as the
  capacities allow, with a :class:`Shortfall` saying how many and why (too few eligible candidates, the
  per-country cap, or partners already taken by other requesters up to ``c``). Only malformed input (shapes,
  non-positive ``k``/``c``/``max_per_country``) raises.

- :func:`plan_portfolio` builds the score matrix with the one ranking core (``Matcher.rank``, one ranking per
  requester, the same scores ``POST /suggestions`` ranks by before its diversity re-ranking) over a candidate
  pool, the union of every requester's top ``pool_size``, solves it, and compares each requester's portfolio
  with its independent top-k. The requesters themselves are never candidates (an office matches its
  universities with partners, not with each other).

Requesters can be chosen as "the ``n`` strongest institutions of a country and kind in an area"
(:func:`strongest_in_area`): strength is the area-strength percentile of ``CatalogueIndex.area_strength``, the
percentile among institutions with research evidence that ``Matcher.area_strengths`` shows; institutions
without research evidence are never selected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from matcher.components import IntArray
from matcher.engine import CatalogueIndex, FloatArray
from matcher.ranking import RequestError
from matcher.suggest import Matcher
from matcher.types import ScoringProfile, SuggestionRequest
from seed_data.countries import is_country, normalise_country
from seed_data.tables import InstitutionKind

logger = logging.getLogger(__name__)

# The solver works in integers: scores (and the country bonus) are multiplied by this and rounded, so two
# scores closer than 1e-6 count as equal. Scores of weight profiles lie in [0, 1]; a learned ranker's are of
# order 1 too, far from overflowing int64 (|score| * SCALE * pairs < 2**63).
SCORE_SCALE = 1_000_000
MAX_ABS_SCORE = 1e6
# The candidate pool: the union of every requester's top ``max(POOL_FACTOR * k, MIN_POOL)``. A partner outside
# every requester's pool would be a worse choice for each of them than ``pool_size`` others, so the pool loses
# an optimal partner only when all of those are taken (at ``c``) or capped by country.
POOL_FACTOR = 5
MIN_POOL = 50
# the kind :func:`strongest_in_area` selects by default (the catalogue's own name for higher education)
HIGHER_EDUCATION: str = InstitutionKind.university.value


@dataclass(frozen=True)
class Shortfall:
    """A requester that got fewer than ``k`` partners: how many it got and why."""

    requester: int  # row of the score matrix
    assigned: int
    wanted: int
    reason: str


@dataclass(frozen=True)
class Assignment:
    """The kernel's answer: per requester the candidate columns assigned (best score first)."""

    partners: list[IntArray]
    total_score: float  # sum of the assigned pairs' scores
    bonus: float  # country bonus earned (0 without ``country_bonus``)
    shortfalls: list[Shortfall]
    n_candidates: int

    def load(self) -> IntArray:
        """(n_candidates,) how many requesters each candidate was assigned to."""
        out = np.zeros(self.n_candidates, dtype=np.intp)
        for cols in self.partners:
            np.add.at(out, cols, 1)
        return out


def _check_counts(k: int, c: int, max_per_country: int | None, country_bonus: float) -> None:
    for name, value in (("k", k), ("c", c), ("max_per_country", max_per_country)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1):
            raise RequestError(name, f"{name} must be a positive integer, got {value!r}")
    if not np.isfinite(country_bonus) or country_bonus < 0:
        raise RequestError("country_bonus", f"country_bonus must be a finite number >= 0, got {country_bonus!r}")


def _shortfall_reason(row: FloatArray, country_codes: IntArray, *, k: int, c: int, max_per_country: int | None,
                      assigned: int) -> str:
    """Why a requester got ``assigned`` < ``k`` partners."""
    eligible = np.isfinite(row)
    n_eligible = int(eligible.sum())
    if n_eligible < k:
        return f"only {n_eligible} eligible candidate(s) for this requester"
    if max_per_country is not None:
        per_country = np.bincount(country_codes[eligible])
        reachable = int(np.minimum(per_country, max_per_country).sum())
        if reachable < k:
            return (f"its {n_eligible} eligible candidates come from {int((per_country > 0).sum())} countries: with "
                    f"at most {max_per_country} per country only {reachable} can be taken")
    return (f"{k - assigned} more would need partners that other requesters already have, each partner taking at "
            f"most {c} requesters")


def assign(scores: npt.ArrayLike, countries: Sequence[str] | npt.NDArray[np.str_], *, k: int, c: int,
           max_per_country: int | None = None, country_bonus: float = 0.0) -> Assignment:
    """Assign each requester (row of ``scores``) up to ``k`` candidates (columns) so that no candidate serves more
    than ``c`` requesters and no requester gets more than ``max_per_country`` candidates of one country
    (``countries``, aligned with the columns; None: no cap), maximising first the number of pairs, then the total
    score plus ``country_bonus`` per distinct (requester, country). ``-inf`` or NaN scores mark pairs that may not
    be assigned. Requesters that get fewer than ``k`` are listed in ``shortfalls`` with the reason."""
    _check_counts(k, c, max_per_country, country_bonus)
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"scores must be a 2-d (requesters x candidates) array, got shape {matrix.shape}")
    n_req, n_cand = matrix.shape
    country_array = np.asarray(countries, dtype=str)
    if country_array.shape != (n_cand,):
        raise ValueError(f"countries must have one entry per candidate ({n_cand}), got shape {country_array.shape}")
    matrix = np.where(np.isnan(matrix), -np.inf, matrix)
    finite = np.isfinite(matrix)
    if finite.any() and np.abs(matrix[finite]).max() > MAX_ABS_SCORE:
        raise ValueError(f"scores must lie within ±{MAX_ABS_SCORE:g} to be scaled to integers")
    _, country_codes = np.unique(country_array, return_inverse=True)
    country_codes = country_codes.astype(np.intp)
    cap = k if max_per_country is None else min(max_per_country, k)

    # nodes: 0 source, 1 sink, requesters, requester x country nodes, candidates
    req_i, cand_j = np.nonzero(finite)
    pair_country = country_codes[cand_j]
    groups, group_of_pair = np.unique(np.column_stack([req_i, pair_country]), axis=0, return_inverse=True) \
        if len(req_i) else (np.zeros((0, 2), dtype=np.intp), np.zeros(0, dtype=np.intp))
    group_of_pair = np.asarray(group_of_pair).reshape(-1)
    first_req, first_group = 2, 2 + n_req
    first_cand = first_group + len(groups)
    sink = 1
    tails: list[IntArray] = []
    heads: list[IntArray] = []
    caps: list[npt.NDArray[np.int64]] = []
    costs: list[npt.NDArray[np.int64]] = []

    def arcs(t: npt.ArrayLike, h: npt.ArrayLike, capacity: npt.ArrayLike, cost: npt.ArrayLike) -> None:
        t_arr = np.asarray(t, dtype=np.intp).reshape(-1)
        tails.append(t_arr)
        heads.append(np.broadcast_to(np.asarray(h, dtype=np.intp), t_arr.shape))
        caps.append(np.broadcast_to(np.asarray(capacity, dtype=np.int64), t_arr.shape))
        costs.append(np.broadcast_to(np.asarray(cost, dtype=np.int64), t_arr.shape))

    arcs(np.zeros(n_req), first_req + np.arange(n_req), k, 0)
    group_req = first_req + groups[:, 0]
    group_node = first_group + np.arange(len(groups))
    bonus = round(country_bonus * SCORE_SCALE)
    if bonus > 0:  # the first partner of a country earns the bonus, further ones do not
        arcs(group_req, group_node, 1, -bonus)
        if cap > 1:
            arcs(group_req, group_node, cap - 1, 0)
    else:
        arcs(group_req, group_node, cap, 0)
    n_fixed = sum(len(t) for t in tails)
    arcs(first_group + group_of_pair, first_cand + cand_j, 1, -np.rint(matrix[req_i, cand_j] * SCORE_SCALE))
    arcs(first_cand + np.arange(n_cand), np.full(n_cand, sink), c, 0)

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(np.concatenate(tails).astype(np.int32),
                                              np.concatenate(heads).astype(np.int32),
                                              np.concatenate(caps).astype(np.int64),
                                              np.concatenate(costs).astype(np.int64))
    # as much flow as every requester could take; the max-flow variant sends what the capacities let through
    flow.set_node_supply(0, n_req * k)
    flow.set_node_supply(sink, -n_req * k)
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:  # with integer capacities and bounded costs this does not happen: say so if it does
        raise RuntimeError(f"the min-cost flow solver ended with status {status!r}")
    pair_arcs = np.arange(n_fixed, n_fixed + len(req_i), dtype=np.int32)
    used = np.asarray(flow.flows(pair_arcs), dtype=np.int64) > 0 if len(pair_arcs) else np.zeros(0, dtype=bool)
    partners: list[IntArray] = []
    shortfalls: list[Shortfall] = []
    for i in range(n_req):
        cols = cand_j[used & (req_i == i)]
        cols = cols[np.argsort(-matrix[i, cols], kind="stable")]
        partners.append(cols.astype(np.intp))
        if len(cols) < k:
            shortfalls.append(Shortfall(requester=i, assigned=len(cols), wanted=k, reason=_shortfall_reason(
                matrix[i], country_codes, k=k, c=c, max_per_country=max_per_country, assigned=len(cols))))
    total = float(sum(matrix[i, cols].sum() for i, cols in enumerate(partners)))
    n_countries = sum(len(np.unique(country_codes[cols])) for cols in partners)
    return Assignment(partners=partners, total_score=total, bonus=country_bonus * n_countries if bonus else 0.0,
                      shortfalls=shortfalls, n_candidates=n_cand)


def independent_top(scores: FloatArray, countries: npt.NDArray[np.str_], *, k: int,
                    max_per_country: int | None) -> IntArray:
    """One requester's best ``k`` columns of ``scores`` alone (no partner shared with anyone): by score, ties by
    column, skipping countries at ``max_per_country``. Greedy is optimal here: the country cap alone is a
    partition matroid."""
    finite = np.flatnonzero(np.isfinite(scores))
    order = finite[np.lexsort((finite, -scores[finite]))]
    taken: list[int] = []
    per_country: dict[str, int] = {}
    for col in order:
        if len(taken) == k:
            break
        country = str(countries[col])
        if max_per_country is not None and per_country.get(country, 0) >= max_per_country:
            continue
        per_country[country] = per_country.get(country, 0) + 1
        taken.append(int(col))
    return np.asarray(taken, dtype=np.intp)


def gini(values: npt.ArrayLike) -> float:
    """Gini coefficient of non-negative ``values`` (0: all equal; towards 1: concentrated); 0 for none."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * x).sum() / (n * x.sum()))


# --- over the catalogue -------------------------------------------------------------------------------------


def strongest_in_area(index: CatalogueIndex, area: str, *, n: int, country: str = "KZ",
                      kind: str | None = HIGHER_EDUCATION, min_percentile: float = 0.0) -> list[str]:
    """Ids of the ``n`` institutions of ``country`` (and ``kind``; None: any) strongest in ``area``: highest
    area-strength percentile first (ties by id), only institutions with research evidence and a percentile of
    at least ``min_percentile``."""
    if area not in index.area_keys:
        raise RequestError("area", f"unknown area {area!r}; known: {index.area_keys}")
    code = normalise_country(country)
    if not is_country(code):
        raise RequestError("country", f"not an ISO 3166-1 alpha-2 country code: {country!r} (e.g. KZ)")
    a = index.area_keys.index(area)
    mask = (index.countries == code) & index.has_evidence & (index.area_strength[:, a] >= min_percentile)
    if kind is not None:
        mask &= index.kinds == kind
    rows = np.flatnonzero(mask)
    ids = np.array([index.institutions[r].id for r in rows], dtype=str)
    order = np.lexsort((ids, -index.area_strength[rows, a]))
    return [str(ids[o]) for o in order[:n]]


@dataclass(frozen=True)
class AssignedPartner:
    """A partner in a requester's portfolio."""

    row: int  # catalogue row
    score: float
    own_rank: int  # 1-based position in the requester's own ranking by score


@dataclass(frozen=True)
class RequesterPortfolio:
    """One requester's part of the portfolio, next to what it would get alone."""

    row: int
    partners: list[AssignedPartner]
    total: float
    independent: list[AssignedPartner]  # its best k alone (same country cap, no sharing limit)
    independent_total: float
    overlap: int  # partners that are also in its independent top-k
    n_eligible: int
    shortfall: str | None
    notes: list[str]

    @property
    def ratio(self) -> float | None:
        """Portfolio total / independent total (None when the independent total is not positive)."""
        return self.total / self.independent_total if self.independent_total > 0 else None


@dataclass(frozen=True)
class Portfolio:
    """A solved portfolio: per requester, and the spread over partners."""

    programme: str
    areas: list[str]
    profile: ScoringProfile
    k: int
    c: int
    max_per_country: int | None
    country_bonus: float
    pool_size: int
    requesters: list[RequesterPortfolio]
    n_pool: int  # candidates in the pool the flow chose from
    load: dict[int, int]  # partner row -> requesters it was assigned to
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(r.total for r in self.requesters)

    @property
    def independent_total(self) -> float:
        return sum(r.independent_total for r in self.requesters)

    @property
    def max_load(self) -> int:
        return max(self.load.values(), default=0)

    @property
    def load_gini(self) -> float:
        """Gini coefficient of the number of requesters per assigned partner."""
        return gini(list(self.load.values()))


def own_rank(scores: FloatArray, ids: npt.NDArray[np.str_], col: int) -> int:
    """1-based position of ``col`` in the ranking by ``scores`` (ties by id), counted without sorting: the
    candidates scoring higher, and those scoring the same with a smaller id, come before it."""
    score = scores[col]
    same = np.flatnonzero(scores == score)
    return int((scores > score).sum() + (ids[same] < ids[col]).sum() + 1)


def plan_portfolio(matcher: Matcher, requester_ids: Sequence[str], base_profile: ScoringProfile, *,
                   programme: str, k: int, c: int, areas: Sequence[str] = (), max_per_country: int | None = None,
                   countries: Sequence[str] | None = None, regions: Sequence[str] | None = None,
                   country_bonus: float = 0.0, pool_size: int | None = None) -> Portfolio:
    """Partners for every requester of ``requester_ids`` under ``programme`` and ``base_profile``: each ranked by
    ``Matcher.rank`` (``areas``, candidate ``countries``/``regions`` as in a suggestion request), the pool the
    union of their top ``pool_size`` (default ``max(POOL_FACTOR * k, MIN_POOL)``), assigned by :func:`assign`.
    ``max_per_country`` defaults to the profile's. ``RequestError`` naming the field for unknown ids, areas,
    programme, and when no requester has any eligible candidate."""
    index = matcher.index
    _check_counts(k, c, max_per_country, country_bonus)
    if not requester_ids:
        raise RequestError("requester_ids", "no requester: give requester ids or a selection that matches some")
    unknown = [r for r in requester_ids if r not in index.row_of]
    if unknown:
        raise RequestError("requester_ids", f"no institution with id(s) {unknown[:10]}")
    if len(set(requester_ids)) != len(requester_ids):
        raise RequestError("requester_ids", "each requester may be given once")
    pool_size = pool_size or max(POOL_FACTOR * k, MIN_POOL)
    cap = max_per_country if max_per_country is not None else base_profile.max_per_country
    started = time.perf_counter()
    full = np.empty((len(requester_ids), index.n))
    notes: list[list[str]] = []
    for i, requester in enumerate(requester_ids):
        request = SuggestionRequest(requester_id=requester, programme=programme, areas=list(areas),
                                    countries=list(countries) if countries else None,
                                    regions=list(regions) if regions else None,
                                    exclude=[r for r in requester_ids if r != requester])
        ranking = matcher.rank(request, base_profile)
        full[i] = ranking.full_scores(index.n)
        notes.append(ranking.notes)
    ranked = time.perf_counter()
    # the pool: the union of every requester's top pool_size (finite scores only)
    pool_mask = np.zeros(index.n, dtype=bool)
    for row in full:
        finite = np.flatnonzero(np.isfinite(row))
        top = finite[np.argpartition(-row[finite], pool_size - 1)[:pool_size]] if len(finite) > pool_size else finite
        pool_mask[top] = True
    pool = np.flatnonzero(pool_mask)
    if not len(pool):
        raise RequestError("programme", f"no requester has any eligible candidate under {programme!r} with these "
                                        "filters")
    assignment = assign(full[:, pool], index.countries[pool], k=k, c=c, max_per_country=cap,
                        country_bonus=country_bonus)
    solved = time.perf_counter()
    shortfall_of = {s.requester: s.reason for s in assignment.shortfalls}
    ids = np.array([inst.id for inst in index.institutions], dtype=str)
    requesters = []
    for i, requester in enumerate(requester_ids):
        alone = independent_top(full[i], index.countries, k=k, max_per_country=cap)
        chosen = pool[assignment.partners[i]]
        partners = [AssignedPartner(row=int(r), score=float(full[i, r]), own_rank=own_rank(full[i], ids, int(r)))
                    for r in chosen]
        independent = [AssignedPartner(row=int(r), score=float(full[i, r]), own_rank=own_rank(full[i], ids, int(r)))
                       for r in alone]
        requesters.append(RequesterPortfolio(
            row=index.row_of[requester], partners=partners, total=float(sum(p.score for p in partners)),
            independent=independent, independent_total=float(sum(p.score for p in independent)),
            overlap=len({p.row for p in partners} & {p.row for p in independent}),
            n_eligible=int(np.isfinite(full[i]).sum()), shortfall=shortfall_of.get(i), notes=notes[i]))
    load_array = assignment.load()
    load = {int(pool[j]): int(load_array[j]) for j in np.flatnonzero(load_array)}
    logger.info("portfolio of %d requesters over a pool of %d: ranked in %.2f s, solved in %.3f s",
                len(requester_ids), len(pool), ranked - started, solved - ranked)
    return Portfolio(programme=programme, areas=list(areas), profile=base_profile, k=k, c=c, max_per_country=cap,
                     country_bonus=country_bonus, pool_size=pool_size, requesters=requesters, n_pool=len(pool),
                     load=load, seconds={"rank": ranked - started, "solve": solved - ranked})
