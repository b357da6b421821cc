"""Request and response models of portfolio matching (``POST /portfolios``, ``partnermatch portfolio``), and
the one place a solved :class:`~matcher.portfolio.Portfolio` becomes its public form."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from matcher.engine import CatalogueIndex
from matcher.portfolio import HIGHER_EDUCATION, AssignedPartner, Portfolio
from matcher.types import (
    MAX_AREAS,
    MAX_COUNTRIES,
    MAX_REGIONS,
    UNIQUE_ITEMS,
    AreaKey,
    AreaKeys,
    CountryCode,
    CountryCodes,
    InstitutionIds,
    MaxPerCountry,
    ProgrammeKey,
    RegionKeys,
)
from seed_data.tables import PROFILE_REF_PATTERN, InstitutionKind

# Bounds that keep a request's cost bounded: one ranking per requester and a flow over requesters x pool
# pairs.
MAX_REQUESTERS = 100
MAX_K = 20
MAX_POOL = 500
MAX_COUNTRY_BONUS = 1.0  # scores of weight profiles lie in [0, 1]: a larger bonus would outweigh any score


class RequesterSelection(BaseModel):
    """Requesters chosen by strength: the ``n`` institutions of ``country`` and ``kind`` strongest in ``area``."""

    model_config = {"extra": "forbid"}

    area: AreaKey = Field(description="Priority-area key the requesters are strong in, e.g. water")
    country: CountryCode = Field(default="KZ", description="ISO 3166-1 alpha-2 code of the requesters' country")
    n: int = Field(default=20, ge=1, le=MAX_REQUESTERS, strict=True,
                   description="How many: the strongest first (area-strength percentile, ties by id)")
    kind: InstitutionKind | None = Field(default=InstitutionKind(HIGHER_EDUCATION),
                                         description="Institution kind (default university: higher education); "
                                                     "null for any")
    min_percentile: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False, strict=True,
                                  description="Only institutions at least this strong in the area (percentile among "
                                              "institutions with research evidence; 0.8: the top fifth)")


class PortfolioRequest(BaseModel):
    """Partners for several requesters at once: each gets ``k``, no partner more than ``c`` requesters."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [
            {"programme": "horizon-europe", "select": {"country": "KZ", "area": "water", "n": 20}, "k": 5, "c": 2,
             "max_per_country": 2},
            {"programme": "erasmus-cbhe", "requester_ids": ["pic-953676162", "pic-959424479"], "areas": ["water"],
             "k": 3, "c": 1},
        ]},
    }

    programme: ProgrammeKey = Field(description="Programme key, e.g. horizon-europe, erasmus-cbhe, bri")
    requester_ids: InstitutionIds | None = Field(
        default=None, min_length=1, max_length=MAX_REQUESTERS, json_schema_extra=UNIQUE_ITEMS,
        description="Catalogue ids of the requesters, each once (or give `select`)")
    select: RequesterSelection | None = Field(default=None, description="Choose the requesters by area strength "
                                                                        "(instead of `requester_ids`)")
    areas: AreaKeys = Field(default_factory=list, max_length=MAX_AREAS, json_schema_extra=UNIQUE_ITEMS,
                            description="Priority areas the partners are ranked for (default with `select`: its area)")
    k: int = Field(default=5, ge=1, le=MAX_K, strict=True, description="Partners per requester")
    c: int = Field(default=2, ge=1, le=MAX_REQUESTERS, strict=True, description="Requesters per partner, at most")
    max_per_country: MaxPerCountry | None = Field(
        default=None, description="Partners of one country per requester, at most (default: the profile's cap)")
    countries: CountryCodes | None = Field(
        default=None, max_length=MAX_COUNTRIES, json_schema_extra=UNIQUE_ITEMS,
        description="Only partners in these countries (ISO 3166-1 alpha-2 codes, each once)")
    regions: RegionKeys | None = Field(
        default=None, max_length=MAX_REGIONS, json_schema_extra=UNIQUE_ITEMS,
        description="Only partners in these country groups (CENTRAL_ASIA, EU27, BRI, ...), each once")
    country_bonus: float = Field(
        default=0.0, ge=0, le=MAX_COUNTRY_BONUS, allow_inf_nan=False, strict=True,
        description="Added to the objective for each distinct partner country of a requester (0: scores only); "
                    "reported apart from the scores")
    pool_size: int | None = Field(default=None, ge=1, le=MAX_POOL, strict=True,
                                  description="Candidates taken from each requester's ranking into the pool "
                                              "(default max(5k, 50))")
    profile: str | None = Field(
        default=None, max_length=120, pattern=PROFILE_REF_PATTERN,
        description="Weight profile, 'name' or 'name:version'; default: the programme's published profile")

    @model_validator(mode="after")
    def _one_way_to_name_requesters(self) -> PortfolioRequest:
        if (self.requester_ids is None) == (self.select is None):
            raise ValueError("give either requester_ids or select, not both and not neither")
        if self.pool_size is not None and self.pool_size < self.k:
            raise ValueError(f"pool_size ({self.pool_size}) must be at least k ({self.k})")
        return self

    def ranking_areas(self) -> list[str]:
        """The areas the partners are ranked for: ``areas``, else the selection's area."""
        return list(self.areas) or ([self.select.area] if self.select else [])


class PortfolioInstitution(BaseModel):
    id: str
    name: str
    country: str
    kind: str


class PortfolioPartner(BaseModel):
    """A partner in one requester's portfolio (or in its independent top-k)."""

    institution: PortfolioInstitution
    score: float = Field(description="The requester's score for this partner (as POST /suggestions ranks by)")
    own_rank: int = Field(description="Its position in the requester's own ranking by score (1: best)")
    load: int = Field(description="How many requesters of the portfolio got this partner")


