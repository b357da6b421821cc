"""Response models: what the API shows of the catalogue, with OpenAPI examples taken from real records.

The examples are real rows of the built catalogue (``seed_data/data``): Nazarbayev University, its most
recent Horizon Europe project SPEAK (grant 101210055), its main partner the University of Warwick, the
water priority area and the "Central Asia + Italy" track.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from pydantic.json_schema import JsonDict
from sqlmodel import SQLModel

from matcher.types import (
    COMPONENTS,
    MAX_AREAS,
    MAX_WEIGHT,
    TEXT_MAX_LENGTH,
    UNIQUE_ITEMS,
    AreaKeys,
    AreaStrength,
    InstitutionId,
    MaxPerCountry,
    MmrLambda,
    ProgrammeKey,
    TiePreference,
)
from matcher.weights import FeedbackCounts, ProfileComparison
from matcher.whatif import WhatIfReport
from seed_data.safe_text import SAFE_LINE, SAFE_TEXT
from seed_data.tables import (
    COMMENT_MAX_LENGTH,
    MAX_SQL_INT,
    PROFILE_NAME_MAX_LENGTH,
    PROFILE_REF_PATTERN,
    FeedbackBase,
    FeedbackStatus,
    InstitutionBase,
    InstitutionKind,
    ParticipationRole,
    WeightProfileVersionBase,
)

ROR_URL_PREFIX = "https://ror.org/"

# --- paging and search words of the lists (GET /institutions, GET /calls) -----------------------------------

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
# Far beyond the catalogue (58,655 institutions, 629 call topics) and inside a 64-bit SQL integer: larger
# offsets are 422s, never a database error.
MAX_OFFSET = 1_000_000
# Search words are one line of valid Unicode: a NUL or a lone surrogate is a 422, never a database error.
SearchText = Annotated[str, StringConstraints(max_length=200), SAFE_LINE]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")]
PageOffset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Matches to skip.")]

_NU_PUBLIC: JsonDict = {
    "id": "pic-953676162",
    "name": "Nazarbayev University",
    "legal_name": "NAZARBAYEV UNIVERSITY",
    "short_name": "NU",
    "native_name": "Назарбаев Университет",
    "country": "KZ",
    "city": "Astana",
    "kind": "university",
    "ror_id": "052bx8q98",
    "pic": "953676162",
    "erasmus_code": None,
    "website": "https://nu.edu.kz/",
    "aliases": ["Назарбаев Университет", "Назарбаев Университеті", "NU"],
    "domains": ["nu.edu.kz"],
    "n_projects": 10,
    "has_research_evidence": True,
}

_SPEAK: JsonDict = {
    "id": "HE-101210055",
    "acronym": "SPEAK",
    "title": "Convergence of syntactic, prosodic, and interactional units in conversation",
    "programme": "HORIZON",
    "start_date": "2026-01-01",
    "end_date": "2027-12-31",
    "role": "associated_partner",
}

_WARWICK_PARTNER: JsonDict = {"id": "pic-999976784", "name": "University of Warwick", "country": "GB", "n_shared": 4}


class InstitutionPublic(InstitutionBase):
    """An institution as lists and search results show it."""

    id: str
    aliases: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    n_projects: int = Field(description="Distinct Horizon Europe and H2020 projects it took part in.")
    has_research_evidence: bool = Field(description="Whether it has any research evidence item with text: a Horizon "
                                                    "Europe project, a national project, a publication, a research "
                                                    "unit or field, or an owner profile.")
    evidence_level: Literal["research", "described", "none"] = Field(
        default="none", description="research: projects, publications or an owner profile; described: only research "
                                    "fields and units from public web pages (what it works on, not a record of "
                                    "work done); none: no evidence.")
    score: float | None = Field(
        default=None, description="Search relevance, 0-100 (100: exact name or abbreviation); only with `q`."
    )

    model_config = {"json_schema_extra": {"examples": [{**_NU_PUBLIC, "score": 99.0}]}}


class InstitutionsPublic(BaseModel):
    """A page of institutions; ``count`` is the number of matches over all pages."""

    data: list[InstitutionPublic]
    count: int

    model_config = {
        "json_schema_extra": {"examples": [{"data": [{**_NU_PUBLIC, "score": None}], "count": 1}]}
    }


class ProjectSummary(BaseModel):
    """A project an institution took part in, and its role there."""

    id: str
    acronym: str | None
    title: str | None
    programme: str = Field(description='"HORIZON" (Horizon Europe) or "H2020".')
    start_date: dt.date | None
    end_date: dt.date | None
    role: ParticipationRole

    model_config = {"json_schema_extra": {"examples": [_SPEAK]}}


class PartnerSummary(BaseModel):
    """An institution that shares projects with another one."""

    id: str
    name: str
    country: str
    n_shared: int = Field(description="Projects both institutions took part in.")

    model_config = {"json_schema_extra": {"examples": [_WARWICK_PARTNER]}}


class YearCount(BaseModel):
    """How many projects started in one year."""

    year: int
    count: int


class EvidenceItemPublic(BaseModel):
    """One research evidence item of an institution (other than a CORDIS project: those are in ``projects``)."""

    id: str
    type: Literal["national_project", "publication", "research_unit", "research_field"]
    title: str
    year: int | None
    source: str = Field(description="The page the fact comes from (URL), or file:<name>#<record> for an import")
    origin: Literal["catalogue", "import"]
    external_id: str | None = Field(description="DOI or grant code, where known")
    removable: bool = Field(description="Whether the owner may remove it (imported items only)")


class PartnershipPublic(BaseModel):
    """A known partnership of the institution (besides shared CORDIS projects)."""

    id: str
    partner_id: str | None = Field(description="The partner in the catalogue; null when its name resolved to none")
    partner_name: str
    partner_country: str | None
    type: str = Field(description="branch_campus, dual_degree, mou, erasmus_cbhe, erasmus_mobility, joint_lab, "
                                  "joint_project or other")
    year: int | None
    description: str | None
    source: str
    origin: Literal["catalogue", "import"]
    removable: bool


class EvidenceCounts(BaseModel):
    """How many evidence items of each type an institution has."""

    eu_project: int = Field(description="Horizon Europe projects with text")
    national_project: int
    publication: int
    research_unit: int
    research_field: int
    owner_profile: int


class ImportResult(BaseModel):
    """What an import of publications, projects or partnerships did (or would do, for a dry run)."""

    institution_ids: list[str]
    read: int = Field(description="Records read from the file")
    duplicates_merged: int = Field(description="Records folded into another record of the file")
    added: int
    updated: int
    unchanged: int
    dry_run: bool
    matcher: Literal["updated", "updating", "unchanged"] = Field(
        description="updated: suggestions use the new evidence already; updating: they will once the new texts are "
                    "embedded (large files); unchanged: nothing was written")


class InstitutionDetail(InstitutionPublic):
    """An institution with its identifiers, profile, evidence, recent projects and partners."""

    ror_url: str | None = Field(description="The ROR record, https://ror.org/<ror_id>.")
    provenance: list[str] = Field(description="Source records merged into this institution.")
    profile: str = Field(
        description="The text matching uses: the owner's profile if any, else the derived one."
    )
    profile_source: Literal["owner", "derived"]
    profile_owner_updated: dt.datetime | None = None
    projects: list[ProjectSummary] = Field(description="Most recent first, at most 50; see `n_projects`.")
    projects_per_year: list[YearCount] = Field(
        default_factory=list, description="Projects by start year, over all of them (undated ones left out)."
    )
    partners: list[PartnerSummary] = Field(description="Institutions sharing the most projects, at most 20.")
    area_strengths: list[AreaStrength] = Field(
        default_factory=list,
        description="Percentile per priority area among institutions with research evidence (empty without), "
                    "with the items behind each.",
    )
    evidence_counts: EvidenceCounts
    evidence: list[EvidenceItemPublic] = Field(
        default_factory=list, description="Evidence items other than CORDIS projects, most recent first, at most 200.")
    known_partnerships: list[PartnershipPublic] = Field(default_factory=list,
                                                        description="Known partnerships, most recent first.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    **_NU_PUBLIC,
                    "ror_url": "https://ror.org/052bx8q98",
                    "provenance": ["he_org:953676162", "hipo:nu.edu.kz", "ror:052bx8q98"],
                    "profile": "Nazarbayev University (university, Astana, KZ). Research subjects: general "
                    "language studies; sensors; amorphous solids; composites; entrepreneurship; internet of "
                    "things; geotechnics; democracy; human migrations; governance. Keywords: ...",
                    "profile_source": "derived",
                    "profile_owner_updated": None,
                    "projects": [
                        _SPEAK,
                        {
                            "id": "HE-101169415",
                            "acronym": "FunctiGlass",
                            "title": "Structured functional glasses for lasing sensing and health "
                            "applications",
                            "programme": "HORIZON",
                            "start_date": "2025-03-01",
                            "end_date": "2030-02-28",
                            "role": "associated_partner",
                        },
                    ],
                    "partners": [
                        _WARWICK_PARTNER,
                        {
                            "id": "pic-998697354",
                            "name": "Universidad Mayor de San Simon",
                            "country": "BO",
                            "n_shared": 3,
                        },
                    ],
                    "evidence_counts": {"eu_project": 5, "national_project": 0, "publication": 0,
                                        "research_unit": 0, "research_field": 0, "owner_profile": 0},
                }
            ]
        }
    }


class OpenAlexSubfield(BaseModel):
    """An OpenAlex subfield."""

    id: int
    name: str


class OpenAlexTopic(BaseModel):
    """An OpenAlex topic and the subfield it belongs to."""

    id: int
    name: str
    subfield_id: int


_WATER: JsonDict = {
    "key": "water",
    "name": "Water resource management",
    "description": "Research on the sustainable management of water resources: hydrological and "
    "hydrogeological modelling, surface water and groundwater flow, river basin and transboundary water "
    "management, ...",
    "openalex_subfields": [{"id": 2312, "name": "Water Science and Technology"}],
    "openalex_topics": [
        {"id": 10330, "name": "Hydrological Modeling and Water Resource Management", "subfield_id": 2312},
        {"id": 13375, "name": "Integrated Water Resources Management", "subfield_id": 2312},
    ],
    "euroscivoc_paths": [
        "/engineering and technology/civil engineering/water engineering",
        "/natural sciences/earth and related environmental sciences/hydrology",
    ],
    "sources": ["000_8d7216b4d8c792c0.txt", "004_fbdb0aefea6c4ad8.txt"],
}

_CA_ITALY: JsonDict = {
    "key": "ca-italy",
    "name": "Central Asia + Italy",
    "family": "bilateral",
    "description": "The 'Central Asia + Italy' cooperation format between the five Central Asian states and "
    "Italy, which covers economic partnership, cultural exchange and educational projects. ...",
    "requester_countries": ["KG", "KZ", "TJ", "TM", "UZ"],
    "partner_countries": {"coordinator": ["IT"], "participant": ["IT"]},
    "priority_areas": ["ai", "water", "biotech", "green-energy", "food-agri", "energy-security",
                       "environment-climate", "advanced-materials", "space", "digital"],
    "default_partner_kinds": ["university", "research"],
    "sources": ["003_379b32556e94576d.txt"],
}  # fmt: skip


class PriorityAreaPublic(BaseModel):
    """A national research priority area and its mapping onto OpenAlex and EuroSciVoc."""

    key: str
    name: str
    description: str
    openalex_subfields: list[OpenAlexSubfield]
    openalex_topics: list[OpenAlexTopic]
    euroscivoc_paths: list[str] = Field(description="EuroSciVoc prefixes; each matches its descendants.")
    sources: list[str]

    model_config = {"json_schema_extra": {"examples": [_WATER]}}


class PriorityAreasPublic(BaseModel):
    """All priority areas."""

    data: list[PriorityAreaPublic]
    count: int

    model_config = {"json_schema_extra": {"examples": [{"data": [_WATER], "count": 1}]}}


class ProgrammePublic(BaseModel):
    """A funding programme or cooperation track and the countries eligible per role."""

    key: str
    name: str
    family: str = Field(description="erasmus, horizon, bri or bilateral.")
    description: str
    requester_countries: list[str] = Field(description="Countries whose institutions may look for partners.")
    partner_countries: dict[str, list[str]] = Field(description="Eligible partner countries by role.")
    priority_areas: list[str] = Field(description="Keys of the priority areas the programme funds.")
    default_partner_kinds: list[InstitutionKind]
    sources: list[str]

    model_config = {"json_schema_extra": {"examples": [_CA_ITALY]}}


class ProgrammesPublic(BaseModel):
    """All programmes."""

    data: list[ProgrammePublic]
    count: int

    model_config = {"json_schema_extra": {"examples": [{"data": [_CA_ITALY], "count": 1}]}}


class HealthPublic(BaseModel):
    """The service is up and its institution index is loaded."""

    status: Literal["ok"]
    institutions: int = Field(description="Institutions in the search index.")
    index_built_at: dt.datetime = Field(description="When the search index was built (UTC).")
    database: str = Field(description="The database backend, e.g. sqlite or postgresql.")
    version: str = Field(description="The partnermatch version serving.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "ok",
                    "institutions": 58655,
                    "index_built_at": "2025-11-20T09:30:00Z",
                    "database": "sqlite",
                    "version": "0.1.0",
                }
            ]
        }
    }


class Problem(BaseModel):
    """An error, as an RFC 9457 problem document (``application/problem+json``)."""

    type: str = Field(description='"about:blank": the status says what kind of problem it is.')
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str = Field(description="What went wrong, for a person to read.")
    instance: str = Field(description="The request path.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "No institution with id 'pic-000000000'.",
                    "instance": "/institutions/pic-000000000",
                }
            ]
        }
    }


class ValidationProblem(Problem):
    """A request that does not validate: ``errors`` lists each bad parameter (``loc``, ``msg``, ``type``);
    ``input`` shows at most the first 200 characters of the value."""

    errors: list[dict[str, Any]]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Unprocessable Entity",
                    "status": 422,
                    "detail": "query parameter 'limit': Input should be greater than or equal to 1",
                    "instance": "/institutions",
                    "errors": [
                        {
                            "type": "greater_than_equal",
                            "loc": ["query", "limit"],
                            "msg": "Input should be greater than or equal to 1",
                            "input": "0",
                            "ctx": {"ge": 1},
                        }
                    ],
                }
            ]
        }
    }


def problem_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem documents for ``status_codes``."""
    descriptions = {
        404: "Unknown id or key.",
        409: "Conflicts with the resource's state.",
        413: "The request body is larger than the service accepts.",
        422: "Invalid parameters; `errors` names each.",
        503: "The catalogue is not loaded yet.",
    }
    responses: dict[int | str, dict[str, Any]] = {}
    for code in status_codes:
        model = ValidationProblem if code == 422 else Problem
        responses[code] = {
            "description": descriptions.get(code, "Problem document."),
            "content": {"application/problem+json": {"schema": model.model_json_schema()}},
        }
    return responses


