"""Portfolio matching: the min-cost-flow kernel on hand-written score matrices (capacities, country caps,
optimality against brute force and the Hungarian method, infeasible cases reported), then the wrapper over
the catalogue built from the real-source slice."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sqlalchemy import Engine
from sqlmodel import Session

from matcher.engine import load_index
from matcher.portfolio import assign, gini, independent_top, plan_portfolio, strongest_in_area
from matcher.profiles import load_default_profiles
from matcher.ranking import RequestError
from matcher.suggest import Matcher
from matcher.types import SuggestionRequest

NEG = -np.inf


def _check_constraints(result, scores, countries, *, k, c, max_per_country) -> None:
    load = result.load()
    assert load.max(initial=0) <= c
    for i, cols in enumerate(result.partners):
        assert len(cols) <= k
        assert len(set(cols.tolist())) == len(cols)
        assert np.isfinite(scores[i, cols]).all()  # never a pair that was not allowed
        if max_per_country is not None:
            _, per_country = np.unique(np.asarray(countries)[cols], return_counts=True)
            assert per_country.max(initial=0) <= max_per_country


def _brute_force(scores, countries, *, k, c, max_per_country) -> tuple[int, float]:
    """The best (number of pairs, total score) over every assignment of up to k candidates per requester."""
    n_req, n_cand = scores.shape
    options = []
    for i in range(n_req):
        allowed = [j for j in range(n_cand) if np.isfinite(scores[i, j])]
        subsets = []
        for size in range(min(k, len(allowed)) + 1):
            for subset in itertools.combinations(allowed, size):
                per: dict[str, int] = {}
                for j in subset:
                    per[countries[j]] = per.get(countries[j], 0) + 1
                if max_per_country is None or max(per.values(), default=0) <= max_per_country:
                    subsets.append(subset)
        options.append(subsets)
    best = (-1, -np.inf)
    for combo in itertools.product(*options):
        load = np.zeros(n_cand, dtype=int)
        for subset in combo:
            load[list(subset)] += 1
        if load.max(initial=0) > c:
            continue
        value = (sum(len(s) for s in combo), sum(scores[i, j] for i, s in enumerate(combo) for j in s))
        if value[0] > best[0] or (value[0] == best[0] and value[1] > best[1] + 1e-9):
            best = value
    return best


def test_every_requester_gets_k_without_exceeding_c_or_the_country_cap() -> None:
    rng = np.random.default_rng(7)
    scores = rng.random((6, 12))
    countries = ["DE", "DE", "DE", "IT", "IT", "IT", "FR", "FR", "ES", "ES", "PL", "PL"]
    result = assign(scores, countries, k=3, c=2, max_per_country=1)
    assert all(len(cols) == 3 for cols in result.partners)
    assert not result.shortfalls
    _check_constraints(result, scores, countries, k=3, c=2, max_per_country=1)
    assert result.total_score == pytest.approx(sum(scores[i, cols].sum() for i, cols in enumerate(result.partners)))


def test_the_popular_partner_goes_where_it_matters_most() -> None:
    # both requesters like candidate 0 best, but requester 1 has a good alternative and requester 0 has none:
    # a loop of independent top-1 picks would give 0 to both; with c=1 the optimum gives it to requester 0
    scores = np.array([[0.9, 0.1, 0.1],
                       [0.8, 0.75, 0.1]])
    result = assign(scores, ["DE", "IT", "FR"], k=1, c=1)
    assert [cols.tolist() for cols in result.partners] == [[0], [1]]
    assert result.total_score == pytest.approx(1.65)


@pytest.mark.parametrize("seed", range(6))
def test_optimal_like_the_hungarian_method_when_k_and_c_are_1(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.random((5, 8))
    result = assign(scores, [f"C{j}" for j in range(8)], k=1, c=1)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    assert result.total_score == pytest.approx(scores[rows, cols].sum(), abs=1e-5)
    assert all(len(p) == 1 for p in result.partners)


@pytest.mark.parametrize("seed", range(8))
def test_optimal_like_brute_force_with_shared_partners_and_country_caps(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    scores = rng.random((3, 5))
    scores[rng.random((3, 5)) < 0.2] = NEG  # some pairs not eligible
    countries = ["DE", "DE", "IT", "IT", "FR"]
    result = assign(scores, countries, k=2, c=2, max_per_country=1)
    _check_constraints(result, scores, countries, k=2, c=2, max_per_country=1)
    n_pairs, total = _brute_force(scores, countries, k=2, c=2, max_per_country=1)
    assert sum(len(p) for p in result.partners) == n_pairs
    assert result.total_score == pytest.approx(total, abs=1e-5)


def test_a_requester_that_cannot_get_k_is_reported_with_the_reason() -> None:
    scores = np.array([[0.9, 0.8, 0.7, NEG],   # three eligible: enough
                       [0.5, NEG, NEG, NEG],   # one eligible: short
                       [0.6, 0.6, NEG, 0.4]])  # three eligible, two of them German: short under the cap
    countries = ["DE", "DE", "IT", "DE"]
    result = assign(scores, countries, k=2, c=3, max_per_country=1)
    short = {s.requester: s for s in result.shortfalls}
    assert set(short) == {1, 2}
    assert short[1].assigned == 1 and "only 1 eligible candidate" in short[1].reason
    assert short[2].assigned == 1 and "at most 1 per country" in short[2].reason
    assert len(result.partners[0]) == 2

    contested = assign(np.array([[0.9, 0.8], [0.9, 0.8], [0.9, 0.8]]), ["DE", "IT"], k=1, c=1)
    (taken,) = contested.shortfalls
    assert taken.assigned == 0 and "other requesters" in taken.reason and "at most 1" in taken.reason


def test_the_country_bonus_trades_score_for_distinct_countries() -> None:
    scores = np.array([[0.9, 0.85, 0.5]])
    countries = ["DE", "DE", "IT"]
    assert assign(scores, countries, k=2, c=1).partners[0].tolist() == [0, 1]
    diverse = assign(scores, countries, k=2, c=1, country_bonus=0.5)
    assert diverse.partners[0].tolist() == [0, 2]
    assert diverse.bonus == pytest.approx(1.0) and diverse.total_score == pytest.approx(1.4)


@pytest.mark.parametrize(("kwargs", "field"), [({"k": 0, "c": 1}, "k"), ({"k": 1, "c": 0}, "c"),
                                               ({"k": 1, "c": 1, "max_per_country": 0}, "max_per_country"),
                                               ({"k": 1, "c": 1, "country_bonus": -1.0}, "country_bonus")])
def test_bad_counts_are_request_errors_naming_the_field(kwargs, field) -> None:
    with pytest.raises(RequestError) as raised:
        assign(np.ones((1, 2)), ["DE", "IT"], **kwargs)
    assert raised.value.field == field


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="one entry per candidate"):
        assign(np.ones((2, 3)), ["DE"], k=1, c=1)


def test_independent_top_and_gini() -> None:
    scores = np.array([0.9, 0.8, 0.7, NEG, 0.6])
    assert independent_top(scores, np.array(["DE", "DE", "IT", "FR", "FR"]), k=3, max_per_country=1).tolist() == \
        [0, 2, 4]
    assert gini([2, 2, 2]) == 0.0
    assert gini([0, 0, 4]) == pytest.approx(2 / 3)


def test_a_portfolio_of_kazakh_universities_over_the_catalogue(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        index = load_index(session=session, embedder=embedder)
    matcher = Matcher(index, embedder)
    profile = load_default_profiles()["horizon-europe"]
    ids = strongest_in_area(index, "ai", n=4)
    assert len(ids) >= 2
    strength = [index.area_strength[index.row_of[i], index.area_keys.index("ai")] for i in ids]
    assert strength == sorted(strength, reverse=True)
    assert all(index.countries[index.row_of[i]] == "KZ" and index.kinds[index.row_of[i]] == "university" for i in ids)
    portfolio = plan_portfolio(matcher, ids, profile, programme="horizon-europe", areas=["ai"], k=3, c=1,
                               max_per_country=2)
    assert portfolio.max_load <= 1
    for r in portfolio.requesters:
        # the scores are those of the one ranking core
        ranking = matcher.rank(SuggestionRequest(requester_id=index.institutions[r.row].id, programme="horizon-europe",
                                                 areas=["ai"], exclude=[i for i in ids
                                                                        if i != index.institutions[r.row].id]),
                               profile)
        full = ranking.full_scores(index.n)
        assert [p.score for p in r.partners] == pytest.approx([full[p.row] for p in r.partners])
        assert len(r.partners) == 3 or r.shortfall
        assert r.total <= r.independent_total + 1e-9  # alone, it can only do as well or better
        assert r.overlap == len({p.row for p in r.partners} & {p.row for p in r.independent})
        assert all(index.institutions[p.row].id not in ids for p in r.partners)  # requesters are never partners
    with pytest.raises(RequestError) as raised:
        plan_portfolio(matcher, ["no-such-id"], profile, programme="horizon-europe", k=1, c=1)
    assert raised.value.field == "requester_ids"
    with pytest.raises(RequestError) as raised:
        strongest_in_area(index, "no-such-area", n=3)
    assert raised.value.field == "area"
