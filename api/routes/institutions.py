"""Institutions: ranked search and filtered lists, one institution's identifiers, projects and partners, and
its owner-supplied profile (changed by an admin key or the institution's owner key).

The query helpers take the session keyword-only and return response models, so the console can call
them as the routes do.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Path, Query, Request
from sqlalchemy import ColumnElement, case, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from api.auth import OfficeKey, auth_responses
from api.deps import IndexDep, SessionDep, get_index
from api.errors import Forbidden, NotFound
from api.schemas import (
    DEFAULT_PAGE_SIZE,
    ROR_URL_PREFIX,
    EvidenceCounts,
    EvidenceItemPublic,
    InstitutionDetail,
    InstitutionPublic,
    InstitutionsPublic,
    OwnerProfilePublic,
    OwnerProfileUpdate,
    PageOffset,
    PageSize,
    PartnershipPublic,
    PartnerSummary,
    ProjectSummary,
    SearchText,
    YearCount,
    problem_responses,
)
from api.state import refresh_matcher_logged
from matcher.suggest import Matcher
from matcher.types import InstitutionId
from seed_data.evidence import project_has_text
from seed_data.search import InstitutionIndex
from seed_data.tables import (
    ApiKey,
    ApiKeyRole,
    EvidenceItem,
    EvidenceType,
    Institution,
    InstitutionKind,
    ItemOrigin,
    Participation,
    ParticipationRole,
    Partnership,
    Project,
    utc_now,
)

logger = logging.getLogger(__name__)

# Ids are one line of valid Unicode: a NUL or a lone surrogate is a 422, never a database error.
InstitutionIdPath = Annotated[InstitutionId, Path(description="e.g. pic-953676162")]

router = APIRouter(prefix="/institutions", tags=["institutions"], responses=problem_responses(503))

MAX_DETAIL_PROJECTS = 50
MAX_DETAIL_PARTNERS = 20
MAX_DETAIL_EVIDENCE = 200
MAX_DETAIL_PARTNERSHIPS = 200
# Where an institution has several roles in one project (rare in CORDIS), the summary shows the leading one.
_ROLE_ORDER = [
    ParticipationRole.coordinator,
    ParticipationRole.participant,
    ParticipationRole.associated_partner,
    ParticipationRole.third_party,
]


def _filters(
    *, country: str | None, kind: InstitutionKind | None, has_evidence: bool | None
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if country is not None:
        clauses.append(col(Institution.country) == country.upper())
    if kind is not None:
        clauses.append(col(Institution.kind) == kind)
    if has_evidence is not None:
        clauses.append(col(Institution.has_research_evidence) == has_evidence)
    return clauses


def search_institutions(
    *,
    session: Session,
    index: InstitutionIndex,
    q: str | None = None,
    country: str | None = None,
    kind: InstitutionKind | None = None,
    has_evidence: bool | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> InstitutionsPublic:
    """One page of institutions: ranked by ``q`` when given, else by project count then id.

    ``count`` is the number of matches over all pages (for ``q``: every hit the index finds).
    """
    filters = _filters(country=country, kind=kind, has_evidence=has_evidence)
    if q is None or not q.strip():
        count = session.exec(select(func.count()).select_from(Institution).where(*filters)).one()
        rows = session.exec(
            select(Institution)
            .where(*filters)
            .order_by(col(Institution.n_projects).desc(), col(Institution.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return InstitutionsPublic(data=[InstitutionPublic.model_validate(r) for r in rows], count=count)

    allowed = set(session.exec(select(Institution.id).where(*filters)).all()) if filters else None
    # Every hit, not only this page, so that ``count`` is exact (the index holds some 60,000 names).
    hits = index.search(q, limit=max(len(index.rows), 1), allowed=allowed)
    page = hits[offset : offset + limit]
    by_id = {
        r.id: r
        for r in session.exec(select(Institution).where(col(Institution.id).in_([h.id for h in page])))
    }
    data = []
    for hit in page:
        row = by_id.get(hit.id)
        if row is None:  # removed from the database since the index was built
            logger.warning("search hit %s is no longer in the database", hit.id)
            continue
        data.append(InstitutionPublic.model_validate(row, update={"score": round(hit.score, 1)}))
    return InstitutionsPublic(data=data, count=len(hits))


def _projects(*, session: Session, institution_id: str) -> tuple[list[ProjectSummary], int]:
    """The institution's most recent projects (one entry per project) and how many it has in all."""
    role_rank = case({role: rank for rank, role in enumerate(_ROLE_ORDER)}, value=col(Participation.role))
    lead_rank = func.min(role_rank).label("lead_rank")
    # SQLAlchemy's select: sqlmodel's is typed for at most four columns
    rows = session.execute(
        sa_select(
            col(Project.id),
            col(Project.acronym),
            col(Project.title),
            col(Project.programme),
            col(Project.start_date),
            col(Project.end_date),
            lead_rank,
        )
        .join(Participation, col(Participation.project_id) == col(Project.id))
        .where(col(Participation.institution_id) == institution_id)
        .group_by(col(Project.id))
        .order_by(col(Project.start_date).desc().nulls_last(), col(Project.id).desc())
        .limit(MAX_DETAIL_PROJECTS)
    ).all()
    total = session.exec(
        select(func.count(func.distinct(Participation.project_id))).where(
            col(Participation.institution_id) == institution_id
        )
    ).one()
    projects = [
        ProjectSummary(
            id=id_,
            acronym=acronym,
            title=title,
            programme=programme,
            start_date=start,
            end_date=end,
            role=_ROLE_ORDER[rank],
        )
        for id_, acronym, title, programme, start, end, rank in rows
    ]
    return projects, total


