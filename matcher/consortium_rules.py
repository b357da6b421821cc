"""Consortium composition rules as data (``matcher/data/consortium_rules.json``), and the one checker that both
rejects an invalid consortium and explains why a proposed one is valid.

A rule is a *kind* with parameters (country groups by key, institution kinds, counts), a paraphrase and its
source. Which members a rule counts is one function, :func:`rule_mask`, over the arrays both readers share
(:class:`PoolArrays`); how it aggregates them is implemented twice, side by side in this module:
:func:`check_rule` reads a member list and says whether the rule holds and why; :func:`encode_rule` adds the
same condition to a CP-SAT model over a candidate pool (``matcher/consortium.py``). The test suite checks, for
every kind, that both accept exactly the same subsets of small pools (``tests/matcher/test_consortium.py``).

Who counts: a member established in one of the programme's partner countries (``partner_countries`` of
``seed_data/reference/programmes.json``, every role; plus its requester countries where the rules file says
``requester_countries_count``) is a beneficiary and counts towards the minimums; any other member (a Kazakh
university in a Horizon Europe consortium, in most topics) joins as an associated partner and counts towards
none of them. Who may coordinate: a member that counts and meets the action's ``coordinator_in`` rule (any
member that counts where the action has none).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model
from pydantic import BaseModel, Field

from seed_data.reference import load_country_groups, load_programmes, partner_countries

RULES_FILE = Path(__file__).parent / "data" / "consortium_rules.json"
ANY_ACTION = "*"
RuleKind = Literal["min_members", "min_in_group", "min_countries", "min_countries_with", "each_country_min",
                   "at_least_as_many", "coordinator_in"]
RULE_KINDS: tuple[str, ...] = RuleKind.__args__  # type: ignore[attr-defined]


class UnknownRule(LookupError):
    """No composition rules for a programme, or for an action type of it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rule:
    """One composition rule, its country and kind filters resolved to sets (None: any)."""

    id: str
    kind: str
    paraphrase: str
    source: str
    min: int = 1
    per_country: int = 1
    countries: frozenset[str] | None = None  # the group(s) it counts in; None: every counting member
    than_countries: frozenset[str] | None = None  # at_least_as_many: the other side
    kinds: frozenset[str] | None = None


@dataclass(frozen=True)
class ActionRules:
    """The rules of one programme and action type, with who counts and who may coordinate."""

    programme: str
    action_type: str
    rules: tuple[Rule, ...]
    size: tuple[int, int]
    complementary_kinds: tuple[str, ...]
    funding_countries: frozenset[str]
    notes: tuple[str, ...] = ()

    @property
    def coordinator_rule(self) -> Rule | None:
        """The action's ``coordinator_in`` rule (None: any member that counts may coordinate)."""
        return next((r for r in self.rules if r.kind == "coordinator_in"), None)

    def arrays(self, countries: Sequence[str] | npt.NDArray[np.str_], kinds: Sequence[str] | npt.NDArray[np.str_]
               ) -> PoolArrays:
        """The rules' view of members of ``countries`` and ``kinds`` (aligned): whether each counts towards the
        minimums (a beneficiary: established in a funding country)."""
        c, k = np.asarray(countries, dtype=np.str_), np.asarray(kinds, dtype=np.str_)
        return PoolArrays(countries=c, kinds=k, counting=np.isin(c, sorted(self.funding_countries)))

    def coordinator_mask(self, pool: PoolArrays) -> npt.NDArray[np.bool_]:
        """Which members of ``pool`` may coordinate: they count and meet the coordinator rule (any member that
        counts where the action has none)."""
        rule = self.coordinator_rule
        return pool.counting.copy() if rule is None else rule_mask(rule, pool, rule.countries)


@dataclass(frozen=True)
class RuleMember:
    """What the checker reads of a member: its country, its kind, and whether it is the designated coordinator."""

    id: str
    country: str
    kind: str
    name: str = ""
    coordinator: bool = False


class RuleResult(BaseModel):
    """A rule applied to a consortium: whether it holds, and why, in words naming the members it rests on."""

    rule: str = Field(description="Rule id in matcher/data/consortium_rules.json")
    kind: str
    satisfied: bool
    explanation: str
    paraphrase: str = Field(description="The rule in our words")
    source: str


