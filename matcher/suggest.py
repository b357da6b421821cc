"""Answer a suggestion request: eligibility, component scores, weighted sum, diversity re-ranking and
explanations computed from the same numbers as the ranking."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import lru_cache, partial

import numpy as np
import numpy.typing as npt

from embeddings.base import Embedder
from matcher.components import IntArray, Query, adamic_adar, direct_ties, get_component
from matcher.engine import BRI_FAMILY, ERASMUS_FAMILY, CatalogueIndex, FloatArray
from matcher.evidence import area_strength_of
from matcher.types import (
    COMPONENTS,
    AreaStrength,
    ComponentScore,
    Evidence,
    ItemEvidence,
    PartnerEvidence,
    PartnerSuggestion,
    ProjectEvidence,
    ScoringProfile,
    SuggestedInstitution,
    SuggestionRequest,
    SuggestionResponse,
    TieEvidence,
    TiePreference,
)
from seed_data.countries import is_country, normalise_country

logger = logging.getLogger(__name__)

# MMR re-ranks a shortlist this many times longer than the page asked for (at least MIN_SHORTLIST):
# diversity can only reorder candidates that are relevant in the first place.
SHORTLIST_FACTOR = 5
MIN_SHORTLIST = 100
# An area counts as a candidate's strength from this percentile up (top fifth of the catalogue).
STRONG_AREA_PERCENTILE = 0.8
N_EVIDENCE_PROJECTS = 3
N_EVIDENCE_ITEMS = 3
N_EVIDENCE_PARTNERS = 5
N_KEYWORDS = 8
# Answers kept per Matcher: a few thousand responses of ~20 kB each stay well under 100 MB.
CACHE_SIZE = 2048
# Country and kind filter masks kept per Matcher (a request's filters repeat; each mask is n bytes).
FILTER_MASK_CACHE_SIZE = 256

FilterMask = Callable[[frozenset[str], frozenset[str]], npt.NDArray[np.bool_]]


class RequestError(ValueError):
    """A request that names something unknown (programme, area, institution, kind)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _institution(index: CatalogueIndex, row: int) -> SuggestedInstitution:
    info = index.institutions[row]
    return SuggestedInstitution(id=info.id, name=info.name, native_name=info.native_name, country=info.country,
                                city=info.city, kind=info.kind, pic=info.pic, erasmus_code=info.erasmus_code,
                                ror_id=info.ror_id, website=info.website)


def resolve_profile(base: ScoringProfile, request: SuggestionRequest) -> ScoringProfile:
    """The profile with the request's overrides applied (weights one by one, diversity, ties)."""
    weights = base.weights.model_copy(update=request.weights.model_dump(exclude_none=True)) if request.weights \
        else base.weights
    if not any(getattr(weights, name) > 0 for name in COMPONENTS):  # normalising would divide by zero
        raise RequestError("weights", "every component weight is 0 with these overrides; give at least one "
                                      "component a positive weight")
    ties = TiePreference.excluded if request.new_partners_only else (request.ties or base.ties)
    return ScoringProfile(
        weights=weights,
        mmr_lambda=base.mmr_lambda if request.mmr_lambda is None else request.mmr_lambda,
        max_per_country=request.max_per_country or base.max_per_country,
        ties=ties,
    )


def filter_mask(index: CatalogueIndex, countries: frozenset[str], kinds: frozenset[str]) -> npt.NDArray[np.bool_]:
    """Read-only (n,) mask of the institutions in ``countries`` whose kind is in ``kinds``."""
    mask = np.isin(index.countries, sorted(countries)) & np.isin(index.kinds, sorted(kinds))
    mask.flags.writeable = False
    return mask


def cached_filter_mask(index: CatalogueIndex, *, max_size: int = FILTER_MASK_CACHE_SIZE) -> FilterMask:
    """:func:`filter_mask` over ``index``, remembered (string comparisons over every institution cost
    milliseconds, and a request's filters repeat). The cache belongs to whoever holds the returned function
    (a Matcher): it goes with it, and the index with both. (A module-level cache keyed by the index kept
    every index a service had rebuilt since its start.)"""
    return lru_cache(maxsize=max_size)(partial(filter_mask, index))