# --- weight profiles and feedback ----------------------------------------------------------------------------


def _as_utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back the stored UTC times without their zone; PostgreSQL keeps it.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_as_utc)]

_HE_DEFAULT: JsonDict = {
    "id": 5,
    "name": "horizon-europe-default",
    "version": 1,
    "programme": "horizon-europe",
    "weights": {"thematic": 0.35, "area_fit": 0.2, "complementarity": 0.1, "track_record": 0.2, "network": 0.15},
    "mmr_lambda": 0.7,
    "max_per_country": None,
    "ties": "neutral",
    "author": "system",
    "key_id": None,
    "created": "2025-11-20T09:30:00Z",
    "comment": "default profile from default_profiles.json",
    "published": True,
    "metrics": None,
    "provenance": {"source": "default_profiles.json"},
}
_WEIGHTS_DESCRIPTION = (
    f"Component -> weight in [0, {MAX_WEIGHT:g}]; weights are normalised to sum to 1 before scoring. "
    f"Components: {list(COMPONENTS)}."
)
# Component names as keys (unknown ones are 422s naming them), finite numbers as values; >= 0 and not all
# zero is checked with the weights as a whole (matcher.weights.check_weights), which names the values.
WeightsBody = dict[Annotated[str, StringConstraints(max_length=40)],
                   Annotated[float, Field(le=MAX_WEIGHT, allow_inf_nan=False, strict=True)]]
