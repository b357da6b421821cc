"""The consortium builder's kernels on hand-made member lists and pools: the rule checker, its agreement with the
rule encoder, the CP-SAT model (locks, size, rules, alternatives), the typed errors and the objective breakdown.
Excludes are dropped from the pool before the solver sees it: tests/api/test_consortia.py checks them."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from ortools.sat.python import cp_model

from matcher.consortium import (
    TERMS,
    InfeasibleConsortium,
    Pool,
    distinct_aspects,
    objective_terms,
    resolve_weights,
    settings,
    solve_pool,
    text_chunks,
)
from matcher.consortium_rules import (
    RULE_KINDS,
    ActionRules,
    PoolArrays,
    Rule,
    RuleMember,
    RuleResult,
    UnknownRule,
    action_rules,
    check,
    check_rule,
    encode_rule,
    rules_file_data,
)
from seed_data.reference import load_country_groups

GROUPS = {key: frozenset(group.countries) for key, group in load_country_groups().items()}


def he(action: str = "RIA") -> ActionRules:
    return action_rules("horizon-europe", action, GROUPS)


def member(i: str, country: str, kind: str = "university", coordinator: bool = False) -> RuleMember:
    return RuleMember(id=i, country=country, kind=kind, name=f"Inst {i}", coordinator=coordinator)


def by_rule(results: list[RuleResult]) -> dict[str, bool]:
    return {r.rule: r.satisfied for r in results}


# --- the rule checker -------------------------------------------------------------------------------------


def test_horizon_ria_valid_consortium_is_explained() -> None:
    results = check(he(), [member("a", "DE"), member("b", "FR"), member("c", "NO"), member("k", "KZ")])
    assert all(r.satisfied for r in results)
    three = next(r for r in results if r.rule == "he-3-countries")
    assert "DE" in three.explanation and "NO" in three.explanation
    assert "associated partners do not count" in three.explanation and "KZ" in three.explanation


def test_kazakh_members_do_not_count_towards_the_minimum() -> None:
    results = by_rule(check(he(), [member("a", "DE"), member("b", "FR"), member("k", "KZ"), member("u", "UZ")]))
    assert results["he-min-3-entities"] is False
    assert results["he-3-countries"] is False
    assert results["he-1-member-state"] is True


def test_associated_countries_only_fail_the_member_state_rule() -> None:
    results = by_rule(check(he(), [member("a", "NO"), member("b", "GB"), member("c", "IS")]))
    assert results["he-1-member-state"] is False
    assert results["he-3-countries"] is True


def test_two_entities_of_one_country_count_as_one_country() -> None:
    results = by_rule(check(he(), [member("a", "DE"), member("b", "DE"), member("c", "FR")]))
    assert results["he-min-3-entities"] is True
    assert results["he-3-countries"] is False


def test_designated_coordinator_must_be_eligible() -> None:
    members = [member("a", "DE"), member("b", "FR"), member("c", "IT"), member("k", "KZ", coordinator=True)]
    assert by_rule(check(he(), members))["he-coordinator"] is False
    members[-1] = member("k", "KZ")
    members[0] = member("a", "DE", coordinator=True)
    assert by_rule(check(he(), members))["he-coordinator"] is True


def test_csa_needs_one_entity() -> None:
    assert all(r.satisfied for r in check(he("CSA"), [member("a", "BE")]))
    assert not all(r.satisfied for r in check(he("CSA"), [member("k", "KZ")]))


def test_cbhe_rules() -> None:
    rules = action_rules("erasmus-cbhe", None, GROUPS)
    good = [member("d", "DE"), member("f", "FR"), member("k1", "KZ"), member("k2", "KZ")]
    assert all(r.satisfied for r in check(rules, good))
    one_kz = by_rule(check(rules, [member("d", "DE"), member("f", "FR"), member("k1", "KZ"),
                                   member("u1", "UZ"), member("u2", "UZ")]))
    assert one_kz["cbhe-2-heis-per-third-country"] is False  # KZ brings one HEI
    assert one_kz["cbhe-1-third-country"] is True
    more_eu = by_rule(check(rules, [*good, member("i", "IT")]))
    assert more_eu["cbhe-third-country-heis-majority"] is False
    company = by_rule(check(rules, [member("d", "DE"), member("f", "FR", "company"), member("k1", "KZ"),
                                    member("k2", "KZ")]))
    assert company["cbhe-2-programme-countries"] is False


def test_programmes_without_published_rules_say_so() -> None:
    rules = action_rules("bri", "other", GROUPS)
    assert any("No published consortium rule" in n for n in rules.notes)
    assert all(r.satisfied for r in check(rules, [member("c", "CN")]))


def test_every_rule_names_its_source() -> None:
    # a published rule cites a page (listed with its programme's sources); a programme without one says so and
    # cites the programme's own description
    for key, spec in rules_file_data()["programmes"].items():
        for rule in spec["rules"]:
            urls = re.findall(r"https?://[^\s;)]+", rule["source"])
            if spec["note"].startswith("No published consortium rule"):
                assert not urls and rule["source"].startswith("seed_data/data/programmes.json"), rule["id"]
                assert rule["paraphrase"].startswith("No published rule"), rule["id"]
            else:
                assert urls and set(urls) <= set(spec["sources"]), (key, rule["id"])


def test_unknown_programme_or_action_type_is_a_typed_error() -> None:
    with pytest.raises(UnknownRule) as exc:
        action_rules("no-such-programme", "RIA", GROUPS)
    assert exc.value.field == "programme"
    with pytest.raises(UnknownRule) as exc:
        action_rules("horizon-europe", "XYZ", GROUPS)
    assert exc.value.field == "action_type"


# --- the checker and the encoder agree ------------------------------------------------------------------------

# one small pool on which every rule of the rules file both holds and fails for some subset: member states (one a
# company), an associated country, Central Asian universities (two Kazakh, one Uzbek: a country short of two) and
# a Chinese institute (Belt and Road)
AGREE_COUNTRIES = ["DE", "FR", "NO", "IT", "KZ", "KZ", "UZ", "CN"]
AGREE_KINDS = ["university", "company", "university", "university", "university", "university", "university",
               "research"]


def every_action_rule() -> list[tuple[Rule, ActionRules]]:
    """Each rule of the rules file once (per programme), with the action rules it is read under."""
    out: dict[tuple[str, str], tuple[Rule, ActionRules]] = {}
    for programme, spec in rules_file_data()["programmes"].items():
        for action in spec["actions"]:
            rules = action_rules(programme, action, GROUPS)
            for rule in rules.rules:
                out.setdefault((programme, rule.id), (rule, rules))
    return list(out.values())


class _Subsets(cp_model.CpSolverSolutionCallback):
    """Collects the member subsets (values of ``x``) of every solution."""

    def __init__(self, x: list[cp_model.IntVar]) -> None:
        super().__init__()
        self.x = x
        self.seen: set[tuple[bool, ...]] = set()

    def on_solution_callback(self) -> None:
        self.seen.add(tuple(self.value(v) == 1 for v in self.x))


def encoder_accepts(rule: Rule, arrays: PoolArrays) -> set[tuple[bool, ...]]:
    """Every subset of the pool the encoded rule allows (all solutions of a model holding only that rule)."""
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{i}") for i in range(len(arrays.countries))]
    encode_rule(rule, model, x, arrays)
    solver = cp_model.CpSolver()
    solver.parameters.enumerate_all_solutions = True
    solver.parameters.num_workers = 1
    subsets = _Subsets(x)
    solver.solve(model, subsets)
    return subsets.seen


@pytest.mark.parametrize(("rule", "rules"), every_action_rule(), ids=lambda v: getattr(v, "id", ""))
def test_checker_and_encoder_accept_the_same_subsets(rule: Rule, rules: ActionRules) -> None:
    arrays = rules.arrays(AGREE_COUNTRIES, AGREE_KINDS)
    countries, kinds, m = AGREE_COUNTRIES, AGREE_KINDS, len(AGREE_COUNTRIES)
    subsets = [tuple(bool((mask >> i) & 1) for i in range(m)) for mask in range(2 ** m)]
    checker = {s for s in subsets if check_rule(rule, rules, [member(str(i), countries[i], kinds[i])
                                                              for i in range(m) if s[i]]).satisfied}
    assert 0 < len(checker) < len(subsets)  # the pool tells accepting from rejecting
    assert encoder_accepts(rule, arrays) == checker
    if rule.kind == "coordinator_in":  # a designated coordinator passes the checker exactly where the pool's mask
        mask = rules.coordinator_mask(arrays)  # (the builder's coordinator candidates) says it may coordinate
        assert 0 < mask.sum() < m
        assert mask.tolist() == [check_rule(rule, rules, [member(str(j), countries[j], kinds[j], coordinator=j == i)
                                                          for j in range(m)]).satisfied for i in range(m)]


def test_every_rule_kind_is_in_the_agreement_test() -> None:
    assert {rule.kind for rule, _ in every_action_rule()} == set(RULE_KINDS)


# --- the solver on hand-made pools ------------------------------------------------------------------------


def pool_of(countries: list[str], *, quality: list[float] | None = None, fixed: int = 1, rules: ActionRules,
            coordinated: list[int] | None = None, covers: list[list[bool]] | None = None,
            pairs: list[tuple[int, int, float]] | None = None, kinds: list[str] | None = None) -> Pool:
    m = len(countries)
    arrays = rules.arrays(countries, kinds or ["university"] * m)
    cov = np.array(covers if covers is not None else [[False]] * m, dtype=bool)
    return Pool(
        rows=np.arange(m, dtype=np.intp), quality=np.array(quality or [1.0 - i / m for i in range(m)]),
        fixed=np.arange(m) < fixed, requester=0 if fixed else None, countries=arrays.countries,
        kinds=arrays.kinds, counting=arrays.counting, may_coordinate=rules.coordinator_mask(arrays),
        coordinated=np.array(coordinated or [0] * m, dtype=np.int64), covers=cov,
        best_item=np.where(cov, 0, -1).astype(np.intp), best_sim=cov.astype(float),
        pairs=np.array([(i, j) for i, j, _ in pairs or []], dtype=np.intp).reshape(-1, 2),
        pair_strength=np.array([w for _, _, w in pairs or []], dtype=float))


CONF = {**settings(), "time_limit_s": 5.0}
WEIGHTS = resolve_weights(None)


def members_of(pool: Pool, selected: np.ndarray) -> list[RuleMember]:
    return [member(str(i), str(pool.countries[i]), str(pool.kinds[i])) for i in np.flatnonzero(selected)]


def test_solver_meets_the_rules_and_the_size() -> None:
    rules = he()
    # requester KZ; the two best candidates are German, then Kazakh ones: the rules force three countries
    pool = pool_of(["KZ", "DE", "DE", "KZ", "KZ", "FR", "IT", "NL"], rules=rules)
    solutions = solve_pool(pool, rules, WEIGHTS, size=(5, 5), alternatives=1, differ_share=0.3, conf=CONF)
    chosen = solutions[0].selected
    assert chosen.sum() == 5 and chosen[0]
    assert all(r.satisfied for r in check(rules, members_of(pool, chosen)))


def test_solver_keeps_locked_members_and_explains_a_pool_too_small() -> None:
    rules = he()
    countries = ["KZ", "UZ", "DE", "FR", "IT", "NL", "ES", "PT"]
    pool = pool_of(countries, rules=rules, fixed=2)  # requester and one locked member (UZ, low value)
    chosen = solve_pool(pool, rules, WEIGHTS, size=(4, 5), alternatives=1, differ_share=0.3, conf=CONF)[0].selected
    assert chosen[0] and chosen[1]
    # a pool with fewer than three eligible countries (as when excluded institutions leave it) has no solution,
    # and the reason names the rule
    small = pool_of(["KZ", "DE", "FR"], rules=rules)
    with pytest.raises(InfeasibleConsortium) as exc:
        solve_pool(small, rules, WEIGHTS, size=(3, 3), alternatives=1, differ_share=0.3, conf=CONF)
    assert any("he-min-3-entities" in r or "he-3-countries" in r for r in exc.value.reasons)


def test_too_many_locks_for_the_size_is_explained() -> None:
    rules = he()
    pool = pool_of(["DE", "FR", "IT", "NL", "ES"], rules=rules, fixed=4)
    with pytest.raises(InfeasibleConsortium) as exc:
        solve_pool(pool, rules, WEIGHTS, size=(3, 3), alternatives=1, differ_share=0.3, conf=CONF, lock=["x"])
    assert "fixed" in exc.value.reasons[0] and "size_max is 3" in exc.value.reasons[0]


def test_alternatives_differ_by_the_share() -> None:
    rules = he()
    pool = pool_of(["DE", "FR", "IT", "NL", "ES", "PT", "BE", "AT", "SE", "FI"], rules=rules)
    share = 0.4
    solutions = solve_pool(pool, rules, WEIGHTS, size=(5, 5), alternatives=3, differ_share=share, conf=CONF)
    assert len(solutions) == 3
    for a in range(3):
        for b in range(a):
            left_out = int((solutions[b].selected & ~solutions[a].selected).sum())
            assert left_out >= math.ceil(share * 5)
    assert all(all(r.satisfied for r in check(rules, members_of(pool, s.selected))) for s in solutions)


def test_objective_breakdown_sums_to_the_solver_objective() -> None:
    rules = he("IA")  # IA asks for companies and public bodies
    countries = ["DE", "FR", "IT", "NL", "ES", "PT"]
    pool = pool_of(countries, rules=rules, fixed=0, coordinated=[0, 0, 3, 0, 0, 0],
                   covers=[[True, False], [False, False], [False, True], [False, False], [True, True],
                           [False, False]],
                   pairs=[(0, 1, 0.5), (1, 2, 0.9)], kinds=["university", "company", "public", "research",
                                                           "university", "company"])
    solution = solve_pool(pool, rules, WEIGHTS, size=(3, 4), alternatives=1, differ_share=0.3, conf=CONF)[0]
    assert solution.status == "OPTIMAL"
    terms = objective_terms(pool, solution.selected, WEIGHTS, size_max=4,
                            complementary_kinds=rules.complementary_kinds)
    assert set(terms) == set(TERMS)
    # the breakdown is the objective: the best of every 3- or 4-member subset by the same formula
    best = max(sum(objective_terms(pool, s, WEIGHTS, size_max=4, complementary_kinds=rules.complementary_kinds)
                   .values())
               for s in (np.array([(mask >> i) & 1 for i in range(6)], dtype=bool) for mask in range(64))
               if 3 <= s.sum() <= 4 and all(r.satisfied for r in check(rules, members_of(pool, s))))
    assert sum(terms.values()) == pytest.approx(best, abs=6 / CONF["objective_scale"])


def test_weights_must_not_all_be_zero() -> None:
    from matcher.consortium import ConsortiumWeights
    from matcher.ranking import RequestError

    zero = ConsortiumWeights(**dict.fromkeys(TERMS, 0.0))
    with pytest.raises(RequestError) as exc:
        resolve_weights(zero)
    assert exc.value.field == "weights"


# --- aspects -------------------------------------------------------------------------------------------------


def test_text_chunks_merge_short_sentences() -> None:
    text = "Water. Irrigation planning in river basins of Central Asia. Glacier melt models for farmers and cities."
    chunks = text_chunks(text, min_words=6)
    assert chunks[0].startswith("Water. Irrigation")
    assert " ".join(chunks).replace("  ", " ") == text


def test_distinct_aspects_skip_near_duplicates() -> None:
    v = np.array([[1.0, 0.0], [0.999, 0.045], [0.0, 1.0]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    chosen = distinct_aspects(v, np.array([0.8, 0.6], dtype=np.float32), k=2)
    assert 2 in chosen and len({0, 1} & set(chosen)) == 1  # one of the near-duplicates, never both


def test_a_breakdown_with_nothing_built_reports_no_figures() -> None:
    """Means over the consortia built; where every project was infeasible nothing was measured: None, not 0."""
    from matcher.consortium_eval import SUMMARY_FIGURES, summarise

    built = {"infeasible": False, "recall": 0.5, "baseline_recall": 0.25, "valid": True, "status": "OPTIMAL",
             "gap": 0.0, "seconds": 1.0}
    rows = [{**built, "action_type": "RIA"}, {**built, "action_type": "RIA", "recall": 0.0, "seconds": 3.0},
            {"infeasible": True, "action_type": "CSA"}]
    summary = summarise(rows)
    assert summary["all"] == {"n": 3, "n_built": 2, "n_infeasible": 1, "consortium_recall": 0.25,
                                   "baseline_recall": 0.25, "rule_satisfaction": 1.0, "optimal_share": 1.0,
                                   "mean_gap": 0.0, "seconds_p50": 2.0, "seconds_p90": 2.8}
    assert summary["action:CSA"] == {"n": 1, "n_built": 0, "n_infeasible": 1, **dict.fromkeys(SUMMARY_FIGURES)}