def _projects_per_year(*, session: Session, institution_id: str) -> list[YearCount]:
    """How many of the institution's projects started in each year (projects without a date left out)."""
    year = func.extract("year", col(Project.start_date)).label("year")
    rows = session.exec(
        select(year, func.count(func.distinct(Project.id)))
        .join(Participation, col(Participation.project_id) == col(Project.id))
        .where(col(Participation.institution_id) == institution_id, col(Project.start_date).is_not(None))
        .group_by(year)
        .order_by(year)
    ).all()
    return [YearCount(year=int(y), count=n) for y, n in rows]


def _partners(*, session: Session, institution_id: str) -> list[PartnerSummary]:
    """Institutions sharing the most projects with ``institution_id``; ties by id."""
    mine = aliased(Participation)
    theirs = aliased(Participation)
    n_shared = func.count(func.distinct(theirs.project_id)).label("n_shared")
    rows = session.exec(
        select(Institution.id, Institution.name, Institution.country, n_shared)
        .select_from(mine)
        .join(theirs, col(theirs.project_id) == col(mine.project_id))
        .join(Institution, col(Institution.id) == col(theirs.institution_id))
        .where(col(mine.institution_id) == institution_id, col(theirs.institution_id) != institution_id)
        .group_by(col(Institution.id))
        .order_by(n_shared.desc(), col(Institution.id))
        .limit(MAX_DETAIL_PARTNERS)
    ).all()
    return [PartnerSummary(id=id_, name=name, country=country, n_shared=n) for id_, name, country, n in rows]


def _evidence(*, session: Session, institution_id: str) -> list[EvidenceItemPublic]:
    """The institution's evidence items other than CORDIS projects, most recent first (undated last)."""
    rows = session.exec(
        select(EvidenceItem).where(col(EvidenceItem.institution_id) == institution_id)
        .order_by(col(EvidenceItem.year).desc().nulls_last(), col(EvidenceItem.type), col(EvidenceItem.title))
        .limit(MAX_DETAIL_EVIDENCE)
    ).all()
    return [EvidenceItemPublic.model_validate({**r.model_dump(), "removable": r.origin == ItemOrigin.imported})
            for r in rows]


