"""The consortium builder: several alternative, complete consortia for a call or an idea, each meeting the
programme's composition rules (``matcher/consortium_rules.py``) and scored by an objective whose weights are
data (``matcher/data/consortium_rules.json``, ``weights``; a request may override any of them).

How a proposal is made:

1. **Pool.** The one ranking core (:meth:`matcher.suggest.Matcher.rank`, ``eligibility="all"``) ranks every
   institution for the requester and the text; the pool is its top ``pool_size``, plus, for each rule that
   asks for particular countries or kinds, the best ``per_rule_pool`` candidates that meet it (so that a
   rule on Central Asian universities can be met even when none ranks in the overall top), plus the best
   experienced coordinators, the best of each complementary kind, and the locked members. Excluded
   institutions never enter it.
2. **Aspects.** The text is split into sentences, merged into chunks of at least ``aspect_min_words``
   words, and embedded with the project's embedder; the aspects are the ``max_aspects`` most distinct
   chunks, chosen by maximal marginal relevance against the whole text (the first is the chunk closest to
   the text, each next one trades closeness to the text against closeness to those already chosen). A
   candidate covers an aspect when one of its evidence items (projects, publications, units, profile) has
   a cosine of at least ``aspect_threshold`` with it; the best item per (candidate, aspect) is kept as the
   evidence shown.
3. **Solve.** OR-Tools CP-SAT picks the members: a boolean per pool candidate, one per aspect (covered
   only if a chosen member covers it), one per country (diversity), one per wanted kind, one for
   "an experienced coordinator is in", and one per pair of candidates with a tie (shared projects or a
   known partnership), linearised (``p <= x_i``, ``p <= x_j``; maximised, so ``p`` is 1 exactly when both
   are). Constraints: the composition rules, the size range, locked members in and the requester in.
   The objective (floats scaled by ``objective_scale`` to integers) is::

       coverage                 share of aspects covered
     + quality                  sum of the members' ranking scores (min-max scaled over the pool) / size_max
     + cohesion                 sum over member pairs of tie strength 1 - exp(-recency-weighted ties) / size_max
     + kind_complementarity     share of the action's wanted kinds (e.g. company, public for IA) present
     + diversity                distinct countries / size_max
     + coordinator_experience   1 if a member that coordinated a project before may coordinate
     - size_penalty             members / size_max (a member must add more than it costs)

   each term multiplied by its weight. Alternatives: after each solution, a constraint that the next one
   leaves out at least ``ceil(differ_share * size)`` of its (not locked) members.
4. **Explain.** Roles: members outside the programme's funding countries are associated partners; the
   coordinator candidate is the requester when it may coordinate (it is the applicant), else the member
   allowed to coordinate with the most coordinated projects (then the best quality); the others are
   beneficiaries. Every proposal is checked again with :func:`~matcher.consortium_rules.check`, and its
   objective is broken down by term (the terms sum to the total).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model
from pydantic import BaseModel, Field

from matcher.consortium_rules import (
    RULES_FILE,
    ActionRules,
    PoolArrays,
    RuleMember,
    RuleResult,
    action_rules,
    check,
    encode_rule,
    rule_mask,
    rules_file_data,
)
from matcher.engine import CatalogueIndex, FloatArray
from matcher.ranking import RequestError
from matcher.suggest import Matcher, item_evidence, mmr_order, suggested_institution
from matcher.types import (
    MAX_EXCLUDE,
    InstitutionId,
    ItemEvidence,
    ProgrammeKey,
    ScoringProfile,
    SuggestedInstitution,
    SuggestionRequest,
)

logger = logging.getLogger(__name__)

TERMS = ("coverage", "quality", "cohesion", "kind_complementarity", "diversity", "coordinator_experience",
         "size_penalty")
MAX_LOCKED = 60
MAX_SIZE = 80
MAX_ALTERNATIVES = 10
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n{2,}")


class InfeasibleConsortium(ValueError):
    """No consortium of the pool meets the rules, the size range and the locks; ``reasons`` says which."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("no consortium meets the rules with this pool: " + "; ".join(reasons))
        self.reasons = list(reasons)


class ConsortiumWeights(BaseModel):
    """Weights of the objective's terms (see the module docstring); overrides name any of them."""

    model_config = {"extra": "forbid"}

    coverage: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    quality: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    cohesion: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    kind_complementarity: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    diversity: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    coordinator_experience: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    size_penalty: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)


