"""The catalogue's SQLModel tables: institutions, projects, participations, priority areas, programmes.

Every catalogue table lives here (the embedding cache table lives in ``embeddings/cache.py``).
Rows carry plain JSON lists for multi-valued fields (aliases, domains, keywords) so that the same
schema runs on SQLite and PostgreSQL without extra tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Literal, get_args

from sqlalchemy import JSON, Column, DateTime, Index, Table, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

# Institution.id, and every column or request field that holds one.
INSTITUTION_ID_MAX_LENGTH = 80


class InstitutionKind(StrEnum):
    """What an institution is; CORDIS activity types and ROR types both map onto these."""

    university = "university"
    research = "research"
    company = "company"
    public = "public"
    other = "other"


class ParticipationRole(StrEnum):
    """A participant's role in a project, as CORDIS names it (H2020 ``partner`` maps to associated partner)."""

    coordinator = "coordinator"
    participant = "participant"
    associated_partner = "associated_partner"
    third_party = "third_party"


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model (what ``Model.__table__`` is, which the type stubs do not declare)."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class InstitutionBase(SQLModel):
    """Fields an institution has wherever it comes from (the build or an office's import)."""

    name: str = Field(min_length=1, max_length=500)
    legal_name: str | None = Field(default=None, max_length=500)
    short_name: str | None = Field(default=None, max_length=200)
    native_name: str | None = Field(default=None, max_length=500)
    country: str = Field(min_length=2, max_length=2, index=True)
    city: str | None = Field(default=None, max_length=200)
    kind: InstitutionKind = Field(default=InstitutionKind.other, index=True)
    ror_id: str | None = Field(default=None, max_length=9, index=True)
    pic: str | None = Field(default=None, max_length=9, index=True)
    erasmus_code: str | None = Field(default=None, max_length=20, index=True)
    website: str | None = Field(default=None, max_length=500)


class Institution(InstitutionBase, table=True):
    """One real organisation, merged from every source record that names it.

    ``name`` is the display name (ROR's, else the legal name); ``legal_name`` the registered name where
    CORDIS or the Erasmus charter list gives one; ``native_name`` a name in the local language or script.

    ``id`` is stable across rebuilds: ``pic-<PIC>`` where a PIC is known, else ``ror-<ROR id>``,
    else ``web-<domain>``. ``provenance`` lists the source records it was merged from
    (``he_org:<PIC>``, ``eche:<Erasmus code>``, ``ror:<id>``, ``hipo:<domain>``, ``import:<file>``).
    """

    id: str = Field(primary_key=True, max_length=INSTITUTION_ID_MAX_LENGTH)
    aliases: list[str] = _json_list()
    domains: list[str] = _json_list()
    provenance: list[str] = _json_list()
    n_projects: int = 0
    has_research_evidence: bool = Field(default=False, index=True)
    # "research" (projects, publications or an owner profile), "described" (only research fields and units
    # from public web pages: what it works on, not a record of work done) or "none"; an EvidenceLevel value.
    evidence_level: str = Field(default="none", max_length=20, index=True)
    profile_derived: str = ""
    profile_owner: str | None = None
    profile_owner_updated: dt.datetime | None = None

    @property
    def profile(self) -> str:
        """The profile used for matching: the owner's text where one was supplied, else the derived one."""
        return self.profile_owner or self.profile_derived


class Project(SQLModel, table=True):
    """A funded project: Horizon Europe with full text, or H2020 with dates only (the H2020 source has no text)."""

    id: str = Field(primary_key=True, max_length=40)
    programme: str = Field(index=True, max_length=20)  # "HORIZON" or "H2020"
    grant_id: str | None = Field(default=None, max_length=20)
    rcn: str | None = Field(default=None, max_length=20)
    acronym: str | None = None
    title: str | None = None
    objective: str | None = None
    keywords: list[str] = _json_list()
    euroscivoc: list[str] = _json_list()
    call: str | None = None
    topic: str | None = None
    topic_title: str | None = None
    programme_part: str | None = None
    start_date: dt.date | None = Field(default=None, index=True)
    end_date: dt.date | None = None
    funding_scheme: str | None = Field(default=None, max_length=60)  # CORDIS code, e.g. HORIZON-RIA (HE only)