def _evidence_counts(*, session: Session, row: Institution) -> EvidenceCounts:
    """How many items of each type the institution has (Horizon Europe projects: those with text)."""
    counts = dict(session.exec(
        select(EvidenceItem.type, func.count()).where(col(EvidenceItem.institution_id) == row.id)
        .group_by(col(EvidenceItem.type))
    ).all())
    eu_projects = session.exec(
        select(func.count(func.distinct(Project.id)))
        .join(Participation, col(Participation.project_id) == col(Project.id))
        .where(col(Participation.institution_id) == row.id, project_has_text())
    ).one()
    return EvidenceCounts(eu_project=eu_projects, owner_profile=int(bool(row.profile_owner)),
                          **{t.value: counts.get(t.value, 0) for t in EvidenceType
                             if t not in (EvidenceType.eu_project, EvidenceType.owner_profile)})


def _known_partnerships(*, session: Session, institution_id: str) -> list[PartnershipPublic]:
    """Known partnerships recorded by the institution, and those others recorded with it (shown from its
    side: the other institution as the partner). Most recent first."""
    own = session.exec(select(Partnership).where(col(Partnership.institution_id) == institution_id)).all()
    theirs = session.exec(select(Partnership).where(col(Partnership.partner_id) == institution_id,
                                                    col(Partnership.institution_id) != institution_id)).all()
    names = {i.id: i for i in session.exec(select(Institution).where(
        col(Institution.id).in_({p.institution_id for p in theirs}))).all()} if theirs else {}
    shown = [PartnershipPublic.model_validate({**p.model_dump(), "removable": p.origin == ItemOrigin.imported})
             for p in own]
    for p in theirs:
        other = names[p.institution_id]
        shown.append(PartnershipPublic.model_validate({
            **p.model_dump(), "partner_id": other.id, "partner_name": other.name, "partner_country": other.country,
            "removable": False}))
    shown.sort(key=lambda p: (-(p.year or 0), p.partner_name, p.id))
    return shown[:MAX_DETAIL_PARTNERSHIPS]


def get_institution(*, session: Session, institution_id: str, matcher: Matcher | None = None) -> InstitutionDetail:
    """One institution in full (area strengths when the matcher is loaded); ``NotFound`` for an unknown id."""
    row = session.get(Institution, institution_id)
    if row is None:
        raise NotFound("institution", institution_id)
    projects, n_projects = _projects(session=session, institution_id=institution_id)
    extra: dict[str, Any] = {
        "n_projects": n_projects,
        "ror_url": f"{ROR_URL_PREFIX}{row.ror_id}" if row.ror_id else None,
        "profile": row.profile,
        "profile_source": "owner" if row.profile_owner else "derived",
        "projects": projects,
        "projects_per_year": _projects_per_year(session=session, institution_id=institution_id),
        "partners": _partners(session=session, institution_id=institution_id),
        "area_strengths": matcher.area_strengths(institution_id) if matcher is not None else [],
        "evidence_counts": _evidence_counts(session=session, row=row),
        "evidence": _evidence(session=session, institution_id=institution_id),
        "known_partnerships": _known_partnerships(session=session, institution_id=institution_id),
    }
    return InstitutionDetail.model_validate(row, update=extra)


@router.get("", response_model=InstitutionsPublic, responses=problem_responses(422))
def list_institutions(
    *,
    session: SessionDep,
    index: IndexDep,
    q: Annotated[
        SearchText | None,
        Query(
            description="Name, alias, abbreviation (KazNU) or web domain; typos are tolerated.",
        ),
    ] = None,
    country: Annotated[
        str | None,
        Query(
            min_length=2,
            max_length=2,
            pattern="^[A-Za-z]{2}$",
            description="ISO 3166-1 alpha-2 code, e.g. KZ.",
        ),
    ] = None,
    kind: Annotated[InstitutionKind | None, Query(description="What the institution is.")] = None,
    has_evidence: Annotated[
        bool | None,
        Query(description="Only institutions with (true) or without (false) research evidence of any type."),
    ] = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
    offset: PageOffset = 0,
) -> InstitutionsPublic:
    """Search institutions by name (ranked) or list them by project count, with filters and paging."""
    return search_institutions(
        session=session,
        index=index,
        q=q,
        country=country,
        kind=kind,
        has_evidence=has_evidence,
        limit=limit,
        offset=offset,
    )