Comment = Annotated[str, StringConstraints(max_length=COMMENT_MAX_LENGTH), SAFE_TEXT]


class WeightProfileCreate(WeightProfileVersionBase):
    """A new weight profile, stored as its version 1 (unpublished until published)."""

    programme: ProgrammeKey
    weights: WeightsBody = Field(max_length=len(COMPONENTS),
                                 description=_WEIGHTS_DESCRIPTION + " A component left out weighs 0.")
    mmr_lambda: MmrLambda = 0.7
    max_per_country: MaxPerCountry | None = None
    ties: TiePreference = TiePreference.neutral
    comment: Comment = ""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "horizon-europe-network",
                    "programme": "horizon-europe",
                    "weights": {"thematic": 0.35, "area_fit": 0.15, "complementarity": 0.1, "track_record": 0.15,
                                "network": 0.25},
                    "mmr_lambda": 0.7,
                    "comment": "more weight on consortium proximity",
                }
            ]
        }
    }


class WeightProfileUpdate(SQLModel):
    """Changes for a new version of a profile; what is left out keeps the latest version's value."""

    weights: WeightsBody | None = Field(
        default=None, max_length=len(COMPONENTS),
        description=_WEIGHTS_DESCRIPTION + " Only the components given change.",
    )
    mmr_lambda: MmrLambda | None = None
    max_per_country: MaxPerCountry | None = Field(default=None, description="null removes the cap")
    ties: TiePreference | None = None
    comment: Comment = Field(min_length=1, description="Why the change")

    model_config = {
        "json_schema_extra": {
            "examples": [{"weights": {"thematic": 0.4, "network": 0.1}, "comment": "thematic fit matters more"}]
        }
    }


