"""The one ranking core: a request resolved against the index, its candidates' component values, and the
scores a weight profile (or a learned model) gives them.

Suggestions (``suggest.Matcher``), the evaluation, the slider estimate and learning all rank through
:func:`rank`; what legitimately differs between them is an option of :class:`~matcher.types.SuggestionRequest`
(``eligibility``, ``areas``, ``ties``), never another code path. :func:`scores_of` is the pure kernel: an
array of component values, a scorer, the tie flags and the tie preference in; scores out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from matcher.components import IntArray, Query, direct_ties, get_component
from matcher.consortium_rules import UnknownRule, action_rules
from matcher.engine import CatalogueIndex, FloatArray
from matcher.signals import similar_projects
from matcher.types import COMPONENTS, ScoringProfile, SuggestionRequest, TiePreference
from seed_data.countries import is_country, normalise_country

# The requester's side of an area-focused request: its evidence items closest to the areas, this many.
N_FOCUS_ITEMS = 5
NETWORK = COMPONENTS.index("network")
ValuesArray = TypeVar("ValuesArray", npt.NDArray[np.float64], npt.NDArray[np.float32])


class RequestError(ValueError):
    """A request that names something unknown (programme, area, institution, kind)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Scorer(Protocol):
    """Turns component values (and, for a learned model, further features) into scores."""

    def predict(self, values: npt.NDArray[np.floating[Any]], *, index: CatalogueIndex, query: Query,
                rows: IntArray) -> FloatArray:
        """(m,) scores of the ``rows`` whose component values are ``values`` (m, len(COMPONENTS))."""
        ...


@dataclass(frozen=True)
class WeightScorer:
    """A weight profile: the weighted sum of the component values (weights normalised to sum to 1)."""

    weights: npt.NDArray[np.float64]  # (len(COMPONENTS),)

    @classmethod
    def from_profile(cls, profile: ScoringProfile) -> WeightScorer:
        """The profile's weights in ``COMPONENTS`` order, normalised."""
        normalised = profile.weights.normalised()
        return cls(np.array([normalised[name] for name in COMPONENTS]))

    def predict(self, values: npt.NDArray[np.floating[Any]], *, index: CatalogueIndex | None = None,
                query: Query | None = None, rows: IntArray | None = None) -> FloatArray:
        """``values @ weights`` in the values' precision (the slider estimate stores float32 values: a float64
        product would first copy them all), returned as float64."""
        return np.asarray(values @ self.weights.astype(values.dtype, copy=False), dtype=np.float64)


def apply_ties(values: ValuesArray, tied: npt.NDArray[np.bool_], ties: TiePreference) -> ValuesArray:
    """The component values under the tie preference: ``preferred`` gives an existing partner the full network
    value (1); ``neutral`` and ``excluded`` leave them as they are (``scores_of`` drops excluded ones)."""
    if ties is not TiePreference.preferred or not tied.any():
        return values
    out = values.copy()
    out[tied, NETWORK] = 1.0
    return out


def scores_of(values: FloatArray, scorer: Scorer, *, tied: npt.NDArray[np.bool_], ties: TiePreference,
              index: CatalogueIndex, query: Query, rows: IntArray) -> FloatArray:
    """The ranking core's kernel: scores of candidates with component ``values`` (already under the tie
    preference, :func:`apply_ties`); existing partners (``tied``) score -inf when ``ties`` is excluded."""
    scores = scorer.predict(values, index=index, query=query, rows=rows)
    if ties is TiePreference.excluded:
        scores = np.where(tied, -np.inf, scores)
    return scores


@dataclass(frozen=True)
class Ranking:
    """A request ranked: its candidates (rows), their component values and scores (aligned), and notes."""

    query: Query
    rows: IntArray
    values: FloatArray  # (m, len(COMPONENTS)), tie preference applied
    scores: FloatArray  # (m,)
    tied: npt.NDArray[np.bool_]  # (m,) existing partners of the requester
    notes: list[str]
    weights: FloatArray | None  # the normalised weights when a weight profile scored, else None

    def full_scores(self, n: int) -> FloatArray:
        """(n,) scores over every institution row; rows that were not candidates are -inf."""
        out = np.full(n, -np.inf)
        out[self.rows] = self.scores
        return out