def eligible_rows(index: CatalogueIndex, request: SuggestionRequest, *, requester_row: int | None,
                  ties: TiePreference, masks: FilterMask | None = None) -> IntArray:
    """Rows that may be suggested: the programme's partner countries and kinds, the request's filters.

    ``masks``: :func:`cached_filter_mask` of ``index`` (default: computed afresh)."""
    programme = index.programmes[request.programme]
    allowed_countries = set().union(*programme["partner_countries"].values()) if programme["partner_countries"] \
        else set()
    if request.countries or request.regions:  # either a listed country or a member of a listed region
        allowed_countries &= {normalise_country(c) for c in request.countries or []}.union(
            *(index.country_groups[r] for r in request.regions or []))
    kinds = set(request.kinds or programme["default_partner_kinds"])
    masks = masks or partial(filter_mask, index)
    mask = masks(frozenset(allowed_countries), frozenset(kinds)).copy()
    for inst_id in request.exclude:
        if inst_id in index.row_of:
            mask[index.row_of[inst_id]] = False
    if requester_row is not None:
        mask[requester_row] = False
        if ties is TiePreference.excluded:
            mask &= ~direct_ties(index, requester_row)[: index.n]
    return np.flatnonzero(mask)


def mmr_order(scores: FloatArray, vectors: npt.NDArray[np.float32], countries: npt.NDArray[np.str_], *,
              n_select: int, mmr_lambda: float, max_per_country: int | None) -> list[int]:
    """Maximal marginal relevance: repeatedly take the candidate maximising
    ``λ·score − (1−λ)·max cosine to those already taken``, skipping countries at their cap.

    Inputs are aligned arrays over a shortlist; returns positions into them, best first.
    """
    n = len(scores)
    chosen: list[int] = []
    max_sim = np.zeros(n)
    available = np.ones(n, dtype=bool)
    per_country: dict[str, int] = {}
    while len(chosen) < n_select and available.any():
        value = mmr_lambda * scores - (1.0 - mmr_lambda) * max_sim
        value[~available] = -np.inf
        best = int(np.argmax(value))
        available[best] = False
        country = str(countries[best])
        if max_per_country is not None and per_country.get(country, 0) >= max_per_country:
            continue
        per_country[country] = per_country.get(country, 0) + 1
        chosen.append(best)
        sims = np.clip(vectors @ vectors[best], 0.0, 1.0)
        max_sim = np.maximum(max_sim, sims)
    return chosen