class ConsortiumSpec(BaseModel):
    """What to build: programme and action type, the idea's text, the requester, locks, excludes, size and
    how many alternatives (resolved from a call by the caller)."""

    programme: ProgrammeKey
    action_type: str | None = Field(default=None, max_length=20)
    text: str | None = None
    areas: list[str] = Field(default_factory=list, max_length=10)
    requester_id: InstitutionId | None = None
    lock: list[InstitutionId] = Field(default_factory=list, max_length=MAX_LOCKED)
    exclude: list[InstitutionId] = Field(default_factory=list, max_length=MAX_EXCLUDE)
    size_min: int | None = Field(default=None, ge=1, le=MAX_SIZE)
    size_max: int | None = Field(default=None, ge=1, le=MAX_SIZE)
    alternatives: int = Field(default=3, ge=1, le=MAX_ALTERNATIVES)
    weights: ConsortiumWeights | None = None
    differ_share: float | None = Field(default=None, gt=0, le=1)


class Aspect(BaseModel):
    index: int
    text: str


class AspectCover(BaseModel):
    aspect: int = Field(description="Index into the response's aspects")
    evidence: ItemEvidence = Field(description="The member's evidence item closest to the aspect")


class ConsortiumMember(BaseModel):
    institution: SuggestedInstitution
    role: str = Field(description="coordinator_candidate, beneficiary or associated_partner")
    requester: bool = False
    locked: bool = False
    quality: float = Field(description="Ranking score scaled to [0, 1] over the pool (the requester: null score)")
    coordinated_projects: int = Field(description="Projects it coordinated in the catalogue's history")
    aspects: list[AspectCover] = []


class ConsortiumProposal(BaseModel):
    rank: int
    members: list[ConsortiumMember]
    size: int
    countries: list[str]
    rules: list[RuleResult]
    valid: bool
    objective: float
    breakdown: dict[str, float] = Field(description="Each weighted term; they sum to the objective")
    aspects_covered: int
    solver_status: str = Field(description="OPTIMAL, or FEASIBLE when the time limit stopped the search")
    solver_gap: float = Field(description="(bound - objective) / bound of the solver's integer objective: how "
                                          "far from optimal it may be at most (0: proven optimal)")


class ConsortiumResponse(BaseModel):
    programme: str
    action_type: str
    size: tuple[int, int]
    weights: dict[str, float]
    aspects: list[Aspect]
    proposals: list[ConsortiumProposal]
    pool_size: int
    notes: list[str]
    seconds: float


@dataclass
class Pool(PoolArrays):
    """The candidates the solver chooses from (rows of the index), with every array it reads aligned: the
    rule encoder's (countries, kinds, counting) and the objective's."""

    rows: npt.NDArray[np.intp]
    quality: FloatArray
    fixed: npt.NDArray[np.bool_]  # requester and locked
    requester: int | None  # position of the requester
    may_coordinate: npt.NDArray[np.bool_]
    coordinated: npt.NDArray[np.int64]
    covers: npt.NDArray[np.bool_]  # (m, n_aspects)
    best_item: npt.NDArray[np.intp]  # (m, n_aspects) evidence row of the best item, -1 none
    best_sim: FloatArray  # (m, n_aspects)
    pairs: npt.NDArray[np.intp]  # (k, 2) positions with a tie
    pair_strength: FloatArray  # (k,)


def settings(path: Path = RULES_FILE) -> dict[str, Any]:
    """The builder's settings (pool size, aspect threshold, time limit, ...) from the rules file."""
    return dict(rules_file_data(path)["settings"])


def resolve_weights(overrides: ConsortiumWeights | None, path: Path = RULES_FILE) -> dict[str, float]:
    """The default weights with the request's overrides; ``RequestError`` when every weight is 0."""
    weights = {k: float(v) for k, v in rules_file_data(path)["weights"].items()}
    if overrides is not None:
        weights.update(overrides.model_dump(exclude_none=True))
    if not any(weights[t] > 0 for t in TERMS if t != "size_penalty"):
        raise RequestError("weights", "every objective weight is 0; give at least one term a positive weight")
    return weights


# --- aspects ------------------------------------------------------------------------------------------