def area_description(index: CatalogueIndex, area_cols: list[int]) -> npt.NDArray[np.float32]:
    """The requested areas' description: the unit mean of their description vectors."""
    mean = index.area_vectors[area_cols].mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def focus_vector(index: CatalogueIndex, row: int, area_cols: list[int]) -> tuple[npt.NDArray[np.float32], int]:
    """The requester's side of an area-focused request, and how many of its evidence items it rests on.

    Its evidence *in* the requested areas counts (an item whose cosine with an area's description reaches the
    area's floor, ``CatalogueIndex.area_item_floor``): the weighted sum of the ``N_FOCUS_ITEMS`` such items
    closest to the areas, where each missing item's place is taken by the areas' description. A requester with
    no evidence in the areas is compared through the description alone, as one with no evidence at all; one
    with a single item there does not have four unrelated ones speak for it."""
    description = area_description(index, area_cols)
    evidence, weights = index.evidence_of(row)
    sims = index.evidence_vectors[evidence] @ index.area_vectors[area_cols].T  # (items, requested areas)
    in_areas = np.flatnonzero((sims >= index.area_item_floor[area_cols]).any(axis=1))
    closeness = sims[in_areas].max(axis=1) * np.minimum(weights[in_areas], 1.0)
    best = in_areas[np.argsort(-closeness, kind="stable")[:N_FOCUS_ITEMS]]
    pooled = (weights[best, None] * index.evidence_vectors[evidence[best]]).sum(axis=0) \
        + (N_FOCUS_ITEMS - len(best)) * description
    norm = float(np.linalg.norm(pooled))
    return (pooled / norm).astype(np.float32) if norm > 0 else description, len(best)


def request_programme(index: CatalogueIndex, request: SuggestionRequest) -> dict[str, Any]:
    """The programme the request names; ``RequestError`` for an unknown one, or none (a request made for a call
    is given its call's programme before it is ranked: api/calls.py)."""
    if request.programme is None:
        raise RequestError("programme", f"no programme given; known: {sorted(index.programmes)}")
    if request.programme not in index.programmes:
        raise RequestError("programme", f"unknown programme {request.programme!r}; known: {sorted(index.programmes)}")
    return index.programmes[request.programme]


def _check(index: CatalogueIndex, request: SuggestionRequest) -> int | None:
    """The request's names checked against the index (``RequestError`` naming the field); the requester's row."""
    request_programme(index, request)
    unknown = [a for a in request.areas if a not in index.area_keys]
    if unknown:
        raise RequestError("areas", f"unknown area(s) {unknown}; known: {index.area_keys}")
    bad_countries = [c for c in request.countries or [] if not is_country(normalise_country(c))]
    if bad_countries:
        raise RequestError("countries", f"not ISO 3166-1 alpha-2 country codes: {bad_countries} (e.g. DE, IT, CN)")
    unknown_regions = [r for r in request.regions or [] if r not in index.country_groups]
    if unknown_regions:
        raise RequestError("regions", f"unknown region(s) {unknown_regions}; known: {sorted(index.country_groups)}")
    if request.requester_id is None:
        return None
    if request.requester_id not in index.row_of:
        raise RequestError("requester_id", f"no institution with id {request.requester_id!r}")
    return index.row_of[request.requester_id]


def resolve_query(index: CatalogueIndex, request: SuggestionRequest,
                  text_vector: npt.NDArray[np.float32] | None) -> tuple[Query, list[str]]:
    """The request resolved against the index: the thematic vector (the text's ``text_vector``; else, with
    areas, the requester's evidence in them, topped up with their description (``focus_vector``); else its
    whole profile; else the areas' description), the area columns, the requester's row and strengths, and the
    similar past projects. Returns notes for people too."""
    row = _check(index, request)
    notes: list[str] = []
    area_cols = [index.area_keys.index(a) for a in request.areas]
    vector = text_vector
    if vector is None and row is not None and index.has_evidence[row] and area_cols:
        vector, n_items = focus_vector(index, row, area_cols)
        if n_items == 0:
            notes.append("The requester has no research evidence in the requested areas: thematic similarity is "
                         "measured against the areas' descriptions.")
        elif n_items < N_FOCUS_ITEMS:
            notes.append(f"The requester has {n_items} research evidence item{'s' if n_items > 1 else ''} in the "
                         f"requested areas: thematic similarity is measured against {'them' if n_items > 1 else 'it'} "
                         "and the areas' descriptions.")
    elif vector is None and row is not None and index.has_evidence[row]:
        vector = index.vectors[row]
    if vector is None and area_cols:
        vector = area_description(index, area_cols)
        notes.append("The requester has no research evidence in the catalogue: thematic similarity is measured "
                     "against the requested areas' descriptions.")
    if vector is None:
        notes.append("No research evidence, text or area to compare with: thematic similarity is 0.")
    strength = index.area_strength[row] if row is not None and index.has_evidence[row] else None
    item_cosines = index.item_cosines(vector) if vector is not None else None
    similar_cols, similar_weights = (similar_projects(item_cosines[: len(index.projects)], index.text_projects,
                                                      index.project_decay) if item_cosines is not None
                                     else (np.zeros(0, dtype=np.intp), np.zeros(0)))
    family = request_programme(index, request).get("family", "")
    return Query(vector=vector, area_cols=area_cols, requester_row=row, requester_strength=strength,
                 programme_family=family, focused=bool(area_cols), similar_cols=similar_cols,
                 similar_weights=similar_weights, item_cosines=item_cosines), notes