class Matcher:
    """Suggests partners over one catalogue index with one embedder."""

    def __init__(self, index: CatalogueIndex, embedder: Embedder, *, cache_size: int = CACHE_SIZE) -> None:
        self.index = index
        self.embedder = embedder
        self.cache_size = cache_size
        # The index never changes under a Matcher, so an answer depends only on the request and the profile:
        # repeated questions (an office paging through, several people asking the same) are answered once.
        self._cache: OrderedDict[tuple[str, str], SuggestionResponse] = OrderedDict()
        self._cache_lock = threading.Lock()
        # holds the index, never this Matcher: a cycle through a Matcher would outlive it once frozen (gc.freeze)
        self._filter_masks = cached_filter_mask(index)

    def suggest(self, request: SuggestionRequest, base_profile: ScoringProfile) -> SuggestionResponse:
        """Rank eligible candidates for ``request`` under ``base_profile`` (plus the request's overrides).

        Answers are cached (least recently used first out); treat the returned object as read-only.
        """
        key = (request.model_dump_json(), base_profile.model_dump_json())
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        response = self._suggest(request, base_profile)
        with self._cache_lock:
            self._cache[key] = response
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return response

    def area_strengths(self, institution_id: str) -> list[AreaStrength]:
        """The institution's percentile in every priority area, strongest first (empty without evidence)."""
        index = self.index
        row = index.row_of.get(institution_id)
        if row is None or not index.has_evidence[row]:
            return []
        evidence, weights = index.evidence_of(row)
        _, behind = area_strength_of(index.evidence_vectors[evidence], weights, index.area_vectors)
        strengths = []
        for a in np.argsort(-index.area_strength[row], kind="stable"):
            strengths.append(AreaStrength(
                key=index.area_keys[a], name=index.area_names[a],
                percentile=round(float(index.area_strength[row, a]), 3),
                evidence=[item_evidence(index, int(evidence[k]), float(index.evidence_vectors[evidence[k]]
                                                                      @ index.area_vectors[a])) for k in behind[a]]))
        return strengths

    def _query(self, request: SuggestionRequest, profile: ScoringProfile) -> tuple[Query, list[str]]:
        index, notes = self.index, []
        if request.programme not in index.programmes:
            raise RequestError("programme", f"unknown programme {request.programme!r}; "
                                            f"known: {sorted(index.programmes)}")
        unknown = [a for a in request.areas if a not in index.area_keys]
        if unknown:
            raise RequestError("areas", f"unknown area(s) {unknown}; known: {index.area_keys}")
        bad_countries = [c for c in request.countries or [] if not is_country(normalise_country(c))]
        if bad_countries:
            raise RequestError("countries", f"not ISO 3166-1 alpha-2 country codes: {bad_countries} (e.g. DE, IT, CN)")
        unknown_regions = [r for r in request.regions or [] if r not in index.country_groups]
        if unknown_regions:
            raise RequestError("regions", f"unknown region(s) {unknown_regions}; known: {sorted(index.country_groups)}")
        kinds = {"university", "research", "company", "public", "other"}
        if request.kinds and not set(request.kinds) <= kinds:
            raise RequestError("kinds", f"unknown kind(s) {sorted(set(request.kinds) - kinds)}; known: {sorted(kinds)}")
        row = None
        if request.requester_id is not None:
            if request.requester_id not in index.row_of:
                raise RequestError("requester_id", f"no institution with id {request.requester_id!r}")
            row = index.row_of[request.requester_id]
        area_cols = [index.area_keys.index(a) for a in request.areas]
        vector = None
        if request.text and request.text.strip():
            vector = self.embedder.encode_queries([request.text])[0]
        elif row is not None and index.has_evidence[row]:
            vector = index.vectors[row]
        elif area_cols:
            vector = index.area_vectors[area_cols].mean(axis=0)
            vector = vector / np.linalg.norm(vector)
            notes.append("The requester has no research evidence in the catalogue: thematic similarity is "
                         "measured against the requested areas' descriptions.")
        else:
            notes.append("No research evidence, text or area to compare with: thematic similarity is 0.")
        strength = index.area_strength[row] if row is not None and index.has_evidence[row] else None
        family = index.programmes[request.programme].get("family", "")
        return Query(vector=vector, area_cols=area_cols, requester_row=row, requester_strength=strength,
                     programme_family=family, ties=profile.ties), notes

    def _suggest(self, request: SuggestionRequest, base_profile: ScoringProfile) -> SuggestionResponse:
        index = self.index
        profile = resolve_profile(base_profile, request)
        query, notes = self._query(request, profile)
        weights = profile.weights.normalised()
        if not query.area_cols and (weights["area_fit"] or weights["complementarity"]):
            notes.append("No area requested: area_fit and complementarity are left out and the other weights "
                         "renormalised.")
            kept = {k: v for k, v in weights.items() if k not in ("area_fit", "complementarity")}
            total = sum(kept.values()) or 1.0
            weights = {k: kept.get(k, 0.0) / total for k in COMPONENTS}
        if query.requester_row is None and weights["network"]:
            notes.append("The requester is not in the catalogue: network proximity is 0 for every candidate.")
        rows = eligible_rows(index, request, requester_row=query.requester_row, ties=profile.ties,
                             masks=self._filter_masks)
        w = np.array([weights[name] for name in COMPONENTS])
        scores = np.column_stack([get_component(name).score(query, index, rows) for name in COMPONENTS]) \
            if len(rows) else np.zeros((0, len(COMPONENTS)))
        total = scores @ w

        n_page = request.offset + request.k
        n_short = min(len(rows), max(SHORTLIST_FACTOR * n_page, MIN_SHORTLIST))
        if n_short < len(rows):
            part = np.argpartition(-total, n_short - 1)[:n_short]
        else:
            part = np.arange(len(rows))
        ids = np.array([index.institutions[r].id for r in rows[part]])
        part = part[np.lexsort((ids, -total[part]))]  # by score, ties by id: input order never matters
        order = mmr_order(total[part], index.vectors[rows[part]], index.countries[rows[part]], n_select=n_page,
                          mmr_lambda=profile.mmr_lambda, max_per_country=profile.max_per_country)
        page = [part[i] for i in order][request.offset:]

        ties_mask = direct_ties(index, query.requester_row) if query.requester_row is not None else None
        data = [
            self._explain(rank=request.offset + i + 1, row=int(rows[p]), values=scores[p], weights=w,
                          query=query, existing=bool(ties_mask[rows[p]]) if ties_mask is not None else False)
            for i, p in enumerate(page)
        ]
        requester = _institution(index, query.requester_row) if query.requester_row is not None else None
        return SuggestionResponse(
            requester=requester,
            requester_has_research_evidence=bool(query.requester_row is not None
                                                 and index.has_evidence[query.requester_row]),
            programme=request.programme, areas=request.areas, profile=profile, n_eligible=len(rows),
            notes=notes, data=data,
        )

    def _explain(self, *, rank: int, row: int, values: FloatArray, weights: FloatArray, query: Query,
                 existing: bool) -> PartnerSuggestion:
        index = self.index
        contributions = values * weights
        components = [ComponentScore(name=name, value=round(float(v), 4), weight=round(float(wt), 4),
                                     contribution=round(float(c), 4))
                      for name, v, wt, c in zip(COMPONENTS, values, weights, contributions, strict=True)]
        evidence = self._evidence(row, query)
        return PartnerSuggestion(
            rank=rank, institution=_institution(index, row), score=round(float(contributions.sum()), 4),
            components=components, has_research_evidence=bool(index.has_evidence[row]), existing_partner=existing,
            reasons=_reasons(dict(zip(COMPONENTS, values, strict=True)), dict(zip(COMPONENTS, contributions,
                                                                                    strict=True)),
                             evidence, has_evidence=bool(index.has_evidence[row]), existing=existing,
                             requested_areas=[index.area_names[a] for a in query.area_cols],
                             programme_family=query.programme_family),
            evidence=evidence,
        )

    def _evidence(self, row: int, query: Query) -> Evidence:
        index = self.index
        own = index.row_members(index.membership, row)
        matching: list[ProjectEvidence] = []
        keywords: dict[str, str] = {}  # casefolded -> as written, first spelling wins
        if query.vector is not None and len(own):
            with_text = own[index.project_has_text[own]]
            sims = index.project_vectors[with_text] @ query.vector
            for k in np.argsort(-sims)[:N_EVIDENCE_PROJECTS]:
                j = int(with_text[k])
                matching.append(_project(index, j, float(sims[k])))
                for kw in index.projects[j].keywords:
                    if len(keywords) < N_KEYWORDS:
                        keywords.setdefault(kw.casefold(), kw)
        strong = [AreaStrength(key=index.area_keys[a], name=index.area_names[a],
                               percentile=round(float(index.area_strength[row, a]), 3))
                  for a in np.argsort(-index.area_strength[row])
                  if index.has_evidence[row] and index.area_strength[row, a] >= STRONG_AREA_PERCENTILE][:3]
        shared: list[PartnerEvidence] = []
        n_shared, joint, n_joint = 0, [], 0
        if query.requester_row is not None:
            common = np.intersect1d(index.row_members(index.graph, query.requester_row),
                                    index.row_members(index.graph, row), assume_unique=True)
            n_shared = len(common)
            common = common[np.argsort(-index.adamic_adar_weights[common], kind="stable")]
            shared = [PartnerEvidence(id=index.institutions[z].id if z < index.n else None, name=index.node_names[z])
                      for z in common[:N_EVIDENCE_PARTNERS]]
            both = np.intersect1d(own, index.row_members(index.membership, query.requester_row), assume_unique=True)
            joint = [_project(index, int(j), None) for j in both[:N_EVIDENCE_PROJECTS]]
            n_joint = len(both)
        items: list[ItemEvidence] = []
        if query.vector is not None:
            evidence, _ = index.evidence_of(row)
            sims = index.evidence_vectors[evidence] @ query.vector
            items = [item_evidence(index, int(evidence[k]), float(sims[k]))
                     for k in np.argsort(-sims, kind="stable")[:N_EVIDENCE_ITEMS]]
        ties = [] if query.requester_row is None else [
            TieEvidence(type=t.type, year=t.year, description=t.description, source=t.source)
            for t in index.ties_between(query.requester_row, row)]
        return Evidence(matching_projects=matching, matching_items=items, known_partnerships=ties,
                        keywords=list(keywords.values()), strong_areas=strong, shared_partners=shared,
                        n_shared_partners=n_shared, joint_projects=joint, n_joint_projects=n_joint)