def text_chunks(text: str, *, min_words: int) -> list[str]:
    """Sentences of ``text`` merged in order into chunks of at least ``min_words`` words (the last may be short
    and is merged into the previous one)."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
    chunks: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        current.append(sentence)
        if sum(len(s.split()) for s in current) >= min_words:
            chunks.append(" ".join(current))
            current = []
    if current:
        if chunks:
            chunks[-1] = chunks[-1] + " " + " ".join(current)
        else:
            chunks.append(" ".join(current))
    return chunks


def distinct_aspects(vectors: npt.NDArray[np.float32], whole: npt.NDArray[np.float32] | None, *, k: int,
                     mmr_lambda: float = 0.5) -> list[int]:
    """Positions of the ``k`` most distinct chunk ``vectors`` by maximal marginal relevance against ``whole``
    (the text's own vector; None: the chunks' mean), most representative first: the suggestions' MMR
    (:func:`~matcher.suggest.mmr_order`) with closeness to the text as the relevance and no country cap."""
    if len(vectors) == 0:
        return []
    centre = whole if whole is not None else vectors.mean(axis=0)
    return mmr_order(vectors @ centre, vectors, np.full(len(vectors), ""), n_select=k, mmr_lambda=mmr_lambda,
                     max_per_country=None)


def coverage_matrix(index: CatalogueIndex, rows: Sequence[int] | npt.NDArray[np.intp], aspects: npt.NDArray[np.float32]
                    ) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """(m, n_aspects) best cosine of each row's evidence items with each aspect, and that item's evidence
    row (-1 without evidence)."""
    m, a = len(rows), len(aspects)
    best = np.zeros((m, a))
    item = np.full((m, a), -1, dtype=np.intp)
    if a == 0:
        return best, item
    for k, row in enumerate(rows):
        evidence, _ = index.evidence_of(int(row))
        if not len(evidence):
            continue
        sims = index.evidence_vectors[evidence] @ aspects.T  # (n_ev, a)
        top = np.argmax(sims, axis=0)
        best[k] = sims[top, np.arange(a)]
        item[k] = evidence[top]
    return best, item


# --- cohesion and coordinators ---------------------------------------------------------------------------


def tie_pairs(index: CatalogueIndex, rows: npt.NDArray[np.intp], *, max_pairs: int
              ) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Pairs of positions into ``rows`` that share recency-weighted projects or known partnerships, and the
    strength ``1 - exp(-(shared + ties))`` in [0, 1) of each; the ``max_pairs`` strongest."""
    sub = (index.joint_recency[rows][:, rows] + index.tie_recency[rows][:, rows]).tocoo()
    keep = sub.row < sub.col
    i, j, w = sub.row[keep], sub.col[keep], sub.data[keep]
    strength = 1.0 - np.exp(-np.asarray(w, dtype=np.float64))
    if len(strength) > max_pairs:
        top = np.argsort(-strength, kind="stable")[:max_pairs]
        i, j, strength = i[top], j[top], strength[top]
    return np.column_stack([i, j]).astype(np.intp).reshape(-1, 2), strength


def coordinated_counts(index: CatalogueIndex) -> npt.NDArray[np.int64]:
    """(n,) projects each institution coordinated (as of the index date): a row sum of a sparse matrix,
    cheap enough to take per build (a cache keyed on ``id(index)`` could hand a new index an old one's)."""
    return np.asarray(index.coordinated[: index.n].sum(axis=1)).ravel().astype(np.int64)


# --- the pool -----------------------------------------------------------------------------------------------


def _check_ids(index: CatalogueIndex, spec: ConsortiumSpec) -> None:
    for field_name in ("lock", "exclude"):
        unknown = [i for i in getattr(spec, field_name) if i not in index.row_of]
        if unknown:
            raise RequestError(field_name, f"no institution with id(s) {unknown[:10]}")
    if spec.requester_id is not None and spec.requester_id not in index.row_of:
        raise RequestError("requester_id", f"no institution with id {spec.requester_id!r}")
    both = sorted(set(spec.lock) & set(spec.exclude))
    if both:
        raise RequestError("exclude", f"institution(s) both locked and excluded: {both}")
    if spec.requester_id is not None and spec.requester_id in spec.exclude:
        raise RequestError("exclude", "the requester cannot be excluded from its own consortium")


def _top(rows: npt.NDArray[np.intp], scores: FloatArray, mask: npt.NDArray[np.bool_], k: int) -> list[int]:
    candidates = np.flatnonzero(mask)
    order = candidates[np.argsort(-scores[candidates], kind="stable")[:k]]
    return [int(rows[o]) for o in order]


