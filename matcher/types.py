"""Requests and answers of the matcher, shared by the API and the CLI."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

COMPONENTS = ("thematic", "area_fit", "complementarity", "track_record", "network")


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

    def normalised(self) -> dict[str, float]:
        """The weights divided by their sum (an error when all are zero)."""
        values = {name: float(getattr(self, name)) for name in COMPONENTS}
        total = sum(values.values())
        if total <= 0:
            raise ValueError("at least one component weight must be positive")
        return {name: value / total for name, value in values.items()}


class WeightOverrides(BaseModel):
    """Single weights a request overrides; unset ones keep the profile's value."""

    thematic: float | None = Field(default=None, ge=0)
    area_fit: float | None = Field(default=None, ge=0)
    complementarity: float | None = Field(default=None, ge=0)
    track_record: float | None = Field(default=None, ge=0)
    network: float | None = Field(default=None, ge=0)


class ScoringProfile(BaseModel):
    """How a programme scores: component weights, diversity and the preference for existing ties."""

    weights: ComponentWeights
    mmr_lambda: float = Field(default=0.7, ge=0, le=1, description="1 = pure relevance, 0 = pure diversity")
    max_per_country: int | None = Field(default=None, ge=1)
    ties: TiePreference = TiePreference.neutral


class SuggestionRequest(BaseModel):
    """Whom should the requester partner with, for this programme and these areas?"""

    requester_id: str | None = Field(default=None, description="Catalogue id of the requesting institution")
    text: str | None = Field(default=None, max_length=20000,
                             description="A project idea, or the profile of an institution not in the catalogue")
    programme: str = Field(description="Programme key, e.g. horizon-europe, erasmus-cbhe, bri")
    areas: list[str] = Field(default_factory=list, description="Priority-area keys, e.g. water, ai")
    countries: list[str] | None = Field(default=None, description="Only candidates in these countries")
    kinds: list[str] | None = Field(default=None, description="Only these kinds (default: the programme's)")
    exclude: list[str] = Field(default_factory=list, description="Institution ids never to suggest")
    ties: TiePreference | None = Field(default=None, description="Existing partners: preferred/neutral/excluded")
    new_partners_only: bool = Field(default=False, description="Shorthand for ties=excluded")
    weights: WeightOverrides | None = None
    mmr_lambda: float | None = Field(default=None, ge=0, le=1)
    max_per_country: int | None = Field(default=None, ge=1)
    k: int = Field(default=10, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1000)
    profile: str | None = Field(
        default=None, max_length=120, pattern=r"^[a-z0-9][a-z0-9._-]*(:[1-9][0-9]{0,8})?$",
        description="Weight profile to score with, 'name' (its latest version) or 'name:version'; "
                    "default: the programme's published profile",
    )

    @model_validator(mode="after")
    def _needs_a_requester(self) -> SuggestionRequest:
        if not self.requester_id and not (self.text and self.text.strip()):
            raise ValueError("give requester_id (a catalogue institution) or text (a profile or project idea)")
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
    value: float = Field(description="Component value in [0, 1]")
    weight: float = Field(description="Normalised weight")
    contribution: float = Field(description="value × weight; the contributions sum to the score")


class ProjectEvidence(BaseModel):
    id: str
    acronym: str | None
    title: str | None
    year: int | None
    similarity: float | None = Field(default=None, description="Cosine similarity to the request")


class PartnerEvidence(BaseModel):
    id: str | None = Field(description="Catalogue id; null for an organisation known only by its PIC")
    name: str


class AreaStrength(BaseModel):
    key: str
    name: str
    percentile: float


class Evidence(BaseModel):
    matching_projects: list[ProjectEvidence] = []
    keywords: list[str] = []
    strong_areas: list[AreaStrength] = []
    shared_partners: list[PartnerEvidence] = []
    n_shared_partners: int = 0
    joint_projects: list[ProjectEvidence] = []
    n_joint_projects: int = 0


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
    has_research_evidence: bool
    existing_partner: bool = Field(description="Already shares a project with the requester")
    reasons: list[str] = Field(description="The strongest reasons in words")
    evidence: Evidence


class SuggestionResponse(BaseModel):
    requester: SuggestedInstitution | None
    requester_has_research_evidence: bool
    programme: str
    areas: list[str]
    profile: ScoringProfile
    profile_version_id: int | None = Field(default=None, description="Id of the weight profile version used")
    n_eligible: int
    notes: list[str]
    data: list[PartnerSuggestion]
