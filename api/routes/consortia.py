"""Consortia: alternative, complete consortia for a call or an idea (``matcher/consortium.py``), the rule check of
a consortium an office made, and the proposals as a CSV or Excel file.

Every file cell goes through ``api.spreadsheet.spreadsheet_cell`` (formula injection), as shortlists do.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import Session

from api.auth import OfficeKey, auth_responses, require_office
from api.deps import get_engine, get_matcher
from api.errors import InvalidRequest
from api.routes.calls import rankable_call
from api.routes.suggestions import queue_full_responses, ranking_gate
from api.schemas import ROR_URL_PREFIX, problem_responses
from api.schemas_consortia import (
    CheckedMember,
    ConsortiumAnswer,
    ConsortiumCheckRequest,
    ConsortiumCheckResponse,
    ConsortiumRequest,
)
from api.spreadsheet import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, add_sheet, csv_bytes, empty_workbook, workbook_bytes
from matcher.consortium import ConsortiumSpec, InfeasibleConsortium, build_consortia, check_consortium
from matcher.consortium_rules import UnknownRule
from matcher.suggest import Matcher, RequestError, suggested_institution
from matcher.weights import InvalidProfile, ProfileNotFound, format_ref, resolve_for_request, to_scoring_profile
from seed_data.calls import call_idea
from seed_data.tables import ApiKey

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/consortia", tags=["consortia"], responses=auth_responses())

MEMBER_COLUMNS = ("Alternative", "Objective", "Role", "Name", "Country", "Kind", "PIC", "Erasmus code", "ROR",
                  "Website", "Quality", "Coordinated projects", "Aspects covered", "Evidence", "Institution id")
RULE_COLUMNS = ("Alternative", "Rule", "Satisfied", "Explanation", "Rule (paraphrase)", "Source")
Format = Annotated[Literal["csv", "xlsx"], Query(description="csv (UTF-8 with BOM) or xlsx")]


def spec_for(body: ConsortiumRequest, session: Session) -> tuple[ConsortiumSpec, str | None]:
    """The builder's spec for ``body``: a named call gives programme, action type and text (``InvalidRequest``
    naming ``call`` for an unknown topic or one outside our programmes)."""
    programme, text = body.programme, body.text
    action_type: str | None = body.action_type
    if body.call is not None:
        call = rankable_call(session, body.call)
        programme, action_type, text = call.programme_key, call.action_type, call_idea(call)
    assert programme is not None  # the request's validator
    spec = ConsortiumSpec(programme=programme, action_type=action_type, text=text, areas=body.areas,
                          requester_id=body.requester_id, lock=body.lock, exclude=body.exclude,
                          size_min=body.size_min, size_max=body.size_max, alternatives=body.alternatives,
                          weights=body.weights, differ_share=body.differ_share)
    return spec, body.call


def answer(matcher: Matcher, body: ConsortiumRequest, session: Session) -> ConsortiumAnswer:
    """Build the proposals for ``body``; domain errors become 422s naming the field."""
    spec, call = spec_for(body, session)
    try:
        version = resolve_for_request(spec.programme, body.profile, session=session)
    except (ProfileNotFound, InvalidProfile) as exc:
        raise InvalidRequest("programme" if body.profile is None else "profile", str(exc)) from exc
    try:
        response = build_consortia(matcher, spec, to_scoring_profile(version))
    except UnknownRule as exc:
        raise InvalidRequest(exc.field if body.call is None else "call", str(exc)) from exc
    except RequestError as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    except InfeasibleConsortium as exc:
        raise InvalidRequest("lock" if body.lock else "size_min" if body.size_min else "programme",
                             str(exc)) from exc
    return ConsortiumAnswer(**response.model_dump(), call=call, profile_ref=format_ref(version))


def _build(request: Request, matcher: Matcher, body: ConsortiumRequest) -> ConsortiumAnswer:
    with Session(get_engine(request)) as session:
        return answer(matcher, body, session)


async def _admitted_build(body: ConsortiumRequest, request: Request, api_key: ApiKey) -> ConsortiumAnswer:
    """Build through the process's ranking gate, as suggestions and portfolios rank: a build ranks the pool and
    runs the solver for about a second per alternative, so it is always heavy (``api/routes/suggestions.py``)."""
    matcher = get_matcher(request)
    assert api_key.id is not None
    async with ranking_gate(request.app).slot(api_key.id, heavy=True):
        return await anyio.to_thread.run_sync(_build, request, matcher, body)


@router.post("", response_model=ConsortiumAnswer,
             responses={**problem_responses(422, 503), **queue_full_responses()})
async def create_consortia(body: ConsortiumRequest, request: Request, api_key: OfficeKey) -> ConsortiumAnswer:
    """Propose alternative consortia that meet the programme's composition rules, cover the call's aspects and
    are credible, each with roles, the evidence behind each aspect, the rules it meets and its objective."""
    return await _admitted_build(body, request, api_key)


@router.post("/check", response_model=ConsortiumCheckResponse, dependencies=[Depends(require_office)],
             responses=problem_responses(422, 503))
def check_members(body: ConsortiumCheckRequest, request: Request) -> ConsortiumCheckResponse:
    """Check a consortium against the programme's rules: which hold, which fail, and why."""
    index = get_matcher(request).index
    try:
        rules, results = check_consortium(index, body.programme, body.action_type, body.members,
                                          coordinator_id=body.coordinator_id)
    except UnknownRule as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    except RequestError as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    members = []
    for member_id in body.members:
        row = index.row_of[member_id]
        country, kind = str(index.countries[row]), str(index.kinds[row])
        members.append(CheckedMember(institution=suggested_institution(index, row), counts=rules.counts(country),
                                     may_coordinate=rules.counts(country) and rules.may_coordinate(country, kind)))
    return ConsortiumCheckResponse(programme=body.programme, action_type=rules.action_type,
                                   valid=all(r.satisfied for r in results), rules=results, members=members,
                                   notes=list(rules.notes))