def cordis_url(project_id: str) -> str:
    """The CORDIS page of a catalogue project (ids are ``HE-<grant>`` and ``H2020-<rcn>``), else the id."""
    programme, _, number = project_id.partition("-")
    return f"https://cordis.europa.eu/project/id/{number}" if programme == "HE" and number.isdigit() else project_id


def item_evidence(index: CatalogueIndex, e: int, similarity: float | None) -> ItemEvidence:
    """Evidence row ``e`` (a CORDIS project below ``len(index.projects)``, else another item) for people."""
    rounded = None if similarity is None else round(similarity, 3)
    if e < len(index.projects):
        p = index.projects[e]
        return ItemEvidence(id=p.id, type="eu_project", title=p.title or p.acronym,
                            year=p.start_date.year if p.start_date else None,
                            source=cordis_url(p.id), similarity=rounded)
    item = index.items[e - len(index.projects)]
    return ItemEvidence(id=item.id, type=item.type, title=item.title, year=item.year, source=item.source,
                        similarity=rounded)


def _project(index: CatalogueIndex, j: int, similarity: float | None) -> ProjectEvidence:
    p = index.projects[j]
    return ProjectEvidence(id=p.id, acronym=p.acronym, title=p.title,
                           year=p.start_date.year if p.start_date else None,
                           similarity=None if similarity is None else round(similarity, 3))