# Action types of CORDIS funding schemes, most specific first: (marker in the scheme code, action type).
_ACTION_TYPES = (("MSCA", "MSCA"), ("ERC", "ERC"), ("EIC", "EIC"), ("-RIA", "RIA"), ("-IA", "IA"),
                 ("-CSA", "CSA"))
ActionType = Literal["RIA", "IA", "CSA", "MSCA", "ERC", "EIC", "other"]
ACTION_TYPES: tuple[str, ...] = get_args(ActionType)


def action_type(funding_scheme: str | None) -> str:
    """The action type of a CORDIS funding scheme code: RIA, IA, CSA (joint undertakings and Euratom
    included), MSCA, ERC, EIC, else ``other`` (co-funds, EIT, unknown).

    >>> action_type("HORIZON-JU-RIA"), action_type("HORIZON-TMA-MSCA-DN"), action_type(None)
    ('RIA', 'MSCA', 'other')
    """
    code = (funding_scheme or "").upper()
    return next((kind for marker, kind in _ACTION_TYPES if marker in code), "other")


class Participation(SQLModel, table=True):
    """An organisation's part in a project. ``institution_id`` is empty where the PIC has no name in any source:
    those participations still count as network evidence."""

    project_id: str = Field(primary_key=True, foreign_key="project.id", max_length=40)
    pic: str = Field(primary_key=True, max_length=9)
    role: ParticipationRole = Field(primary_key=True)
    institution_id: str | None = Field(default=None, foreign_key="institution.id", index=True,
                                       max_length=INSTITUTION_ID_MAX_LENGTH)
    activity_type: str | None = Field(default=None, max_length=3)
    country: str | None = Field(default=None, max_length=2)


class EvidenceType(StrEnum):
    """What an evidence item is. ``eu_project`` items are the CORDIS projects (Project + Participation) and
    ``owner_profile`` the owner's profile text (Institution.profile_owner); every other type is an
    :class:`EvidenceItem` row."""

    eu_project = "eu_project"
    national_project = "national_project"
    publication = "publication"
    research_unit = "research_unit"
    research_field = "research_field"
    owner_profile = "owner_profile"


# Types that show research done; an institution with items of the other types only is "described".
RESEARCH_EVIDENCE_TYPES = frozenset({EvidenceType.eu_project, EvidenceType.national_project,
                                     EvidenceType.publication, EvidenceType.owner_profile})


class EvidenceLevel(StrEnum):
    """How an institution's research is known (Institution.evidence_level)."""

    research = "research"
    described = "described"
    none = "none"


def evidence_level(types: Iterable[str]) -> EvidenceLevel:
    """The evidence level of an institution holding items of ``types``."""
    present = set(types)
    if present & RESEARCH_EVIDENCE_TYPES:
        return EvidenceLevel.research
    return EvidenceLevel.described if present else EvidenceLevel.none


class ItemOrigin(StrEnum):
    """Where an evidence item or partnership row came from: the shipped catalogue (replaced by every load)
    or an office's import (never touched by a load)."""

    catalogue = "catalogue"
    imported = "import"


EVIDENCE_ID_MAX_LENGTH = 80
SOURCE_MAX_LENGTH = 2000