# --- export -----------------------------------------------------------------------------------------------


def member_rows(response: ConsortiumAnswer) -> list[list[Any]]:
    """One row per member of every proposal (``MEMBER_COLUMNS``)."""
    aspects = {a.index: a.text for a in response.aspects}
    rows = []
    for proposal in response.proposals:
        for m in proposal.members:
            inst = m.institution
            rows.append([proposal.rank, proposal.objective, m.role.replace("_", " "), inst.name, inst.country,
                         inst.kind, inst.pic, inst.erasmus_code,
                         f"{ROR_URL_PREFIX}{inst.ror_id}" if inst.ror_id else None, inst.website, m.quality,
                         m.coordinated_projects, " | ".join(aspects.get(c.aspect, "")[:120] for c in m.aspects),
                         " | ".join(f"{c.evidence.title} ({c.evidence.source})" for c in m.aspects), inst.id])
    return rows


def rule_rows(response: ConsortiumAnswer) -> list[list[Any]]:
    """One row per rule of every proposal (``RULE_COLUMNS``)."""
    return [[p.rank, r.rule, "yes" if r.satisfied else "no", r.explanation, r.paraphrase, r.source]
            for p in response.proposals for r in p.rules]


def write_csv(response: ConsortiumAnswer) -> bytes:
    """The members of every proposal as CSV (UTF-8 with BOM), every field quoted and made safe."""
    return csv_bytes(MEMBER_COLUMNS, member_rows(response))


def write_xlsx(response: ConsortiumAnswer) -> bytes:
    """The proposals as a workbook: sheets Members, Rules, Objective (each term per alternative) and About."""
    book = empty_workbook()
    add_sheet(book, "Members", MEMBER_COLUMNS, member_rows(response))
    add_sheet(book, "Rules", RULE_COLUMNS, rule_rows(response))
    add_sheet(book, "Objective", ("Alternative", "Term", "Value"),
              [(p.rank, term, value) for p in response.proposals
               for term, value in [*p.breakdown.items(), ("total", p.objective)]])
    add_sheet(book, "About", None, [
        ("Programme", response.programme), ("Action type", response.action_type), ("Call", response.call),
        ("Aspects", " | ".join(a.text for a in response.aspects)), ("Notes", " ".join(response.notes))])
    return workbook_bytes(book)


def export_bytes(response: ConsortiumAnswer, format: str) -> tuple[bytes, str]:  # noqa: A002
    """The file and its media type."""
    if format == "xlsx":
        return write_xlsx(response), XLSX_MEDIA_TYPE
    return write_csv(response), CSV_MEDIA_TYPE


@router.post(
    "/export", response_class=Response,
    responses={200: {"description": "The proposals' members, as an attachment.",
                     "content": {"text/csv": {"schema": {"type": "string"}},
                                 XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
               **problem_responses(422, 503), **queue_full_responses()},
)
async def export_consortia(body: ConsortiumRequest, request: Request, api_key: OfficeKey,
                           format: Format = "csv") -> Response:  # noqa: A002
    """Build the proposals (as ``POST /consortia``) and write them as CSV or an Excel workbook."""
    response = await _admitted_build(body, request, api_key)
    content, media_type = export_bytes(response, format)
    filename = f"partnermatch-consortia-{dt.datetime.now(dt.UTC):%Y%m%d}.{format}"
    return Response(content=content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