def _reasons(values: Mapping[str, float], contributions: Mapping[str, float], evidence: Evidence, *,
             has_evidence: bool, existing: bool, requested_areas: list[str], programme_family: str = "") -> list[str]:
    """The two or three largest contributions, in words, plus flags a reader must not miss."""
    reasons = []
    if not has_evidence:
        reasons.append("no research evidence in the catalogue (no project text or profile)")
    for name in sorted(contributions, key=lambda k: -contributions[k])[:3]:
        v = values[name]
        if contributions[name] <= 0:
            continue
        if name == "thematic":
            reasons.append(f"research close to the request (more similar than {v:.0%} of institution pairs)")
        elif name == "area_fit":
            reasons.append(f"strong in {' and '.join(requested_areas)}: ahead of {v:.0%} of institutions with "
                           "research evidence")
        elif name == "complementarity":
            reasons.append(f"stronger than the requester in the requested areas ({v:.2f})")
        elif name == "track_record" and programme_family == BRI_FAMILY:
            reasons.append(f"Belt-and-Road cooperation: known partnerships with other Belt-and-Road countries ahead "
                           f"of {v:.0%} of institutions with any")
        elif name == "track_record" and programme_family == ERASMUS_FAMILY:
            reasons.append(f"Erasmus+ experience {v:.2f} of 1 (Erasmus charter, EU projects, known Erasmus+ "
                           "partnerships)")
        elif name == "track_record":
            reasons.append(f"programme experience: track record ahead of {v:.0%} of active institutions")
        elif name == "network" and evidence.n_shared_partners:
            names = ", ".join(p.name for p in evidence.shared_partners[:2])
            reasons.append(f"{evidence.n_shared_partners} shared partners (e.g. {names})")
    if existing and evidence.n_joint_projects:
        reasons.append(f"already partners in {evidence.n_joint_projects} project(s)")
    if has_evidence and evidence.matching_items:  # the evidence the research-based reasons rest on
        item = evidence.matching_items[0]
        reasons.append(f"closest evidence: {item.type.replace('_', ' ')} \"{item.title}\""
                       + (f" ({item.year})" if item.year else "") + f", source {item.source}")
    for tie in evidence.known_partnerships[:2]:
        reasons.append(f"known partnership: {tie.type.replace('_', ' ')}"
                       + (f" ({tie.year})" if tie.year else "") + f", source {tie.source}")
    return reasons


__all__ = ["Matcher", "RequestError", "adamic_adar", "eligible_rows", "mmr_order"]