@lru_cache(maxsize=4)
def rules_file_data(path: Path = RULES_FILE) -> dict[str, Any]:
    """The rules file as JSON (settings, default weights and programmes); read once per path."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def _programme_countries() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per programme key: its partner countries (every role) and its requester countries
    (``seed_data/reference/programmes.json``, the file the catalogue's programmes are built from)."""
    groups = load_country_groups()
    return {p.key: (partner_countries(p, groups), frozenset(p.requester_countries)) for p in load_programmes()}


def programme_funding_countries(programme: str, spec: Mapping[str, Any]) -> frozenset[str]:
    """Where a member of ``programme`` counts towards the minimums: its partner countries, plus its requester
    countries when its rules entry ``spec`` says ``requester_countries_count``. ``ValueError`` for a programme
    the rules file knows but the programmes file does not (a broken rules file)."""
    known = _programme_countries()
    if programme not in known:
        raise ValueError(f"consortium rules name programme {programme!r}, which is not in the programmes file; "
                         f"known: {sorted(known)}")
    partners, requesters = known[programme]
    return partners | requesters if spec.get("requester_countries_count") else partners


def _countries(spec: Mapping[str, Any], key_groups: str, key_countries: str,
               groups: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """The countries named by ``spec[key_groups]`` (group keys) and ``spec[key_countries]`` (ISO codes); None
    when neither is given. ``ValueError`` for an unknown group key (a broken rules file)."""
    if key_groups not in spec and key_countries not in spec:
        return None
    out: set[str] = set(spec.get(key_countries, []))
    for key in spec.get(key_groups, []):
        if key not in groups:
            raise ValueError(f"consortium rules name an unknown country group {key!r}; known: {sorted(groups)}")
        out |= groups[key]
    return frozenset(out)


def _rule(spec: Mapping[str, Any], groups: Mapping[str, frozenset[str]]) -> Rule:
    if spec["kind"] not in RULE_KINDS:
        raise ValueError(f"consortium rule {spec.get('id')!r} has an unknown kind {spec['kind']!r}; known: "
                         f"{list(RULE_KINDS)}")
    kinds = frozenset(spec["kinds"]) if spec.get("kinds") else None
    return Rule(id=spec["id"], kind=spec["kind"], paraphrase=spec["paraphrase"], source=spec["source"],
                min=int(spec.get("min", 1)), per_country=int(spec.get("per_country", 1)),
                countries=_countries(spec, "groups", "countries", groups),
                than_countries=_countries(spec, "than_groups", "than_countries", groups), kinds=kinds)


def action_rules(programme: str, action_type: str | None, groups: Mapping[str, frozenset[str]], *,
                 path: Path = RULES_FILE) -> ActionRules:
    """The rules of ``programme`` and ``action_type`` (its own entry, else the programme's ``*`` entry): the
    rule ids the action lists, resolved in the programme's rule table.

    ``UnknownRule`` (naming the field) for a programme without rules, or an action type it has no entry for;
    ``ValueError`` for an action naming a rule the table lacks (a broken rules file).
    """
    programmes: dict[str, Any] = rules_file_data(path)["programmes"]
    if programme not in programmes:
        raise UnknownRule("programme", f"no consortium rules for programme {programme!r}; known: "
                                       f"{sorted(programmes)}")
    spec = programmes[programme]
    actions: dict[str, Any] = spec["actions"]
    key = action_type if action_type in actions else ANY_ACTION if ANY_ACTION in actions else None
    if key is None:
        known = sorted(actions)
        raise UnknownRule("action_type", f"no consortium rules for action type {action_type!r} of {programme!r}; "
                                         f"known: {known}")
    action = actions[key]
    table = {r["id"]: r for r in spec["rules"]}
    missing = [i for i in action["rules"] if i not in table]
    if missing:
        raise ValueError(f"consortium rules of {programme!r}/{key} name unknown rule(s) {missing}; the programme's "
                         f"rules: {sorted(table)}")
    size = action["size"]
    return ActionRules(
        programme=programme, action_type=key if key != ANY_ACTION else (action_type or ANY_ACTION),
        rules=tuple(_rule(table[i], groups) for i in action["rules"]),
        size=(int(size[0]), int(size[1])), complementary_kinds=tuple(action.get("complementary_kinds", [])),
        funding_countries=programme_funding_countries(programme, spec),
        notes=tuple(n for n in (spec.get("note"), action.get("note")) if n))


# --- the checker ----------------------------------------------------------------------------------------


def _names(members: Iterable[RuleMember]) -> str:
    return ", ".join(f"{m.name or m.id} ({m.country})" for m in members) or "none"


def _what(rule: Rule, countries: frozenset[str] | None = None) -> str:
    kinds = "/".join(sorted(rule.kinds)) if rule.kinds else "member"
    kinds = {"university": "higher-education institution"}.get(kinds, kinds)
    where = f" from {', '.join(sorted(countries))}" if countries is not None and len(countries) <= 6 else (
        " from the rule's countries" if countries is not None else "")
    return kinds + where


def check_rule(rule: Rule, rules: ActionRules, members: Sequence[RuleMember]) -> RuleResult:
    """Whether ``members`` satisfy ``rule``, with an explanation naming the members it rests on."""
    view = rules.arrays([m.country for m in members], [m.kind for m in members])

    def who(countries: frozenset[str] | None, *, counting: bool = True) -> list[RuleMember]:
        return [members[i] for i in _where(rule_mask(rule, view, countries, counting=counting))]

    associated = [m for m, counts in zip(members, view.counting, strict=True) if not counts]
    note = (f"; associated partners do not count ({_names(associated)})"
            if associated and rule.kind != "coordinator_in" else "")
    satisfied: bool
    if rule.kind in ("min_members", "min_in_group"):
        hits = who(rule.countries)
        satisfied = len(hits) >= rule.min
        text = (f"{len(hits)} eligible {_what(rule, rule.countries)}(s), {rule.min} needed: {_names(hits)}")
    elif rule.kind in ("min_countries", "min_countries_with"):
        per: dict[str, list[RuleMember]] = {}
        for m in who(rule.countries):
            per.setdefault(m.country, []).append(m)
        need = rule.per_country if rule.kind == "min_countries_with" else 1
        good = sorted(c for c, ms in per.items() if len(ms) >= need)
        satisfied = len(good) >= rule.min
        each = f" with at least {need} {_what(rule)}(s) each" if need > 1 or rule.kind == "min_countries_with" else ""
        text = (f"{len(good)} different eligible countries{each}, {rule.min} needed: {', '.join(good) or 'none'}"
                + (f" (short: {', '.join(f'{c} has {len(ms)}' for c, ms in sorted(per.items()) if c not in good)})"
                   if len(good) < len(per) else ""))
    elif rule.kind == "each_country_min":
        present = sorted({m.country for m in members if rule.countries is None or m.country in rule.countries})
        counts = {c: len(who(frozenset({c}), counting=False)) for c in present}
        short = [c for c in present if counts[c] < rule.min]
        satisfied = not short
        text = (f"every participating country of the group has at least {rule.min} {_what(rule)}(s): "
                + (", ".join(f"{c} {counts[c]}" for c in present) or "none participates")
                + (f"; short: {', '.join(short)}" if short else ""))
        note = ""
    elif rule.kind == "at_least_as_many":
        mine, theirs = who(rule.countries), who(rule.than_countries)
        satisfied = len(mine) >= len(theirs)
        text = (f"{len(mine)} {_what(rule)}(s) from the first group ({_names(mine)}) against {len(theirs)} from "
                f"the second ({_names(theirs)})")
    elif rule.kind == "coordinator_in":
        designated = [m for m in members if m.coordinator]
        allowed = who(rule.countries)
        if designated:
            satisfied = all(d in allowed for d in designated)
            text = (f"the designated coordinator {_names(designated)} "
                    + ("may coordinate" if satisfied else "may not coordinate under this rule"))
        else:
            satisfied = bool(allowed)
            text = (f"{len(allowed)} member(s) may coordinate: {_names(allowed[:5])}"
                    + ("…" if len(allowed) > 5 else ""))
    else:  # the loader refuses unknown kinds
        raise ValueError(f"unknown rule kind {rule.kind!r}")
    return RuleResult(rule=rule.id, kind=rule.kind, satisfied=satisfied, explanation=text + note,
                      paraphrase=rule.paraphrase, source=rule.source)


def check(rules: ActionRules, members: Sequence[RuleMember]) -> list[RuleResult]:
    """Every rule of ``rules`` applied to ``members``: the one checker of proposals and user-given consortia."""
    return [check_rule(rule, rules, members) for rule in rules.rules]


# --- the same rules as CP-SAT constraints ---------------------------------------------------------------


@dataclass
class PoolArrays:
    """What the encoder reads of a candidate pool (aligned with the decision variables)."""

    countries: npt.NDArray[np.str_]
    kinds: npt.NDArray[np.str_]
    counting: npt.NDArray[np.bool_]


def rule_mask(rule: Rule, pool: PoolArrays, countries: frozenset[str] | None, *, counting: bool = True
              ) -> npt.NDArray[np.bool_]:
    """Which candidates of ``pool`` a rule counts: established in ``countries`` (None: anywhere), of the rule's
    kinds, and (``counting``) counting towards the minimums."""
    mask = pool.counting.copy() if counting else np.ones(len(pool.countries), dtype=bool)
    if countries is not None:
        mask &= np.isin(pool.countries, sorted(countries))
    if rule.kinds is not None:
        mask &= np.isin(pool.kinds, sorted(rule.kinds))
    return mask


def _where(mask: npt.NDArray[np.bool_]) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def _at_least(model: cp_model.CpModel, terms: Sequence[Any], k: int) -> None:
    """``sum(terms) >= k``; with no terms and ``k > 0`` an always-false constraint (the pool cannot meet it)."""
    if not len(terms):
        if k > 0:
            model.add_bool_or([])  # empty disjunction: infeasible
        return
    model.add(sum(terms) >= k)


def encode_rule(rule: Rule, model: cp_model.CpModel, x: Sequence[cp_model.IntVar], pool: PoolArrays) -> None:
    """Add ``rule`` to ``model`` over the pool's decision variables ``x`` (1: the candidate is a member): the
    same condition :func:`check_rule` tests. A rule the pool cannot meet makes the model infeasible."""
    if rule.kind in ("min_members", "min_in_group"):
        mask = rule_mask(rule, pool, rule.countries)
        _at_least(model, [x[i] for i in _where(mask)], rule.min)
    elif rule.kind in ("min_countries", "min_countries_with"):
        mask = rule_mask(rule, pool, rule.countries)
        need = rule.per_country if rule.kind == "min_countries_with" else 1
        present = []
        for country in sorted(set(pool.countries[mask].tolist())):
            rows = _where(mask & (pool.countries == country))
            z = model.new_bool_var(f"{rule.id}:{country}")
            model.add(sum(x[i] for i in rows) >= need * z)
            present.append(z)
        _at_least(model, present, rule.min)
    elif rule.kind == "each_country_min":
        group = rule.countries
        for country in sorted(set(pool.countries.tolist())):
            if group is not None and country not in group:
                continue
            anyone = _where(pool.countries == country)
            hits = _where(rule_mask(rule, pool, frozenset({country}), counting=False))
            for j in anyone:  # a member from the country makes it participate
                if len(hits):
                    model.add(sum(x[i] for i in hits) >= rule.min * x[j])
                else:
                    model.add(x[j] == 0)
    elif rule.kind == "at_least_as_many":
        mine = _where(rule_mask(rule, pool, rule.countries))
        theirs = _where(rule_mask(rule, pool, rule.than_countries))
        if len(theirs):
            model.add(sum(x[i] for i in mine) >= sum(x[i] for i in theirs))
    elif rule.kind == "coordinator_in":
        allowed = _where(rule_mask(rule, pool, rule.countries))
        _at_least(model, [x[i] for i in allowed], 1)
    else:
        raise ValueError(f"unknown rule kind {rule.kind!r}")