# the index dependency refuses (503, saying why) while the catalogue is not fully loaded, as the search does
@router.get("/{institution_id}", response_model=InstitutionDetail, responses=problem_responses(404, 422),
            dependencies=[Depends(get_index)])
def read_institution(
    session: SessionDep,
    request: Request,
    institution_id: InstitutionIdPath,
) -> InstitutionDetail:
    """One institution: identifiers, names, profile, area strengths, recent projects and main partners."""
    return get_institution(session=session, institution_id=institution_id, matcher=request.app.state.matcher)


def owned_institution(session: Session, institution_id: str, key: ApiKey) -> Institution:
    """The institution, if ``key`` may change its profile (an admin key, or the institution's owner key);
    ``NotFound`` for an unknown id, ``Forbidden`` for any other key."""
    row = session.get(Institution, institution_id)
    if row is None:
        raise NotFound("institution", institution_id)
    if key.role != ApiKeyRole.admin and key.institution_id != institution_id:
        whose = (f"the owner key of {key.institution_id}" if key.institution_id
                 else f"a {key.role} key of no institution")
        raise Forbidden(f"Only an admin key or the owner key of {institution_id} ({row.name}) may change its "
                        f"profile; this key ({key.prefix}…) is {whose}.")
    return row


def _set_owner_profile(row: Institution, text: str | None, *, session: Session, background: BackgroundTasks,
                       app: FastAPI, key: ApiKey) -> OwnerProfilePublic:
    """Store ``text`` as the owner profile (``None`` removes it), commit, and rebuild the matcher if it changed."""
    changed = row.profile_owner != text
    if changed:
        row.profile_owner = text
        row.profile_owner_updated = utc_now() if text is not None else None
        session.add(row)
        session.commit()
        session.refresh(row)
        # after the response (the old matcher answers until then): only this institution's vectors change
        background.add_task(refresh_matcher_logged, app, [row.id])
        logger.info("owner profile of %s %s by API key %s (%s)", row.id, "saved" if text else "removed", key.id,
                    key.name)
    return OwnerProfilePublic(institution_id=row.id, profile_source="owner" if row.profile_owner else "derived",
                              profile_owner_updated=row.profile_owner_updated,
                              matcher="rebuilding" if changed else "unchanged")


_PROFILE_RESPONSES: dict[int | str, dict[str, Any]] = {**auth_responses(), **problem_responses(404, 422)}


@router.put("/{institution_id}/profile", response_model=OwnerProfilePublic, responses=_PROFILE_RESPONSES)
def update_owner_profile(*, institution_id: InstitutionIdPath, body: OwnerProfileUpdate, session: SessionDep,
                         key: OfficeKey, request: Request, background: BackgroundTasks) -> OwnerProfilePublic:
    """Set the institution's own profile text, used for matching instead of the derived one (admin or owner key)."""
    row = owned_institution(session, institution_id, key)
    return _set_owner_profile(row, body.text, session=session, background=background, app=request.app, key=key)


@router.delete("/{institution_id}/profile", response_model=OwnerProfilePublic, responses=_PROFILE_RESPONSES)
def delete_owner_profile(*, institution_id: InstitutionIdPath, session: SessionDep, key: OfficeKey,
                         request: Request, background: BackgroundTasks) -> OwnerProfilePublic:
    """Remove the institution's own profile text: matching uses the derived profile again (admin or owner key)."""
    row = owned_institution(session, institution_id, key)
    return _set_owner_profile(row, None, session=session, background=background, app=request.app, key=key)