def filter_mask(index: CatalogueIndex, countries: frozenset[str] | None, kinds: frozenset[str] | None
                ) -> npt.NDArray[np.bool_]:
    """Read-only (n,) mask of the institutions in ``countries`` whose kind is in ``kinds`` (None: any)."""
    mask = np.ones(index.n, dtype=bool)
    if countries is not None:
        mask &= np.isin(index.countries, sorted(countries))
    if kinds is not None:
        mask &= np.isin(index.kinds, sorted(kinds))
    mask.flags.writeable = False
    return mask


FilterMask = Callable[[frozenset[str] | None, frozenset[str] | None], npt.NDArray[np.bool_]]


def action_kinds(index: CatalogueIndex, request: SuggestionRequest) -> tuple[str, ...]:
    """The kinds the request's action type asks for (``complementary_kinds`` of its consortium rules; none
    without an action type or rules for it): a call's partners may be of those kinds too."""
    if request.action_type is None or request.programme is None:
        return ()
    try:
        return action_rules(request.programme, request.action_type, index.country_groups).complementary_kinds
    except UnknownRule:
        return ()


def eligible_rows(index: CatalogueIndex, request: SuggestionRequest, *, requester_row: int | None,
                  masks: FilterMask | None = None) -> IntArray:
    """Rows that may be ranked: under ``eligibility="programme"`` the programme's partner countries and
    default kinds, under ``"all"`` every institution; then the request's filters (countries or regions,
    kinds, exclude) and never the requester. ``masks``: a cached :func:`filter_mask` of ``index``."""
    programme = request_programme(index, request)
    countries: set[str] | None = None
    if request.eligibility == "programme":
        countries = set().union(*programme["partner_countries"].values()) if programme["partner_countries"] \
            else set()
    if request.countries or request.regions:  # either a listed country or a member of a listed region
        wanted = {normalise_country(c) for c in request.countries or []}.union(
            *(index.country_groups[r] for r in request.regions or []))
        countries = wanted if countries is None else countries & wanted
    kinds: set[str] | None = set(request.kinds) if request.kinds else (
        set(programme["default_partner_kinds"]) | set(action_kinds(index, request))
        if request.eligibility == "programme" else None)
    lookup = masks or partial(filter_mask, index)
    mask = lookup(None if countries is None else frozenset(countries),
                  None if kinds is None else frozenset(kinds)).copy()
    for inst_id in request.exclude:
        if inst_id in index.row_of:
            mask[index.row_of[inst_id]] = False
    if requester_row is not None:
        mask[requester_row] = False
    return np.flatnonzero(mask)


def component_values(index: CatalogueIndex, query: Query, rows: IntArray) -> FloatArray:
    """(len(rows), len(COMPONENTS)) every component's value for the candidate ``rows``."""
    if not len(rows):
        return np.zeros((0, len(COMPONENTS)))
    return np.column_stack([get_component(name).score(query, index, rows) for name in COMPONENTS])


def rank(index: CatalogueIndex, request: SuggestionRequest, *, scorer: Scorer, ties: TiePreference,
         text_vector: npt.NDArray[np.float32] | None, masks: FilterMask | None = None,
         weights: FloatArray | None = None) -> Ranking:
    """Rank ``request``'s candidates: resolve it, take the eligible rows, their component values under the
    tie preference, and the ``scorer``'s scores (:func:`scores_of`)."""
    query, notes = resolve_query(index, request, text_vector)
    rows = eligible_rows(index, request, requester_row=query.requester_row, masks=masks)
    tied = (direct_ties(index, query.requester_row)[rows] if query.requester_row is not None
            else np.zeros(len(rows), dtype=bool))
    values = apply_ties(component_values(index, query, rows), tied, ties)
    scores = scores_of(values, scorer, tied=tied, ties=ties, index=index, query=query, rows=rows)
    return Ranking(query=query, rows=rows, values=values, scores=scores, tied=tied, notes=notes, weights=weights)