class WeightProfileRollback(SQLModel):
    """Which version to go back to, and why."""

    to_version: int = Field(ge=1, le=MAX_SQL_INT, strict=True)
    comment: Comment = Field(min_length=1)

    model_config = {"json_schema_extra": {"examples": [{"to_version": 1, "comment": "v2 suggested too few HEIs"}]}}


class WeightProfileVersionPublic(WeightProfileVersionBase):
    """One version of a weight profile."""

    id: int
    version: int
    weights: dict[str, float]
    ties: TiePreference
    author: str = Field(description='The name of the API key that made it, "cli:<user>", or "system".')
    key_id: int | None = Field(description="The API key that made it (null: the CLI or the system).")
    created: UtcDatetime
    published: bool = Field(description="Whether suggestions for its programme use it by default.")
    metrics: dict[str, Any] | None = Field(description="Validation metrics, once evaluated.")
    provenance: dict[str, Any] | None = Field(description="Where the weights came from (e.g. learned).")
    kind: Literal["weights", "learned"] = Field(
        default="weights", description="weights: scored by the weighted components; learned: by a LightGBM ranker "
                                       "(its features, parameters, training-data hash and gains in provenance)")

    model_config = {"json_schema_extra": {"examples": [_HE_DEFAULT]}}


class WeightProfileVersionsPublic(BaseModel):
    """Every version of one profile, oldest first."""

    data: list[WeightProfileVersionPublic]
    count: int

    model_config = {"json_schema_extra": {"examples": [{"data": [_HE_DEFAULT], "count": 1}]}}