def pool_arrays(index: CatalogueIndex, rows: npt.NDArray[np.intp], rules: ActionRules) -> PoolArrays:
    """The rules' view of catalogue ``rows``: their countries, kinds and whether they count."""
    return rules.arrays(index.countries[rows], index.kinds[rows])


def build_pool(matcher: Matcher, spec: ConsortiumSpec, profile: ScoringProfile, rules: ActionRules,
               aspects: npt.NDArray[np.float32], conf: dict[str, Any],
               text_vector: npt.NDArray[np.float32] | None = None) -> Pool:
    """Rank with the one ranking core and take the pool (module docstring, step 1), with every array the
    solver reads. ``text_vector``: the query vector of ``spec.text`` when the caller embedded it already."""
    index = matcher.index
    request = SuggestionRequest(requester_id=spec.requester_id, text=spec.text, programme=spec.programme,
                                areas=spec.areas, eligibility="all", exclude=list(spec.exclude), k=1)
    ranking = matcher.rank(request, profile, text_vector=text_vector)
    finite = np.isfinite(ranking.scores)
    rows, scores = ranking.rows, np.where(finite, ranking.scores, -np.inf)
    ranked = pool_arrays(index, rows, rules)
    coordinated = coordinated_counts(index)
    chosen: list[int] = _top(rows, scores, finite, int(conf["pool_size"]))
    per_rule = int(conf["per_rule_pool"])
    for rule in rules.rules:
        for group in (rule.countries, rule.than_countries):
            if group is None and rule.kinds is None:
                continue
            mask = finite & rule_mask(rule, ranked, group)
            if rule.kind == "each_country_min" or rule.kind == "min_countries_with":
                for country in sorted(set(ranked.countries[mask].tolist())):  # enough per country to meet it
                    chosen += _top(rows, scores, mask & (ranked.countries == country),
                                   max(rule.min, rule.per_country) + 2)
            chosen += _top(rows, scores, mask, per_rule)
    chosen += _top(rows, scores, finite & rules.coordinator_mask(ranked) & (coordinated[rows] > 0), per_rule)
    for kind in rules.complementary_kinds:
        chosen += _top(rows, scores, finite & (ranked.kinds == kind), per_rule)
    locked_rows = [index.row_of[i] for i in spec.lock]
    requester_row = index.row_of[spec.requester_id] if spec.requester_id else None
    unique: list[int] = []
    seen: set[int] = set()
    for row in ([requester_row] if requester_row is not None else []) + locked_rows + chosen:
        if row not in seen:
            seen.add(row)
            unique.append(row)
    pool_rows = np.array(unique, dtype=np.intp)
    raw = ranking.full_scores(index.n)[pool_rows]  # -inf: the requester and locked members it did not rank
    ok = np.isfinite(raw)
    lo, hi = (float(raw[ok].min()), float(raw[ok].max())) if ok.any() else (0.0, 1.0)
    quality = np.where(ok, (raw - lo) / (hi - lo) if hi > lo else 1.0, 0.0)
    if requester_row is not None:
        quality[0] = 0.0  # the requester is in every proposal: its quality is no choice
    fixed = np.zeros(len(pool_rows), dtype=bool)
    fixed[: (1 if requester_row is not None else 0) + len(locked_rows)] = True
    arrays = pool_arrays(index, pool_rows, rules)
    best_sim, best_item = coverage_matrix(index, pool_rows, aspects)
    pairs, strength = tie_pairs(index, pool_rows, max_pairs=int(conf["max_cohesion_pairs"]))
    return Pool(rows=pool_rows, quality=quality, fixed=fixed, requester=0 if requester_row is not None else None,
                countries=arrays.countries, kinds=arrays.kinds, counting=arrays.counting,
                may_coordinate=rules.coordinator_mask(arrays),
                coordinated=coordinated[pool_rows], covers=best_sim >= float(conf["aspect_threshold"]),
                best_item=best_item, best_sim=best_sim, pairs=pairs, pair_strength=strength)


# --- the objective, in one place for the solver and the breakdown --------------------------------------------


