"""Requests and answers of the matcher, shared by the API and the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from seed_data.calls import CallStatus
from seed_data.safe_text import SAFE_LINE, SAFE_TEXT
from seed_data.tables import (
    CALL_TOPIC_ID_MAX_LENGTH,
    INSTITUTION_ID_MAX_LENGTH,
    MAX_SQL_INT,
    PROFILE_REF_PATTERN,
    PROGRAMME_KEY_MAX_LENGTH,
    TEXT_MAX_LENGTH,
    ActionType,
    InstitutionKind,
)

COMPONENTS = ("thematic", "area_fit", "complementarity", "track_record", "network", "regional_experience",
              "similar_projects", "repeat_partnership")

# Bounds of request bodies, so that the cost of any valid request is bounded too.
# The national priority areas (seed_data/reference/priority_areas.json): a request names each at most once.
MAX_AREAS = 10
# ISO 3166-1 assigns 249 alpha-2 codes.
MAX_COUNTRIES = 249
MAX_EXCLUDE = 1000
# Weights are normalised to sum to 1, so only their ratios matter; the bound keeps every sum finite.
MAX_WEIGHT = 1e6
_T = TypeVar("_T", bound=Hashable)


def unique_items(values: list[_T]) -> list[_T]:
    """``values`` unchanged; ``ValueError`` naming the items given more than once (a list validator)."""
    duplicates = sorted({str(v) for i, v in enumerate(values) if v in values[:i]})
    if duplicates:
        raise ValueError(f"each item may be given once; repeated: {duplicates}")
    return values


# The JSON schema of a list that ``unique_items`` checks.
UNIQUE_ITEMS: JsonDict = {"uniqueItems": True}


ProgrammeKey = Annotated[str, StringConstraints(min_length=1, max_length=PROGRAMME_KEY_MAX_LENGTH), SAFE_LINE]
AreaKey = Annotated[str, StringConstraints(min_length=1, max_length=PROGRAMME_KEY_MAX_LENGTH), SAFE_LINE]
AreaKeys = Annotated[list[AreaKey], AfterValidator(unique_items)]
InstitutionId = Annotated[str, StringConstraints(min_length=1, max_length=INSTITUTION_ID_MAX_LENGTH), SAFE_LINE]
CallTopicId = Annotated[str, StringConstraints(min_length=1, max_length=CALL_TOPIC_ID_MAX_LENGTH), SAFE_LINE]
CountryCode = Annotated[str, StringConstraints(min_length=1, max_length=10), SAFE_LINE]
# Lists whose items may each be given once.
InstitutionIds = Annotated[list[InstitutionId], AfterValidator(unique_items)]
CountryCodes = Annotated[list[CountryCode], AfterValidator(unique_items)]
# Numbers in request bodies are strict: JSON true is no number, and 1.5 is no count.
Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False, strict=True)]
MmrLambda = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]
MaxPerCountry = Annotated[int, Field(ge=1, le=MAX_SQL_INT, strict=True)]


class TiePreference(StrEnum):
    """What to do with candidates that already share a project with the requester."""

    preferred = "preferred"
    neutral = "neutral"
    excluded = "excluded"


class ComponentWeights(BaseModel):
    """Non-negative weights of the scoring components; they are normalised to sum to 1 before use."""

    thematic: float = Field(default=0.0, ge=0)
    area_fit: float = Field(default=0.0, ge=0)
    complementarity: float = Field(default=0.0, ge=0)
    track_record: float = Field(default=0.0, ge=0)
    network: float = Field(default=0.0, ge=0)
    regional_experience: float = Field(default=0.0, ge=0)
    similar_projects: float = Field(default=0.0, ge=0)
    repeat_partnership: float = Field(default=0.0, ge=0)

    def normalised(self) -> dict[str, float]:
        """The weights divided by their sum (an error when all are zero)."""
        values = {name: float(getattr(self, name)) for name in COMPONENTS}
        total = sum(values.values())
        if total <= 0:
            raise ValueError("at least one component weight must be positive")
        return {name: value / total for name, value in values.items()}


class WeightOverrides(BaseModel):
    """Single weights a request overrides; unset ones keep the profile's value. Another name is a 422, not ignored."""

    model_config = {"extra": "forbid"}

    thematic: Weight | None = None
    area_fit: Weight | None = None
    complementarity: Weight | None = None
    track_record: Weight | None = None
    network: Weight | None = None
    regional_experience: Weight | None = None
    similar_projects: Weight | None = None
    repeat_partnership: Weight | None = None