class WeightProfileSummary(WeightProfileVersionPublic):
    """A profile's latest version, with the version of it that is published."""

    published_version: int | None = Field(description="The published version of this profile, if any.")
    n_versions: int

    model_config = {
        "json_schema_extra": {"examples": [{**_HE_DEFAULT, "published_version": 1, "n_versions": 1}]}
    }


class WeightProfilesPublic(BaseModel):
    """Every weight profile, by name."""

    data: list[WeightProfileSummary]
    count: int


class FeedbackCreate(FeedbackBase):
    """What came of a suggested partner (send the suggestion response's `profile_version_id`)."""

    requester_id: InstitutionId | None = Field(default=None, description="The requesting institution, if any")
    institution_id: InstitutionId = Field(description="The suggested partner")
    programme: ProgrammeKey
    profile_version_id: int = Field(ge=1, le=MAX_SQL_INT, strict=True,
                                    description="`profile_version_id` of the suggestion response")
    status: FeedbackStatus
    note: Comment | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "requester_id": "pic-953676162",
                    "institution_id": "pic-999976784",
                    "programme": "horizon-europe",
                    "profile_version_id": 5,
                    "status": "contacted",
                    "note": "met at the MSCA info day",
                }
            ]
        }
    }


class FeedbackPublic(FeedbackBase):
    """A recorded report (shown as stored: the checks of ``FeedbackCreate`` are for input)."""

    status: FeedbackStatus
    id: int
    created: UtcDatetime


