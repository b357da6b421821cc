"""Consortia: alternative, complete consortia for a call or an idea (``matcher/consortium.py``, through
``api/consortia.py``), the rule check of a consortium an office made, and proposals as a CSV or Excel file."""

from __future__ import annotations

import datetime as dt
import logging

import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import Session

from api.auth import OfficeKey, auth_responses, require_office
from api.calls import TodayDep
from api.consortia import answer, export_bytes
from api.deps import get_engine, get_matcher
from api.errors import InvalidRequest
from api.routes.suggestions import queue_full_responses, ranking_gate
from api.schemas import problem_responses
from api.schemas_consortia import (
    AnswerToExport,
    CheckedMember,
    ConsortiumAnswer,
    ConsortiumCheckRequest,
    ConsortiumCheckResponse,
    ConsortiumRequest,
)
from api.spreadsheet import Format, attachment, export_responses
from matcher.consortium import check_consortium, pool_arrays
from matcher.consortium_rules import UnknownRule
from matcher.suggest import Matcher, RequestError, suggested_institution
from seed_data.tables import ApiKey

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/consortia", tags=["consortia"], responses=auth_responses())


def _build(request: Request, matcher: Matcher, body: ConsortiumRequest, today: dt.date) -> ConsortiumAnswer:
    with Session(get_engine(request)) as session:
        return answer(matcher, body, session, today=today)


async def _admitted_build(body: ConsortiumRequest, request: Request, api_key: ApiKey,
                          today: dt.date) -> ConsortiumAnswer:
    """Build through the process's ranking gate, as suggestions and portfolios rank: a build ranks the pool and
    runs the solver for up to ``time_limit_s`` (0.6 s, ``matcher/data/consortium_rules.json``) per
    alternative, so it is always heavy (``api/routes/suggestions.py``)."""
    matcher = get_matcher(request)
    assert api_key.id is not None
    async with ranking_gate(request.app).slot(api_key.id, heavy=True):
        return await anyio.to_thread.run_sync(_build, request, matcher, body, today)


@router.post("", response_model=ConsortiumAnswer,
             responses={**problem_responses(422, 503), **queue_full_responses()})
async def create_consortia(body: ConsortiumRequest, request: Request, api_key: OfficeKey,
                           today: TodayDep) -> ConsortiumAnswer:
    """Propose alternative consortia that meet the programme's composition rules, cover the call's aspects and
    are credible, each with roles, the evidence behind each aspect, the rules it meets and its objective.

    A request naming a `call` (GET /calls) takes it as `POST /suggestions` does: its title and text as the idea,
    after any `text` given, and its programme and action type (given a programme, it must be the call's)."""
    return await _admitted_build(body, request, api_key, today)


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
    rows = [index.row_of[i] for i in body.members]
    arrays = pool_arrays(index, np.array(rows, dtype=np.intp), rules)
    members = [CheckedMember(institution=suggested_institution(index, row), counts=bool(counts),
                             may_coordinate=bool(may))
               for row, counts, may in zip(rows, arrays.counting, rules.coordinator_mask(arrays), strict=True)]
    return ConsortiumCheckResponse(programme=body.programme, action_type=rules.action_type,
                                   valid=all(r.satisfied for r in results), rules=results, members=members,
                                   notes=list(rules.notes))


@router.post("/export", response_class=Response, dependencies=[Depends(require_office)],
             responses={**export_responses("The proposals' members, as an attachment."),
                        **problem_responses(422, 503)})
def export_consortia(body: AnswerToExport, format: Format = "csv") -> Response:  # noqa: A002
    """Write proposals as CSV or an Excel workbook: the body is the answer ``POST /consortia`` returned, written
    as it is (nothing is built again, so the file holds exactly the proposals shown)."""
    content, media_type = export_bytes(body, format)
    logger.info("%d consortium proposals exported as %s", len(body.proposals), format)
    return attachment(content, media_type, "partnermatch-consortia", format)