def objective_terms(pool: Pool, selected: npt.NDArray[np.bool_], weights: dict[str, float], *, size_max: int,
                    complementary_kinds: Sequence[str]) -> dict[str, float]:
    """Each weighted term of the objective for the members ``selected`` (positions into the pool); the
    solver maximises exactly this sum (up to integer rounding)."""
    n_aspects = pool.covers.shape[1]
    covered = pool.covers[selected].any(axis=0).sum() if n_aspects else 0
    both = selected[pool.pairs[:, 0]] & selected[pool.pairs[:, 1]] if len(pool.pairs) else np.zeros(0, dtype=bool)
    kinds_present = sum(1 for k in complementary_kinds if (pool.kinds[selected] == k).any())
    experienced = bool((selected & pool.may_coordinate & (pool.coordinated > 0)).any())
    raw = {
        "coverage": covered / n_aspects if n_aspects else 0.0,
        "quality": float(pool.quality[selected].sum()) / size_max,
        "cohesion": float(pool.pair_strength[both].sum()) / size_max,
        "kind_complementarity": kinds_present / len(complementary_kinds) if complementary_kinds else 0.0,
        "diversity": len(set(pool.countries[selected].tolist())) / size_max,
        "coordinator_experience": 1.0 if experienced else 0.0,
        "size_penalty": -int(selected.sum()) / size_max,
    }
    return {t: round(weights[t] * raw[t], 6) for t in TERMS}


@dataclass
class _Model:
    model: cp_model.CpModel
    x: list[cp_model.IntVar]


def _build_model(pool: Pool, rules: ActionRules, weights: dict[str, float], *, size: tuple[int, int],
                 scale: int) -> _Model:
    model = cp_model.CpModel()
    m = len(pool.rows)
    x = [model.new_bool_var(f"x{i}") for i in range(m)]
    for i in np.flatnonzero(pool.fixed).tolist():
        model.add(x[i] == 1)
    model.add(sum(x) >= size[0])
    model.add(sum(x) <= size[1])
    for rule in rules.rules:
        encode_rule(rule, model, x, pool)
    s_max = size[1]

    def coef(value: float) -> int:
        return int(round(value * scale))

    terms: list[Any] = []
    n_aspects = pool.covers.shape[1]
    if n_aspects and weights["coverage"] > 0:
        c = coef(weights["coverage"] / n_aspects)
        for a in range(n_aspects):
            who = np.flatnonzero(pool.covers[:, a])
            if not len(who):
                continue
            y = model.new_bool_var(f"aspect{a}")
            model.add(y <= sum(x[i] for i in who))
            terms.append(c * y)
    if weights["quality"] > 0:
        terms += [coef(weights["quality"] * pool.quality[i] / s_max) * x[i] for i in range(m)]
    if weights["cohesion"] > 0:
        incident: dict[int, list[Any]] = {}
        for (i, j), w in zip(pool.pairs.tolist(), pool.pair_strength.tolist(), strict=True):
            c = coef(weights["cohesion"] * w / s_max)
            if c == 0:
                continue
            if pool.fixed[i] and pool.fixed[j]:
                continue  # constant: in every proposal
            if pool.fixed[i] or pool.fixed[j]:
                terms.append(c * x[j if pool.fixed[i] else i])
                continue
            p = model.new_bool_var(f"pair{i}_{j}")
            model.add(p <= x[i])
            model.add(p <= x[j])
            incident.setdefault(i, []).append(p)
            incident.setdefault(j, []).append(p)
            terms.append(c * p)
        # a member has at most size_max - 1 partners in the consortium: redundant for the integer model, but
        # it tightens the linear relaxation of the pair terms by two orders of magnitude (measured: the bound
        # of a 4-member consortium fell from ~75,000 to ~1,000 for an objective of ~600)
        for i, ps in incident.items():
            if len(ps) > s_max - 1:
                model.add(sum(ps) <= (s_max - 1) * x[i])
    if rules.complementary_kinds and weights["kind_complementarity"] > 0:
        c = coef(weights["kind_complementarity"] / len(rules.complementary_kinds))
        for kind in rules.complementary_kinds:
            who = np.flatnonzero(pool.kinds == kind)
            if len(who):
                h = model.new_bool_var(f"kind:{kind}")
                model.add(h <= sum(x[i] for i in who))
                terms.append(c * h)
    if weights["diversity"] > 0:
        c = coef(weights["diversity"] / s_max)
        for country in sorted(set(pool.countries.tolist())):
            z = model.new_bool_var(f"country:{country}")
            model.add(z <= sum(x[i] for i in np.flatnonzero(pool.countries == country)))
            terms.append(c * z)
    if weights["coordinator_experience"] > 0:
        who = np.flatnonzero(pool.may_coordinate & (pool.coordinated > 0))
        if len(who):
            e = model.new_bool_var("experienced_coordinator")
            model.add(e <= sum(x[i] for i in who))
            terms.append(coef(weights["coordinator_experience"]) * e)
    if weights["size_penalty"] > 0:
        c = coef(weights["size_penalty"] / s_max)
        terms += [-c * xi for xi in x]
    model.maximize(sum(terms))
    # a starting point: the fixed members, then the best-quality candidates up to size_min (CP-SAT repairs
    # it where it breaks a rule); without it, large pools sometimes find nothing within the time limit
    order = [int(i) for i in np.flatnonzero(pool.fixed)] + [
        int(i) for i in np.argsort(-pool.quality, kind="stable") if not pool.fixed[i]]
    start = set(order[: max(size[0], int(pool.fixed.sum()))])
    for i in range(m):
        model.add_hint(x[i], i in start)
    return _Model(model, x)