class EvidenceItem(SQLModel, table=True):
    """One piece of research evidence of one institution that is not a CORDIS project: a national project,
    a publication, a research unit or a research field.

    ``text`` is what gets embedded (its vector lives in the embedding cache under the text's hash);
    ``title`` is what people read. ``year`` is the start year of a project or the year of a publication,
    ``None`` where unknown (undated items never count as recent). ``source`` is where the fact comes from:
    a URL, or ``file:<name>#<record>`` for an import. ``id`` is a digest of institution, type and identity
    (DOI, grant code or normalised title), so a re-import of the same record finds it again.
    """

    __tablename__ = "evidence_item"

    id: str = Field(primary_key=True, max_length=EVIDENCE_ID_MAX_LENGTH)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=INSTITUTION_ID_MAX_LENGTH)
    type: str = Field(max_length=30, index=True)  # an EvidenceType value (never eu_project or owner_profile)
    title: str = Field(max_length=2000)
    text: str
    year: int | None = Field(default=None, ge=1900, le=2100)
    source: str = Field(max_length=SOURCE_MAX_LENGTH)
    external_id: str | None = Field(default=None, max_length=300)  # DOI, grant code (IRN), …
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    origin: str = Field(default="catalogue", max_length=20, index=True)  # an ItemOrigin value
    key_id: int | None = Field(default=None, foreign_key="apikey.id")
    created: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class PartnershipType(StrEnum):
    """A known tie between two institutions besides co-participation in a CORDIS project."""

    branch_campus = "branch_campus"
    dual_degree = "dual_degree"
    mou = "mou"
    erasmus_cbhe = "erasmus_cbhe"
    erasmus_mobility = "erasmus_mobility"
    joint_lab = "joint_lab"
    joint_project = "joint_project"
    other = "other"


class Partnership(SQLModel, table=True):
    """A known partnership of ``institution_id`` with a partner, typed and dated, with its source.

    ``partner_id`` is the catalogue institution the partner's name resolved to, ``None`` where it resolved
    to none (or to two): the edge is kept, by name, rather than dropped.
    """

    id: str = Field(primary_key=True, max_length=EVIDENCE_ID_MAX_LENGTH)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=INSTITUTION_ID_MAX_LENGTH)
    partner_id: str | None = Field(default=None, foreign_key="institution.id", index=True,
                                   max_length=INSTITUTION_ID_MAX_LENGTH)
    partner_name: str = Field(max_length=500)
    partner_country: str | None = Field(default=None, max_length=2)
    type: str = Field(max_length=30)  # a PartnershipType value
    year: int | None = Field(default=None, ge=1900, le=2100)
    description: str | None = Field(default=None, max_length=2000)
    source: str = Field(max_length=SOURCE_MAX_LENGTH)
    origin: str = Field(default="catalogue", max_length=20, index=True)  # an ItemOrigin value
    key_id: int | None = Field(default=None, foreign_key="apikey.id")
    created: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class PriorityArea(SQLModel, table=True):
    """A national priority area, with its mapping to OpenAlex and EuroSciVoc."""

    key: str = Field(primary_key=True, max_length=40)
    name: str
    description: str
    openalex_subfields: list[dict[str, Any]] = _json_list()
    openalex_topics: list[dict[str, Any]] = _json_list()
    euroscivoc_paths: list[str] = _json_list()
    sources: list[str] = _json_list()