class FeedbackSummaryPublic(BaseModel):
    """Feedback counted per profile version and status."""

    data: list[FeedbackCounts]
    count: int


class WhatIfPublic(BaseModel):
    """Two versions side by side: parameters, how each requester's top-k changes, attached metrics."""

    parameters: ProfileComparison
    rankings: WhatIfReport
    metrics_a: dict[str, Any] | None = Field(description="Validation metrics attached to version a, if any")
    metrics_b: dict[str, Any] | None = Field(description="Validation metrics attached to version b, if any")


class EvaluationStarted(BaseModel):
    """An evaluation running in the background; its metrics are attached to the version when it ends."""

    profile: str = Field(description="name:version")
    cutoff: str
    until: str


# --- quick estimates and what-if with unsaved weights ---------------------------------------------------------

ComponentName = Literal["thematic", "area_fit", "complementarity", "track_record", "network", "regional_experience",
                        "similar_projects", "repeat_partnership"]
MetricName = Literal["recall@10", "recall@50", "ndcg@10", "mrr"]
assert ComponentName.__args__ == COMPONENTS, "ComponentName lists matcher.types.COMPONENTS"  # type: ignore[attr-defined]
_SLIDER_WEIGHTS: JsonDict = {"thematic": 0.35, "area_fit": 0.2, "complementarity": 0.1, "track_record": 0.2,
                             "network": 0.25}
_METRICS_EXAMPLE: JsonDict = {"recall@10": 0.0699, "recall@50": 0.1736, "ndcg@10": 0.0868, "mrr": 0.195}


class SweepRequest(BaseModel):
    """Vary one component's raw weight from 0 to the sum of all weights, the others fixed."""

    component: ComponentName
    metric: MetricName = "ndcg@10"
    steps: int = Field(default=11, ge=2, le=51, strict=True)


class EstimateRequest(BaseModel):
    """Unsaved weights to estimate on the validation sample (an officer's sliders)."""

    programme: ProgrammeKey = Field(
        description="Programme whose published profile is shown alongside, e.g. horizon-europe.")
    weights: WeightsBody = Field(max_length=len(COMPONENTS), description=_WEIGHTS_DESCRIPTION)
    ties: TiePreference = TiePreference.neutral
    sweep: SweepRequest | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"programme": "horizon-europe", "weights": _SLIDER_WEIGHTS, "ties": "neutral",
                 "sweep": {"component": "network", "metric": "ndcg@10", "steps": 11}}
            ]
        }
    }


class EstimateSample(BaseModel):
    """The queries the estimate is measured on."""

    task: Literal["project_idea"]
    n_queries: int
    cutoff: str = Field(description="The index knows only projects starting before this date.")
    until: str = Field(description="Queries are projects starting in [cutoff, until).")
    note: str


class PublishedEstimate(BaseModel):
    """The programme's published profile on the same sample."""

    profile: str = Field(description="name:version")
    metrics: dict[str, float]


class SweepPoint(BaseModel):
    weight: float = Field(description="Raw weight of the swept component (the others as given).")
    value: float


class SweepPublic(BaseModel):
    component: str
    metric: str
    points: list[SweepPoint]


class EstimatePublic(BaseModel):
    """Validation metrics of the given weights, and of the published profile, on a fixed query sample."""

    sample: EstimateSample
    metrics: dict[str, float] = Field(description="recall@10, recall@50, ndcg@10, mrr (means over the sample).")
    published: PublishedEstimate
    sweep: SweepPublic | None
    seconds: float = Field(description="Time this answer took (the first one also builds the sample).")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "sample": {"task": "project_idea", "n_queries": 200, "cutoff": "2024-01-01",
                               "until": "2025-01-01", "note": "Project-idea task on a fixed random sample ..."},
                    "metrics": _METRICS_EXAMPLE,
                    "published": {"profile": "horizon-europe-default:1", "metrics": _METRICS_EXAMPLE},
                    "sweep": {"component": "network", "metric": "ndcg@10",
                              "points": [{"weight": 0.0, "value": 0.0708}, {"weight": 0.1, "value": 0.0861}]},
                    "seconds": 0.04,
                }
            ]
        }
    }