def _diagnose(pool: Pool, rules: ActionRules, size: tuple[int, int], lock: Sequence[str]) -> list[str]:
    """Why no consortium exists: the size range against the locks, then each rule against the whole pool,
    then each rule alone with the size range."""
    reasons = []
    n_fixed = int(pool.fixed.sum())
    if n_fixed > size[1]:
        reasons.append(f"{n_fixed} members are fixed (requester and locked) but size_max is {size[1]}")
    if len(pool.rows) < size[0]:
        reasons.append(f"the pool holds {len(pool.rows)} candidates, fewer than size_min {size[0]}")
    everyone = [RuleMember(id=str(r), country=str(c), kind=str(k))
                for r, c, k in zip(pool.rows, pool.countries, pool.kinds, strict=True)]
    for result in check(rules, everyone):
        if result.kind != "each_country_min" and not result.satisfied:
            reasons.append(f"rule {result.rule} cannot be met even by the whole pool of {len(pool.rows)}: "
                           f"{result.explanation}")
    if not reasons:
        for rule in rules.rules:
            alone = replace(rules, rules=(rule,))
            solver = cp_model.CpSolver()
            solver.parameters.max_time_in_seconds = 0.5
            built = _build_model(pool, alone, dict.fromkeys(TERMS, 0.0), size=size, scale=1)
            if solver.solve(built.model) == cp_model.INFEASIBLE:
                reasons.append(f"rule {rule.id} cannot be met within the size range {size[0]}-{size[1]} with the "
                               f"locked members ({rule.paraphrase})")
    if not reasons:
        reasons.append(f"the rules together cannot be met within the size range {size[0]}-{size[1]} with the "
                       f"locked members {list(lock) or 'none'}")
    return reasons


# --- roles and explanation ---------------------------------------------------------------------------------


def assign_roles(pool: Pool, selected: npt.NDArray[np.intp]) -> dict[int, str]:
    """Role per selected position: associated partners outside the funding countries; the coordinator
    candidate is the requester when it may coordinate, else the member allowed to coordinate with the most
    coordinated projects (then the best quality); the others are beneficiaries."""
    roles = {int(i): ("beneficiary" if pool.counting[i] else "associated_partner") for i in selected}
    allowed = [int(i) for i in selected if pool.may_coordinate[i]]
    if pool.requester is not None and pool.requester in allowed:
        coordinator: int | None = pool.requester
    elif allowed:
        coordinator = max(allowed, key=lambda i: (int(pool.coordinated[i]), float(pool.quality[i]), -i))
    else:
        coordinator = None
    if coordinator is not None:
        roles[coordinator] = "coordinator_candidate"
    return roles


def rule_members(index: CatalogueIndex, rows: Sequence[int], coordinator_row: int | None = None
                 ) -> list[RuleMember]:
    """The checker's view of catalogue rows."""
    return [RuleMember(id=index.institutions[r].id, country=str(index.countries[r]), kind=str(index.kinds[r]),
                       name=index.institutions[r].name, coordinator=r == coordinator_row) for r in rows]