class RequesterPortfolioPublic(BaseModel):
    """One requester's partners, next to what it would get alone."""

    requester: PortfolioInstitution
    partners: list[PortfolioPartner] = Field(description="Best score first")
    total: float = Field(description="Sum of the partners' scores")
    independent: list[PortfolioPartner] = Field(
        description="Its own top-k: the best k by score under the same per-country cap, as if alone")
    independent_total: float
    ratio: float | None = Field(description="total / independent_total (1: nothing lost to sharing); null when "
                                            "the independent total is not positive")
    overlap: int = Field(description="Partners that are also in its independent top-k")
    countries: list[str] = Field(description="Its partners' countries, each once")
    n_eligible: int = Field(description="Candidates eligible for it under the programme and filters")
    shortfall: str | None = Field(description="Why it got fewer than k partners; null when it got k")
    notes: list[str]


class PartnerLoad(BaseModel):
    """A partner and the requesters it was assigned to."""

    institution: PortfolioInstitution
    requester_ids: list[str]


class PortfolioSpread(BaseModel):
    """How the portfolio spreads over partners and countries."""

    n_partners: int = Field(description="Distinct partners assigned")
    max_load: int = Field(description="Most requesters sharing one partner (at most c)")
    load_gini: float = Field(description="Gini coefficient of requesters per partner (0: every partner equally "
                                         "shared)")
    n_countries: int = Field(description="Distinct partner countries over the portfolio")
    per_country: dict[str, int] = Field(description="Assignments per partner country")
    mean_ratio: float | None = Field(description="Mean over requesters of total / independent total")
    min_ratio: float | None


class PortfolioResponse(BaseModel):
    programme: str
    areas: list[str]
    profile_ref: str | None = Field(default=None, description="The weight profile version, 'name:version'")
    profile_version_id: int | None = None
    k: int
    c: int
    max_per_country: int | None
    country_bonus: float
    pool_size: int = Field(description="Candidates taken from each requester's ranking")
    n_pool: int = Field(description="Distinct candidates in the pool the assignment chose from")
    total: float = Field(description="Sum of every requester's total")
    independent_total: float = Field(description="Sum of every requester's independent total (an upper bound)")
    ratio: float | None
    n_short: int = Field(description="Requesters that got fewer than k partners")
    requesters: list[RequesterPortfolioPublic]
    partners: list[PartnerLoad] = Field(description="Every partner assigned, most shared first")
    spread: PortfolioSpread
    seconds: dict[str, float] = Field(description="Time spent ranking and solving")
    notes: list[str]


def _institution(index: CatalogueIndex, row: int) -> PortfolioInstitution:
    info = index.institutions[row]
    return PortfolioInstitution(id=info.id, name=info.name, country=info.country, kind=info.kind)


def portfolio_public(portfolio: Portfolio, index: CatalogueIndex, *, profile_ref: str | None = None,
                     profile_version_id: int | None = None, notes: list[str] | None = None) -> PortfolioResponse:
    """The public form of a solved portfolio (rows become institutions here, and only here)."""

    def partner(p: AssignedPartner) -> PortfolioPartner:
        return PortfolioPartner(institution=_institution(index, p.row), score=round(p.score, 4), own_rank=p.own_rank,
                                load=portfolio.load.get(p.row, 0))

    requesters = []
    for r in portfolio.requesters:
        ratio = r.ratio
        requesters.append(RequesterPortfolioPublic(
            requester=_institution(index, r.row), partners=[partner(p) for p in r.partners], total=round(r.total, 4),
            independent=[partner(p) for p in r.independent], independent_total=round(r.independent_total, 4),
            ratio=None if ratio is None else round(ratio, 4), overlap=r.overlap,
            countries=sorted({index.institutions[p.row].country for p in r.partners}), n_eligible=r.n_eligible,
            shortfall=r.shortfall, notes=r.notes))
    shared_by: dict[int, list[str]] = {}
    for r in portfolio.requesters:
        for p in r.partners:
            shared_by.setdefault(p.row, []).append(index.institutions[r.row].id)
    partners = [PartnerLoad(institution=_institution(index, row), requester_ids=ids)
                for row, ids in sorted(shared_by.items(), key=lambda item: (-len(item[1]), index.institutions[
                    item[0]].id))]
    per_country: dict[str, int] = {}
    for row, load in portfolio.load.items():
        country = index.institutions[row].country
        per_country[country] = per_country.get(country, 0) + load
    ratios = [r.ratio for r in portfolio.requesters if r.ratio is not None]
    total, independent = portfolio.total, portfolio.independent_total
    return PortfolioResponse(
        programme=portfolio.programme, areas=portfolio.areas, profile_ref=profile_ref,
        profile_version_id=profile_version_id, k=portfolio.k, c=portfolio.c, max_per_country=portfolio.max_per_country,
        country_bonus=portfolio.country_bonus, pool_size=portfolio.pool_size, n_pool=portfolio.n_pool,
        total=round(total, 4), independent_total=round(independent, 4),
        ratio=round(total / independent, 4) if independent > 0 else None,
        n_short=sum(r.shortfall is not None for r in portfolio.requesters), requesters=requesters, partners=partners,
        spread=PortfolioSpread(
            n_partners=len(portfolio.load), max_load=portfolio.max_load, load_gini=round(portfolio.load_gini, 4),
            n_countries=len(per_country), per_country=dict(sorted(per_country.items(), key=lambda kv: (-kv[1],
                                                                                                      kv[0]))),
            mean_ratio=round(sum(ratios) / len(ratios), 4) if ratios else None,
            min_ratio=round(min(ratios), 4) if ratios else None),
        seconds={name: round(s, 4) for name, s in portfolio.seconds.items()},
        notes=notes or [])