# A country group's key in seed_data/reference/country_groups.json (CENTRAL_ASIA, EU27, BRI, ...).
RegionKey = Annotated[str, StringConstraints(min_length=2, max_length=40, pattern=r"^[A-Z][A-Z0-9_]*$")]
RegionKeys = Annotated[list[RegionKey], AfterValidator(unique_items)]
MAX_REGIONS = 10


class ScoringProfile(BaseModel):
    """How a programme scores: component weights (or a learned ranker), diversity and the preference for
    existing ties."""

    kind: Literal["weights", "learned"] = Field(
        default="weights", description="weights: the weighted sum of the components; learned: a LightGBM ranker "
                                       "over the components and further features (its weights are unused)")
    ranker_id: str | None = Field(default=None, description="The learned ranker's model id (kind learned)")
    weights: ComponentWeights
    mmr_lambda: float = Field(default=0.7, ge=0, le=1, description="1 = pure relevance, 0 = pure diversity")
    max_per_country: int | None = Field(default=None, ge=1)
    ties: TiePreference = TiePreference.neutral


class SuggestionRequest(BaseModel):
    """Whom should the requester partner with, for this programme and these areas?"""

    requester_id: InstitutionId | None = Field(default=None, description="Catalogue id of the requesting institution")
    text: Annotated[str, StringConstraints(max_length=TEXT_MAX_LENGTH), SAFE_TEXT] | None = Field(
        default=None, description="A project idea, or the profile of an institution not in the catalogue")
    programme: ProgrammeKey | None = Field(
        default=None, description="Programme key, e.g. horizon-europe, erasmus-cbhe, bri; may be left out when "
                                  "`call` is given (the call's programme; given both, they must agree)")
    call: CallTopicId | None = Field(
        default=None, description="Topic id of an open EU call (GET /calls), e.g. HORIZON-CL6-2027-02-FARM2FORK-01: "
                                  "its title and text are the idea (after any `text` given), its programme the "
                                  "programme")
    areas: AreaKeys = Field(default_factory=list, max_length=MAX_AREAS, json_schema_extra=UNIQUE_ITEMS,
                            description="Priority-area keys, e.g. water, ai; each once")
    countries: CountryCodes | None = Field(
        default=None, max_length=MAX_COUNTRIES, json_schema_extra=UNIQUE_ITEMS,
        description="Only candidates in these countries (ISO 3166-1 alpha-2 codes, each once)")
    regions: RegionKeys | None = Field(
        default=None, max_length=MAX_REGIONS, json_schema_extra=UNIQUE_ITEMS,
        description="Only candidates in these country groups (CENTRAL_ASIA, EU27, BRI, ERASMUS_PROGRAMME, "
                    "HE_ASSOCIATED: seed_data/reference/country_groups.json), each once; with `countries`, "
                    "candidates in either")
    kinds: Annotated[list[InstitutionKind], AfterValidator(unique_items)] | None = Field(
        default=None, max_length=len(InstitutionKind), json_schema_extra=UNIQUE_ITEMS,
        description="Only these kinds, each once (default: the programme's)")
    exclude: list[InstitutionId] = Field(default_factory=list, max_length=MAX_EXCLUDE,
                                         description="Institution ids never to suggest")
    action_type: ActionType | None = Field(
        default=None, description="The call's action type (set from `call`): under programme eligibility, the kinds "
                                  "the action asks for (innovation actions: companies and public bodies; "
                                  "matcher/data/consortium_rules.json) join the programme's default kinds")
    eligibility: Literal["programme", "all"] = Field(
        default="programme",
        description="programme: the programme's partner countries and kinds (a call's rules); all: every "
                    "institution but the requester, as the evaluation ranks (real consortia include partners a "
                    "programme would not fund). The request's own filters apply either way.")
    ties: TiePreference | None = Field(default=None, description="Existing partners: preferred/neutral/excluded")
    new_partners_only: bool = Field(default=False, strict=True, description="Shorthand for ties=excluded")
    weights: WeightOverrides | None = None
    mmr_lambda: MmrLambda | None = None
    max_per_country: MaxPerCountry | None = None
    k: int = Field(default=10, ge=1, le=100, strict=True)
    offset: int = Field(default=0, ge=0, le=1000, strict=True)
    profile: str | None = Field(
        default=None, max_length=120, pattern=PROFILE_REF_PATTERN,
        description="Weight profile to score with, 'name' (its latest version) or 'name:version'; "
                    "default: the programme's published profile",
    )

    @model_validator(mode="after")
    def _needs_a_requester(self) -> SuggestionRequest:
        if not self.requester_id and not (self.text and self.text.strip()) and not self.call:
            raise ValueError("give requester_id (a catalogue institution), text (a profile or project idea) or call "
                             "(a call topic id)")
        if self.programme is None and self.call is None:
            raise ValueError("give programme (e.g. horizon-europe) or call (a call topic id, whose programme is used)")
        return self

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"requester_id": "pic-959424479", "programme": "horizon-europe", "areas": ["water"], "k": 10},
                {"text": "Glacier melt monitoring and irrigation planning in Central Asian river basins",
                 "programme": "erasmus-cbhe", "areas": ["water", "environment-climate"], "k": 5},
            ]
        }
    }