def _proposal(index: CatalogueIndex, pool: Pool, selected: npt.NDArray[np.bool_], rules: ActionRules,
              weights: dict[str, float], *, rank: int, size_max: int, status: str, locked: set[int],
              gap: float = 0.0) -> ConsortiumProposal:
    positions = np.flatnonzero(selected)
    roles = assign_roles(pool, positions)
    order = sorted(positions.tolist(), key=lambda i: ({"coordinator_candidate": 0, "beneficiary": 1}.get(
        roles[i], 2), -float(pool.quality[i]), index.institutions[pool.rows[i]].id))
    members = []
    for i in order:
        row = int(pool.rows[i])
        covers = [AspectCover(aspect=a, evidence=item_evidence(index, int(pool.best_item[i, a]),
                                                               float(pool.best_sim[i, a])))
                  for a in np.flatnonzero(pool.covers[i])]
        members.append(ConsortiumMember(
            institution=suggested_institution(index, row), role=roles[i], requester=pool.requester == i,
            locked=row in locked, quality=round(float(pool.quality[i]), 4),
            coordinated_projects=int(pool.coordinated[i]), aspects=covers))
    coordinator_row = next((int(pool.rows[i]) for i in order if roles[i] == "coordinator_candidate"), None)
    results = check(rules, rule_members(index, [int(pool.rows[i]) for i in order], coordinator_row))
    breakdown = objective_terms(pool, selected, weights, size_max=size_max,
                                complementary_kinds=rules.complementary_kinds)
    n_aspects = pool.covers.shape[1]
    return ConsortiumProposal(
        rank=rank, members=members, size=len(order),
        countries=sorted({str(pool.countries[i]) for i in order}), rules=results,
        valid=all(r.satisfied for r in results), objective=round(sum(breakdown.values()), 6),
        breakdown=breakdown,
        aspects_covered=int(pool.covers[selected].any(axis=0).sum()) if n_aspects else 0, solver_status=status,
        solver_gap=round(gap, 4))


@dataclass
class Solution:
    """One solver answer: the selected pool positions, the solver status and the (upper bound of the) gap."""

    selected: npt.NDArray[np.bool_]
    status: str
    gap: float


