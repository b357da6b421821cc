"""Answer a suggestion request: the ranking core (``matcher/ranking.py``) ranks the eligible candidates, then
diversity re-ranking and explanations computed from the same numbers as the ranking."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache, partial

import numpy as np
import numpy.typing as npt

from embeddings.base import Embedder
from matcher.components import Query, adamic_adar
from matcher.engine import BRI_FAMILY, ERASMUS_FAMILY, CatalogueIndex, FloatArray
from matcher.evidence import area_strength_of
from matcher.ranker import EXTRA_FEATURES, LearnedScorer, RerankingScorer, feature_matrix, ranker_for
from matcher.ranking import FilterMask, Ranking, RequestError, WeightScorer, eligible_rows, filter_mask, rank
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
# Country and kind filter masks kept per Matcher (a request's filters repeat; each mask is n bytes).
FILTER_MASK_CACHE_SIZE = 256

def suggested_institution(index: CatalogueIndex, row: int) -> SuggestedInstitution:
    """Catalogue row ``row`` as an answer shows it (names and identifiers)."""
    info = index.institutions[row]
    return SuggestedInstitution(id=info.id, name=info.name, native_name=info.native_name, country=info.country,
                                city=info.city, kind=info.kind, pic=info.pic, erasmus_code=info.erasmus_code,
                                ror_id=info.ror_id, website=info.website)


def resolve_profile(base: ScoringProfile, request: SuggestionRequest) -> ScoringProfile:
    """The profile with the request's overrides applied (weights one by one, diversity, ties)."""
    overrides = request.weights.model_dump(exclude_none=True) if request.weights else {}
    if overrides and base.kind == "learned":
        raise RequestError("weights", "a learned ranker has no weights to override; name a weight profile")
    weights = base.weights.model_copy(update=overrides) if overrides else base.weights
    if not any(getattr(weights, name) > 0 for name in COMPONENTS):  # normalising would divide by zero
        raise RequestError("weights", "every component weight is 0 with these overrides; give at least one "
                                      "component a positive weight")
    ties = TiePreference.excluded if request.new_partners_only else (request.ties or base.ties)
    return base.model_copy(update={
        "weights": weights,
        "mmr_lambda": base.mmr_lambda if request.mmr_lambda is None else request.mmr_lambda,
        "max_per_country": request.max_per_country or base.max_per_country,
        "ties": ties,
    })


def cached_filter_mask(index: CatalogueIndex, *, max_size: int = FILTER_MASK_CACHE_SIZE) -> FilterMask:
    """:func:`~matcher.ranking.filter_mask` over ``index``, remembered (string comparisons over every
    institution cost milliseconds, and a request's filters repeat). The cache belongs to whoever holds the
    returned function (a Matcher): it goes with it, and the index with both."""
    return lru_cache(maxsize=max_size)(partial(filter_mask, index))


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


def request_weights(profile: ScoringProfile, request: SuggestionRequest) -> tuple[FloatArray, list[str]]:
    """The profile's normalised weights for this request, in ``COMPONENTS`` order, and notes: without areas,
    area fit and complementarity are left out and the others renormalised (the order they rank in is the
    same; the scores people read add up)."""
    weights = profile.weights.normalised()
    notes = []
    if not request.areas and (weights["area_fit"] or weights["complementarity"]):
        notes.append("No area requested: area_fit and complementarity are left out and the other weights "
                     "renormalised.")
        kept = {k: v for k, v in weights.items() if k not in ("area_fit", "complementarity")}
        total = sum(kept.values()) or 1.0
        weights = {k: kept.get(k, 0.0) / total for k in COMPONENTS}
    return np.array([weights[name] for name in COMPONENTS]), notes


def learned_scorer(profile: ScoringProfile) -> LearnedScorer:
    """The loaded model of a learned profile (``RequestError`` when it has none or it is not loaded)."""
    try:
        return ranker_for(profile.ranker_id or "")
    except KeyError as exc:
        raise RequestError("profile", f"the learned ranker {profile.ranker_id!r} is not loaded: resolve the "
                                      "profile from its stored version") from exc