class ComponentScore(BaseModel):
    name: str
    value: float = Field(description="Component (or, for a learned ranker, feature) value")
    weight: float | None = Field(description="Normalised weight; null for a learned ranker")
    contribution: float = Field(description="value × weight, or the learned ranker's per-feature contribution "
                                            "(TreeSHAP); the contributions (and the ranker's base value) sum to "
                                            "the score")


class ProjectEvidence(BaseModel):
    id: str
    acronym: str | None
    title: str | None
    year: int | None
    similarity: float | None = Field(default=None, description="Cosine similarity to the request")


class PartnerEvidence(BaseModel):
    id: str | None = Field(description="Catalogue id; null for an organisation known only by its PIC")
    name: str


class ItemEvidence(BaseModel):
    """One evidence item behind a score: what it is, where the fact comes from, how close it is."""

    id: str
    type: str = Field(description="eu_project, national_project, publication, research_unit, research_field or "
                                  "owner_profile")
    title: str | None
    year: int | None
    source: str | None = Field(description="URL, import file and record, or the CORDIS project id")
    similarity: float | None = Field(default=None, description="Cosine similarity to the request or area")


class TieEvidence(BaseModel):
    """A known partnership (besides shared projects) between the requester and a candidate."""

    type: str = Field(description="branch_campus, dual_degree, mou, erasmus_cbhe, erasmus_mobility, joint_lab, "
                                  "joint_project or other")
    year: int | None
    description: str | None
    source: str


class AreaStrength(BaseModel):
    key: str
    name: str
    percentile: float
    evidence: list[ItemEvidence] = Field(default=[], description="The items behind the strength, best first")


class Evidence(BaseModel):
    matching_projects: list[ProjectEvidence] = []
    matching_items: list[ItemEvidence] = Field(default=[], description="The candidate's evidence items of every "
                                               "type closest to the request, with their sources")
    known_partnerships: list[TieEvidence] = Field(default=[], description="Known partnerships with the requester")
    keywords: list[str] = []
    strong_areas: list[AreaStrength] = []
    shared_partners: list[PartnerEvidence] = []
    n_shared_partners: int = 0
    joint_projects: list[ProjectEvidence] = []
    n_joint_projects: int = 0
    similar_projects: list[ProjectEvidence] = Field(default=[], description="Past projects most similar to the "
                                                    "request that the candidate took part in")
    regional_projects: list[ProjectEvidence] = Field(default=[], description="The candidate's latest projects with "
                                                     "Central Asian or other third-country partners")
    n_regional_projects: int = 0


class SuggestedInstitution(BaseModel):
    id: str
    name: str
    native_name: str | None
    country: str
    city: str | None
    kind: str
    pic: str | None
    erasmus_code: str | None
    ror_id: str | None
    website: str | None


class PartnerSuggestion(BaseModel):
    rank: int
    institution: SuggestedInstitution
    score: float
    components: list[ComponentScore]
    features: list[ComponentScore] = Field(default=[], description="A learned ranker's further features "
                                           "(kind, region, popularity, ...) and their contributions")
    base_value: float | None = Field(default=None, description="A learned ranker's expected score (TreeSHAP), "
                                     "which the contributions add to")
    has_research_evidence: bool
    existing_partner: bool = Field(description="Already shares a project or a known partnership with the requester")
    reasons: list[str] = Field(description="The strongest reasons in words")
    evidence: Evidence


class SuggestionCall(BaseModel):
    """The call a suggestion request was made for (its topic, programme, action type and deadline)."""

    topic_id: str
    title: str
    programme: str = Field(description="The portal's programme name")
    action_type: ActionType
    deadline: dt.date | None
    status: CallStatus = Field(description="open, forthcoming or closed, as of the day of the answer")
    url: str | None


class SuggestionResponse(BaseModel):
    call: SuggestionCall | None = Field(default=None, description="The call the request named, if any")
    requester: SuggestedInstitution | None
    requester_has_research_evidence: bool
    programme: str
    areas: list[str]
    profile: ScoringProfile
    profile_version_id: int | None = Field(default=None, description="Id of the weight profile version used")
    n_eligible: int
    notes: list[str]
    data: list[PartnerSuggestion]