def solve_pool(pool: Pool, rules: ActionRules, weights: dict[str, float], *, size: tuple[int, int],
               alternatives: int, differ_share: float, conf: dict[str, Any], lock: Sequence[str] = ()
               ) -> list[Solution]:
    """Up to ``alternatives`` consortia of ``pool``, best first: after each, the next must leave out at least
    ``ceil(differ_share * size)`` of its members that are not fixed. ``InfeasibleConsortium`` (with the
    reasons) when there is not even one."""
    built = _build_model(pool, rules, weights, size=size, scale=int(conf["objective_scale"]))
    out: list[Solution] = []
    for rank in range(1, alternatives + 1):
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = float(conf["time_limit_s"])
        solver.parameters.num_workers = int(conf["num_workers"])
        solver.parameters.random_seed = 0
        # the previous alternative stays a hint, but not a repaired one: with repair_hint on, OR-Tools 9.15's
        # multi-worker search aborted the whole process (SIGABRT) in 4 of 8 runs of the consortium tests, 0 of 8
        # without it
        solver.parameters.repair_hint = False
        # full probing of the pair clauses can take the whole time limit before the search starts
        solver.parameters.cp_model_probing_level = int(conf["probing_level"])
        status = solver.solve(built.model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if rank > 1:
                break
            if status == cp_model.INFEASIBLE:
                raise InfeasibleConsortium(_diagnose(pool, rules, size, lock))
            raise InfeasibleConsortium([f"no consortium found within {conf['time_limit_s']} s "
                                        f"({solver.status_name(status)})"])
        selected = np.array([solver.value(v) == 1 for v in built.x], dtype=bool)
        bound, value = solver.best_objective_bound, solver.objective_value
        out.append(Solution(selected, solver.status_name(status),
                            max(0.0, (bound - value) / bound) if bound > 0 else 0.0))
        free = [built.x[i] for i in np.flatnonzero(selected & ~pool.fixed).tolist()]
        differ = min(len(free), math.ceil(differ_share * int(selected.sum())))
        if differ == 0:
            break
        built.model.add(sum(1 - v for v in free) >= differ)
    return out


# --- the builder -----------------------------------------------------------------------------------------------


def embed_aspects(matcher: Matcher, text: str | None, conf: dict[str, Any]
                  ) -> tuple[list[str], npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
    """The aspects of ``text`` (module docstring, step 2), their query vectors, and the query vector of the
    whole text (None without text), which the ranking reads too: the text and its chunks in one
    :meth:`~matcher.suggest.Matcher.text_vectors` batch (those the matcher knows in advance, as the
    evaluation's, are not embedded again)."""
    dim = matcher.index.evidence_vectors.shape[1]
    if not text or not text.strip():
        return [], np.zeros((0, dim), dtype=np.float32), None
    chunks = text_chunks(text, min_words=int(conf["aspect_min_words"]))
    batch = matcher.text_vectors([text, *chunks])
    whole, vectors = batch[0], batch[1:]
    keep = distinct_aspects(vectors, whole if len(chunks) > 1 else None, k=int(conf["max_aspects"]))
    return [chunks[i] for i in keep], vectors[keep], whole


def build_consortia(matcher: Matcher, spec: ConsortiumSpec, profile: ScoringProfile, *,
                    rules_path: Path = RULES_FILE) -> ConsortiumResponse:
    """Alternative consortia for ``spec``, best first, each valid under the programme's rules.

    ``UnknownRule`` for a programme or action type without rules, ``RequestError`` for unknown ids or
    contradictory input (naming the field), ``InfeasibleConsortium`` (with the reasons) when no consortium of
    the pool meets the rules, the size range and the locks.
    """
    started = time.perf_counter()
    index = matcher.index
    conf = settings(rules_path)
    rules = action_rules(spec.programme, spec.action_type, index.country_groups, path=rules_path)
    _check_ids(index, spec)
    # a size the request leaves open follows the default, moved as far as the size it gives requires
    low, high = spec.size_min or rules.size[0], spec.size_max or rules.size[1]
    if spec.size_max is None:
        high = max(high, low)
    if spec.size_min is None:
        low = min(low, high)
    if low > high:
        raise RequestError("size_min", f"size_min {low} is above size_max {high}")
    size = (low, high)
    weights = resolve_weights(spec.weights, rules_path)
    aspect_texts, aspect_vectors, text_vector = embed_aspects(matcher, spec.text, conf)
    pool = build_pool(matcher, spec, profile, rules, aspect_vectors, conf, text_vector=text_vector)
    notes = list(rules.notes)
    if not aspect_texts:
        notes.append("No text: the call's themes cannot be split into aspects, so coverage is 0.")
    if spec.requester_id is not None and not pool.counting[0]:
        notes.append(f"The requester is established in {pool.countries[0]}, outside the programme's funding "
                     "countries: it joins as an associated partner and does not count towards the minimums.")
    share = spec.differ_share or float(conf["differ_share"])
    locked = {index.row_of[i] for i in spec.lock}
    solutions = solve_pool(pool, rules, weights, size=size, alternatives=spec.alternatives, differ_share=share,
                           conf=conf, lock=spec.lock)
    proposals = [_proposal(index, pool, sol.selected, rules, weights, rank=rank, size_max=size[1],
                           status=sol.status, locked=locked, gap=sol.gap)
                 for rank, sol in enumerate(solutions, start=1)]
    if len(proposals) < spec.alternatives:
        notes.append(f"Only {len(proposals)} alternative(s): no further consortium leaves out at least {share:.0%} "
                     "of the previous ones' members that are not fixed (requester and locked).")
    return ConsortiumResponse(
        programme=spec.programme, action_type=rules.action_type, size=size, weights=weights,
        aspects=[Aspect(index=k, text=t) for k, t in enumerate(aspect_texts)], proposals=proposals,
        pool_size=len(pool.rows), notes=notes, seconds=round(time.perf_counter() - started, 3))


def check_consortium(index: CatalogueIndex, programme: str, action_type: str | None, member_ids: Sequence[str], *,
                     coordinator_id: str | None = None, rules_path: Path = RULES_FILE
                     ) -> tuple[ActionRules, list[RuleResult]]:
    """Check a user-given member list against the rules (the same checker proposals pass); ``RequestError``
    for unknown or repeated ids."""
    rules = action_rules(programme, action_type, index.country_groups, path=rules_path)
    unknown = [i for i in member_ids if i not in index.row_of]
    if unknown:
        raise RequestError("members", f"no institution with id(s) {unknown[:10]}")
    repeated = sorted({i for k, i in enumerate(member_ids) if i in member_ids[:k]})
    if repeated:
        raise RequestError("members", f"each member may be given once; repeated: {repeated}")
    if coordinator_id is not None and coordinator_id not in member_ids:
        raise RequestError("coordinator_id", f"the coordinator {coordinator_id!r} is not among the members")
    rows = [index.row_of[i] for i in member_ids]
    coordinator_row = index.row_of[coordinator_id] if coordinator_id is not None else None
    return rules, check(rules, rule_members(index, rows, coordinator_row))