class Matcher:
    """Ranks, re-ranks and explains partner suggestions over one catalogue index with one embedder."""

    def __init__(self, index: CatalogueIndex, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder
        # holds the index, never this Matcher: a cycle through a Matcher would outlive it once frozen (gc.freeze)
        self._filter_masks = cached_filter_mask(index)
        self._known_vectors: dict[str, npt.NDArray[np.float32]] = {}

    def know_text_vectors(self, vectors: Mapping[str, npt.NDArray[np.float32]]) -> None:
        """Query vectors of texts embedded in advance (the evaluation embeds its ideas in one batch, through
        the embedding cache, with the same ``encode_queries`` a request's text goes through)."""
        self._known_vectors.update(vectors)

    def text_vectors(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """(len(texts), dim) query vectors of ``texts``: those embedded in advance, the others in one
        ``encode_queries`` batch (a caller with several texts pays one embedder call, not one per text)."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        missing = [t for t in dict.fromkeys(texts) if t not in self._known_vectors]
        fresh = dict(zip(missing, self.embedder.encode_queries(missing), strict=True)) if missing else {}
        return np.array([self._known_vectors[t] if t in self._known_vectors else fresh[t] for t in texts],
                        dtype=np.float32)

    def text_vector(self, text: str | None) -> npt.NDArray[np.float32] | None:
        """The query vector of a request's text (None for no text)."""
        if not text or not text.strip():
            return None
        return self.text_vectors([text])[0]

    def rank(self, request: SuggestionRequest, base_profile: ScoringProfile, *,
             text_vector: npt.NDArray[np.float32] | None = None) -> Ranking:
        """Rank every eligible candidate of ``request`` under ``base_profile`` (plus the request's overrides):
        the one ranking path of suggestions, the evaluation, the slider estimate and learning.
        ``text_vector``: the query vector of ``request.text`` when the caller embedded it already (None: it is
        embedded here)."""
        profile = resolve_profile(base_profile, request)
        if text_vector is None:
            text_vector = self.text_vector(request.text)
        weights, notes = request_weights(profile, request)
        if profile.kind == "learned":  # the model re-ranks its first stage, the profile's weights (ranker.py)
            scorer = RerankingScorer(WeightScorer(weights), learned_scorer(profile))
            return rank(self.index, request, scorer=scorer, ties=profile.ties, text_vector=text_vector,
                        masks=self._filter_masks)
        ranking = rank(self.index, request, scorer=WeightScorer(weights), ties=profile.ties,
                       text_vector=text_vector, masks=self._filter_masks, weights=weights)
        if ranking.query.requester_row is None and weights[COMPONENTS.index("network")]:
            notes.append("The requester is not in the catalogue: network proximity is 0 for every candidate.")
        return replace(ranking, notes=[*ranking.notes, *notes])

    def suggest(self, request: SuggestionRequest, base_profile: ScoringProfile) -> SuggestionResponse:
        """Rank eligible candidates for ``request`` under ``base_profile`` (plus the request's overrides), re-rank
        a shortlist for diversity and explain the page asked for. (Answers are cached by the API, once.)"""
        index = self.index
        profile = resolve_profile(base_profile, request)
        ranking = self.rank(request, base_profile)
        rows, total, query = ranking.rows, ranking.scores, ranking.query
        n_page = request.offset + request.k
        finite = np.flatnonzero(np.isfinite(total))  # an excluded existing partner is never shown
        n_short = min(len(finite), max(SHORTLIST_FACTOR * n_page, MIN_SHORTLIST))
        part = finite[np.argpartition(-total[finite], n_short - 1)[:n_short]] if 0 < n_short < len(finite) \
            else finite
        ids = np.array([index.institutions[r].id for r in rows[part]])
        part = part[np.lexsort((ids, -total[part]))]  # by score, ties by id: input order never matters
        order = mmr_order(total[part], index.vectors[rows[part]], index.countries[rows[part]], n_select=n_page,
                          mmr_lambda=profile.mmr_lambda, max_per_country=profile.max_per_country)
        page = np.asarray([part[i] for i in order][request.offset:], dtype=np.intp)
        if ranking.weights is not None:
            contributions = ranking.values[page] * ranking.weights
            bias = None
            features: FloatArray | None = None
        else:  # a learned ranker: per-feature contributions (TreeSHAP) of the page's candidates
            features = feature_matrix(ranking.values[page], index=index, query=query, rows=rows[page])
            contributions, bias = learned_scorer(profile).contributions(features)
        data = [
            self._explain(rank=request.offset + i + 1, row=int(rows[p]), values=ranking.values[p],
                          weights=ranking.weights, contributions=contributions[i], score=float(total[p]),
                          features=None if features is None else features[i],
                          base_value=None if bias is None else float(bias[i]), query=query,
                          existing=bool(ranking.tied[p]))
            for i, p in enumerate(page)
        ]
        requester = suggested_institution(index, query.requester_row) if query.requester_row is not None else None
        return SuggestionResponse(
            requester=requester,
            requester_has_research_evidence=bool(query.requester_row is not None
                                                 and index.has_evidence[query.requester_row]),
            programme=request.programme, areas=request.areas, profile=profile,
            n_eligible=int(len(finite)), notes=ranking.notes, data=data,
        )

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

    def _explain(self, *, rank: int, row: int, values: FloatArray, weights: FloatArray | None,
                 contributions: FloatArray, score: float, features: FloatArray | None, base_value: float | None,
                 query: Query, existing: bool) -> PartnerSuggestion:
        """One suggestion with its components: value x weight under a weight profile; under a learned ranker
        the per-feature contributions, the further features listed apart, and the base value they add to."""
        index = self.index
        n_c = len(COMPONENTS)
        components = [ComponentScore(name=name, value=round(float(v), 4),
                                     weight=None if weights is None else round(float(weights[k]), 4),
                                     contribution=round(float(contributions[k]), 4))
                      for k, (name, v) in enumerate(zip(COMPONENTS, values, strict=True))]
        further = [] if features is None else [
            ComponentScore(name=name, value=round(float(features[n_c + k]), 4), weight=None,
                           contribution=round(float(contributions[n_c + k]), 4))
            for k, name in enumerate(EXTRA_FEATURES)]
        evidence = self._evidence(row, query)
        return PartnerSuggestion(
            rank=rank, institution=suggested_institution(index, row), score=round(score, 4),
            components=components, features=further,
            base_value=None if base_value is None else round(base_value, 4),
            has_research_evidence=bool(index.has_evidence[row]), existing_partner=existing,
            reasons=_reasons(dict(zip(COMPONENTS, values, strict=True)), dict(zip(COMPONENTS, contributions[:n_c],
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
        cosines = query.item_cosines  # of every evidence item with the query vector; None without one
        if cosines is not None and len(own):
            with_text = own[index.project_has_text[own]]
            sims = cosines[with_text]
            for k in np.argsort(-sims)[:N_EVIDENCE_PROJECTS]:
                j = int(with_text[k])
                matching.append(_project(index, j, float(sims[k])))
                for kw in index.projects[j].keywords:
                    if len(keywords) < N_KEYWORDS:
                        keywords.setdefault(kw.casefold(), kw)
        strength = index.area_strength[row]
        strong = [AreaStrength(key=index.area_keys[a], name=index.area_names[a],
                               percentile=round(float(strength[a]), 3))
                  for a in np.argsort(-strength)[:3]
                  if index.has_evidence[row] and strength[a] >= STRONG_AREA_PERCENTILE]
        shared: list[PartnerEvidence] = []
        n_shared, joint, n_joint = 0, [], 0
        if query.requester_row is not None:
            common = _common(index.row_members(index.graph, query.requester_row), index.row_members(index.graph, row))
            n_shared = len(common)
            common = common[np.argsort(-index.adamic_adar_weights[common], kind="stable")]
            shared = [PartnerEvidence(id=index.institutions[z].id if z < index.n else None, name=index.node_names[z])
                      for z in common[:N_EVIDENCE_PARTNERS]]
            both = _common(own, index.row_members(index.membership, query.requester_row))
            joint = [_project(index, int(j), None) for j in both[:N_EVIDENCE_PROJECTS]]
            n_joint = len(both)
        items: list[ItemEvidence] = []
        if cosines is not None:
            evidence, weights = index.evidence_of(row)
            sims = cosines[evidence]
            # focused: the items the thematic value rests on (best weighted cosines), else the closest ones
            order = np.argsort(-(sims * np.minimum(weights, 1.0) if query.focused else sims), kind="stable")
            items = [item_evidence(index, int(evidence[k]), float(sims[k])) for k in order[:N_EVIDENCE_ITEMS]]
        # similar past projects it took part in, most similar first
        similar = np.flatnonzero(np.isin(query.similar_cols, own, kind="table")) if len(own) else np.zeros(0, int)
        similar_projects = [_project(index, int(query.similar_cols[k]), float(cosines[query.similar_cols[k]]))
                            for k in similar[:N_EVIDENCE_PROJECTS]] if cosines is not None else []
        # its latest projects with Central Asian or other third-country partners
        regional = index.row_members(index.regional_projects, row)
        regional = regional[np.argsort(-index.project_start_days[regional], kind="stable")]
        ties = [] if query.requester_row is None else [
            TieEvidence(type=t.type, year=t.year, description=t.description, source=t.source)
            for t in index.ties_between(query.requester_row, row)]
        return Evidence(matching_projects=matching, matching_items=items, known_partnerships=ties,
                        keywords=list(keywords.values()), strong_areas=strong, shared_partners=shared,
                        n_shared_partners=n_shared, joint_projects=joint, n_joint_projects=n_joint,
                        similar_projects=similar_projects,
                        regional_projects=[_project(index, int(j), None) for j in regional[:N_EVIDENCE_PROJECTS]],
                        n_regional_projects=len(regional))


def _common(a: npt.NDArray[np.integer], b: npt.NDArray[np.integer]) -> npt.NDArray[np.integer]:
    """The values of ``a`` also in ``b`` (both unique, as CSR rows are), sorted: a lookup table over their range
    instead of a sort of both (hub institutions have thousands of partners)."""
    if not len(a) or not len(b):
        return a[:0]
    return np.sort(a[np.isin(a, b, kind="table")])


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
        elif name == "regional_experience":
            latest = evidence.regional_projects[0] if evidence.regional_projects else None
            reasons.append(f"experience with Central Asian and other third-country partners ahead of {v:.0%} of "
                           f"institutions with any ({evidence.n_regional_projects} project(s)"
                           + (f", latest {latest.acronym or latest.id} ({latest.year})" if latest else "") + ")")
        elif name == "similar_projects" and evidence.similar_projects:
            names = ", ".join(p.acronym or p.id for p in evidence.similar_projects[:2])
            reasons.append(f"took part in past projects similar to the request (e.g. {names})")
        elif name == "repeat_partnership":
            reasons.append(f"worked with the requester before ({evidence.n_joint_projects} joint project(s), "
                           f"{len(evidence.known_partnerships)} known partnership(s); {v:.2f} of 1, recent ties "
                           "count most)")
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