class UnsavedProfile(BaseModel):
    """Scoring parameters not stored as a version (the officer's sliders)."""

    programme: ProgrammeKey
    weights: WeightsBody = Field(max_length=len(COMPONENTS), description=_WEIGHTS_DESCRIPTION)
    mmr_lambda: MmrLambda = 0.7
    max_per_country: MaxPerCountry | None = None
    ties: TiePreference = TiePreference.neutral


class WhatIfRequest(BaseModel):
    """Compare a stored version ``a`` with unsaved parameters ``b``."""

    a: str | None = Field(default=None, max_length=PROFILE_NAME_MAX_LENGTH + 10, pattern=PROFILE_REF_PATTERN,
                          description="name:version or name (its latest); null: b.programme's published profile")
    b: UnsavedProfile
    areas: AreaKeys = Field(default_factory=list, max_length=MAX_AREAS, json_schema_extra=UNIQUE_ITEMS,
                            description="Priority-area keys, each once")
    k: int = Field(default=10, ge=1, le=50, strict=True)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"a": None, "b": {"programme": "horizon-europe", "weights": _SLIDER_WEIGHTS, "mmr_lambda": 0.7,
                                  "max_per_country": None, "ties": "neutral"}, "areas": ["water"], "k": 10}
            ]
        }
    }


# --- shortlists ---------------------------------------------------------------------------------------------

MAX_SHORTLIST_ITEMS = 500


class ShortlistStatus(StrEnum):
    """Where an office is with a shortlisted partner."""

    shortlisted = "shortlisted"
    contacted = "contacted"
    accepted = "accepted"
    rejected = "rejected"


class ShortlistItem(BaseModel):
    """One partner on the shortlist."""

    institution_id: InstitutionId
    score: float | None = Field(default=None, allow_inf_nan=False, strict=True)
    status: ShortlistStatus | None = None
    note: Comment | None = None


class ShortlistExport(BaseModel):
    """A shortlist to write as a file, in the given order."""

    requester_id: InstitutionId | None = Field(default=None, description="The requesting institution")
    programme: ProgrammeKey | None = None
    areas: AreaKeys = Field(default_factory=list, max_length=MAX_AREAS, json_schema_extra=UNIQUE_ITEMS)
    items: list[ShortlistItem] = Field(min_length=1, max_length=MAX_SHORTLIST_ITEMS)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"requester_id": "pic-953676162", "programme": "horizon-europe", "areas": ["water"],
                 "items": [{"institution_id": "pic-999976784", "score": 0.71, "status": "contacted",
                            "note": "met at the MSCA info day"}]}
            ]
        }
    }


# --- owner profiles and keys --------------------------------------------------------------------------------

PROFILE_TEXT_MIN_LENGTH, PROFILE_TEXT_MAX_LENGTH = 20, TEXT_MAX_LENGTH


class OwnerProfileUpdate(BaseModel):
    """The institution's own description of its research, used for matching instead of the derived one."""

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=PROFILE_TEXT_MIN_LENGTH,
                                           max_length=PROFILE_TEXT_MAX_LENGTH), SAFE_TEXT]

    model_config = {
        "json_schema_extra": {
            "examples": [{"text": "Nazarbayev University: AI, water resources and Kazakh language technology."}]
        }
    }


class OwnerProfilePublic(BaseModel):
    """The profile matching uses from now on; the matcher is rebuilt in the background."""

    institution_id: str
    profile_source: Literal["owner", "derived"]
    profile_owner_updated: UtcDatetime | None
    matcher: Literal["rebuilding", "unchanged"] = Field(
        description="rebuilding: suggestions use the new profile once the matcher is rebuilt (the old one "
                    "answers until then); unchanged: the profile was already so, nothing to rebuild")


class KeyPublic(BaseModel):
    """Who the request's API key belongs to."""

    name: str
    role: str = Field(description="office, officer or admin")
    institution_id: str | None = Field(description="For an owner key: the institution whose profile it may change")

    model_config = {"json_schema_extra": {"examples": [{"name": "Almaty office", "role": "office",
                                                        "institution_id": "pic-959424479"}]}}