class Programme(SQLModel, table=True):
    """A funding programme or cooperation track, with its eligible partner countries per role."""

    key: str = Field(primary_key=True, max_length=40)
    name: str
    family: str
    description: str
    requester_countries: list[str] = _json_list()
    partner_countries: dict[str, list[str]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    priority_areas: list[str] = _json_list()
    default_partner_kinds: list[str] = _json_list()
    rules_as_of: str | None = Field(default=None, max_length=10, description="Date the eligibility rules are as of")
    sources: list[str] = _json_list()



CALL_TOPIC_ID_MAX_LENGTH = 100


class Call(SQLModel, table=True):
    """An open or forthcoming EU call topic (Funding & Tenders portal), as the calls an office applies to.

    ``programme`` is the portal's programme name ("Horizon Europe", "LIFE"); ``programme_key`` our programme
    key where one exists ("horizon-europe"), else ``None``. ``action_type`` is one of ``ACTION_TYPES``, read
    from the portal's type of action (``types_of_action``, kept raw). ``portal_status`` is the portal's status
    when the source was fetched; whether a call is open *today* is ``seed_data.calls.call_status``. ``text``
    is the clean description (objective, scope, expected outcomes) and ``conditions`` the clean admissibility
    and eligibility text. Budgets are in EUR.
    """

    __tablename__ = "call_topic"

    topic_id: str = Field(primary_key=True, max_length=CALL_TOPIC_ID_MAX_LENGTH)
    title: str = Field(max_length=500)
    programme: str = Field(max_length=200)
    programme_key: str | None = Field(default=None, max_length=40, index=True)
    cluster: str | None = Field(default=None, max_length=40, index=True)
    call_identifier: str | None = Field(default=None, max_length=CALL_TOPIC_ID_MAX_LENGTH)
    call_title: str | None = Field(default=None, max_length=1000)
    action_type: str = Field(max_length=10, index=True)  # an ACTION_TYPES value
    types_of_action: str | None = Field(default=None, max_length=200)
    deadline: dt.date | None = Field(default=None, index=True)
    deadline_model: str | None = Field(default=None, max_length=40)  # single-stage, two-stage, multiple cut-off
    portal_status: str | None = Field(default=None, max_length=20)  # open, forthcoming, closed (when fetched)
    budget_min: float | None = None
    budget_max: float | None = None
    expected_grants: int | None = None
    keywords: list[str] = _json_list()
    text: str
    conditions: str | None = None
    url: str | None = Field(default=None, max_length=SOURCE_MAX_LENGTH)


# --- weight profiles, API keys, feedback ------------------------------------------------------------------

# Versions, ids and caps that come from requests must fit a 32-bit SQL INTEGER (PostgreSQL ``integer``);
# a larger number would be a database error rather than a 422.
MAX_SQL_INT = 2**31 - 1
# Lower-case slugs ("horizon-europe-default"): safe in URLs, and ":" stays free to separate the version.
PROFILE_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
# A reference to a profile: "name" (its latest version) or "name:version".
PROFILE_REF_PATTERN = PROFILE_NAME_PATTERN.removesuffix("$") + r"(:[1-9][0-9]{0,8})?$"
PROFILE_NAME_MAX_LENGTH = 100
PROGRAMME_KEY_MAX_LENGTH = 40
AUTHOR_MAX_LENGTH = 200
COMMENT_MAX_LENGTH = 2000
# A project idea or profile in a request (an owner profile has the same limit), and a call's idea
# (``seed_data.calls.call_idea``): here, the bottom layer, so that seed_data and matcher share one number.
TEXT_MAX_LENGTH = 20000


def utc_now() -> dt.datetime:
    """The current time, tz-aware UTC."""
    return dt.datetime.now(dt.UTC)


class ApiKeyRole(StrEnum):
    """What an API key may do; each role may also do everything the roles before it may."""

    office = "office"  # read the catalogue, weights and feedback; ask for suggestions; give feedback
    officer = "officer"  # also change, publish and roll back weight profiles
    admin = "admin"


class FeedbackStatus(StrEnum):
    """What came of a suggested partner."""

    contacted = "contacted"
    accepted = "accepted"
    rejected = "rejected"


class WeightProfileVersionBase(SQLModel):
    """Fields of a weight-profile version that requests set, with their constraints.

    ``ties`` is a ``TiePreference`` value, stored as text (this package imports no matcher types).
    """

    name: str = Field(min_length=1, max_length=PROFILE_NAME_MAX_LENGTH, index=True,
                      schema_extra={"pattern": PROFILE_NAME_PATTERN})
    programme: str = Field(min_length=1, max_length=PROGRAMME_KEY_MAX_LENGTH, index=True)
    mmr_lambda: float = Field(default=0.7, ge=0, le=1)
    max_per_country: int | None = Field(default=None, ge=1, le=MAX_SQL_INT)
    ties: str = Field(default="neutral", max_length=20)
    comment: str = Field(default="", max_length=COMMENT_MAX_LENGTH)


class WeightProfileVersion(WeightProfileVersionBase, table=True):
    """One version of a named weight profile; a change adds a version and never rewrites one.

    ``weights`` maps every scoring component to its (unnormalised, non-negative) weight. At most one
    version per programme is ``published`` (a partial unique index says so to the database too): the
    one suggestions use unless a request names another. ``metrics`` holds validation metrics the
    evaluation code attaches later; ``provenance`` says where learned weights came from.
    """

    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_weightprofileversion_name_version"),
        Index(
            "uq_weightprofileversion_published_programme",
            "programme",
            unique=True,
            sqlite_where=text("published"),
            postgresql_where=text("published"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(ge=1)
    weights: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    author: str = Field(max_length=AUTHOR_MAX_LENGTH)
    key_id: int | None = Field(default=None, foreign_key="apikey.id", index=True)
    created: dt.datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    published: bool = Field(default=False)
    metrics: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    provenance: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    # "weights": the weighted sum of the components; "learned": the ranker ``model`` (LightGBM text) scores
    kind: str = Field(default="weights", max_length=20)
    model: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ApiKey(SQLModel, table=True):
    """An API key: its role, a name for people (recorded as the author of changes), its hash and, for an
    owner key, the institution it speaks for.

    The plaintext is shown once, at creation, and never stored; ``prefix`` (its first characters) lets
    people tell keys apart in listings and lets ``authenticate`` find the row to compare hashes with.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(min_length=1, max_length=AUTHOR_MAX_LENGTH)
    role: str = Field(max_length=20)  # an ApiKeyRole value
    prefix: str = Field(max_length=8, index=True)
    # sha256 hex of the whole key. A fast hash is enough here, unlike for passwords: keys are 32 random
    # bytes, so there is no dictionary to try, and a slow hash (bcrypt, argon2) would only slow each request.
    key_hash: str = Field(max_length=64, unique=True)
    created: dt.datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    revoked: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # An owner key: the institution whose profile this key may change (null for every other key). Added
    # after the first release: `partnermatch db init` adds the column to older databases (migration 0002).
    institution_id: str | None = Field(default=None, max_length=INSTITUTION_ID_MAX_LENGTH, foreign_key="institution.id")


class FeedbackBase(SQLModel):
    """What an office reports about one suggested partner, with the profile version that suggested it."""

    requester_id: str | None = Field(default=None, max_length=INSTITUTION_ID_MAX_LENGTH,
                                     description="The requesting institution, if any")
    institution_id: str = Field(min_length=1, max_length=INSTITUTION_ID_MAX_LENGTH, foreign_key="institution.id",
                                index=True, description="The suggested partner")
    programme: str = Field(min_length=1, max_length=PROGRAMME_KEY_MAX_LENGTH, index=True)
    profile_version_id: int = Field(ge=1, le=MAX_SQL_INT, foreign_key="weightprofileversion.id", index=True,
                                    description="`profile_version_id` of the suggestion response")
    status: str = Field(max_length=20, description="A FeedbackStatus value: contacted, accepted or rejected")
    note: str | None = Field(default=None, max_length=COMMENT_MAX_LENGTH)


class Feedback(FeedbackBase, table=True):
    """One report on a suggestion; reports are added, never changed, so the history stays."""

    id: int | None = Field(default=None, primary_key=True)
    key_id: int = Field(foreign_key="apikey.id", index=True)
    created: dt.datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


# --- catalogue loads ----------------------------------------------------------------------------------------


class CatalogueLoad(SQLModel, table=True):
    """One run of ``seed_data.crud.load_catalogue``: committed before its first catalogue row is written and
    marked ``completed`` after its last, so a load killed in between stays visible (``completed`` empty)
    and the service refuses to serve from the part it wrote. ``source`` is the sha256 of the files loaded."""

    __tablename__ = "catalogue_load"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    started: dt.datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    completed: dt.datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
