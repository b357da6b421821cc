"""Call topics: open and forthcoming EU calls (search with filters, one call in full), and a call turned into a
suggestion request (its text the idea, its programme the programme).

"Today" is a dependency (:func:`get_today`), so tests can fix the date the calls' status is relative to.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BeforeValidator, StringConstraints
from sqlmodel import Session

from api.deps import SessionDep
from api.errors import InvalidRequest, NotFound
from api.schemas import problem_responses
from api.schemas_calls import CallDetail, CallsPublic, CallSummary
from matcher.types import TEXT_MAX_LENGTH, SuggestionCall, SuggestionRequest
from seed_data.calls import CallFilters, CallNotFound, call_idea, call_status, get_call, search_calls
from seed_data.safe_text import SAFE_LINE
from seed_data.tables import ACTION_TYPES, CALL_TOPIC_ID_MAX_LENGTH, Call

router = APIRouter(prefix="/calls", tags=["calls"], responses=problem_responses(503))

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_OFFSET = 10_000
SearchText = Annotated[str, StringConstraints(max_length=200), SAFE_LINE]
Key = Annotated[str, StringConstraints(max_length=200), SAFE_LINE]
ActionType = Annotated[str, StringConstraints(pattern="^(" + "|".join(ACTION_TYPES) + ")$")]
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_text(value: object) -> object:
    # pydantic's lax date parsing would read "0" as a Unix timestamp (1970-01-01): only YYYY-MM-DD is a date here
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError(f"expected a date YYYY-MM-DD (got {value[:40]!r})")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_text)]


async def get_today() -> dt.date:
    """Today's date, which a call's status (open, forthcoming, closed) is relative to. A coroutine, so that
    ``POST /suggestions`` (a coroutine answering most requests from its cache) needs no thread for it."""
    return dt.date.today()


TodayDep = Annotated[dt.date, Depends(get_today)]


def list_calls(*, session: Session, filters: CallFilters, today: dt.date, limit: int = DEFAULT_PAGE_SIZE,
               offset: int = 0) -> CallsPublic:
    """A page of the calls matching ``filters``, by deadline, each with its status as of ``today``."""
    rows, count = search_calls(session, filters, today=today, limit=limit, offset=offset)
    return CallsPublic(data=[CallSummary.of(r, status=call_status(r, today)) for r in rows], count=count)


def call_detail(*, session: Session, topic_id: str, today: dt.date) -> CallDetail:
    """One call in full; ``NotFound`` for an unknown topic id."""
    try:
        call = get_call(session, topic_id)
    except CallNotFound as exc:
        raise NotFound("call", topic_id, key_name="topic id") from exc
    return CallDetail.model_validate({**call.model_dump(), "status": call_status(call, today)})


@router.get("", response_model=CallsPublic, responses=problem_responses(422))
def read_calls(
    *,
    session: SessionDep,
    today: TodayDep,
    q: Annotated[SearchText | None, Query(description="Words that must all occur in the topic id, title, "
                                          "keywords or text (case-insensitive), e.g. water irrigation")] = None,
    programme: Annotated[Key | None, Query(description="Our programme key (horizon-europe) or the portal's "
                                           "programme name (LIFE, Digital Europe)")] = None,
    action_type: Annotated[ActionType | None, Query(description="One of " + ", ".join(ACTION_TYPES))] = None,
    cluster: Annotated[Key | None, Query(description="Horizon Europe cluster or part: CL1-CL6, MISS, JU, "
                                         "WIDERA, ...")] = None,
    deadline_from: Annotated[IsoDate | None, Query(description="Deadline on or after (YYYY-MM-DD)")] = None,
    deadline_to: Annotated[IsoDate | None, Query(description="Deadline on or before (YYYY-MM-DD)")] = None,
    open_only: Annotated[bool, Query(description="Only calls open or forthcoming today (deadline not passed)")
                         ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Matches to skip.")] = 0,
) -> CallsPublic:
    """Search the open and forthcoming EU call topics, with filters, by deadline."""
    filters = CallFilters(q=q, programme=programme, action_type=action_type, cluster=cluster,
                          deadline_from=deadline_from, deadline_to=deadline_to, open_only=open_only)
    return list_calls(session=session, filters=filters, today=today, limit=limit, offset=offset)


@router.get("/{topic_id:path}", response_model=CallDetail, responses=problem_responses(404, 422))
def read_call(
    session: SessionDep, today: TodayDep,
    topic_id: Annotated[str, Path(min_length=1, max_length=CALL_TOPIC_ID_MAX_LENGTH,
                                  description="e.g. HORIZON-CL6-2027-02-FARM2FORK-01 (some contain '/')"),
                        SAFE_LINE],
) -> CallDetail:
    """One call topic in full: text, conditions, budget, deadline and status."""
    return call_detail(session=session, topic_id=topic_id, today=today)


# --- suggestions for a call -------------------------------------------------------------------------------


def request_for_call(body: SuggestionRequest, call: Call, *, today: dt.date) -> tuple[SuggestionRequest,
                                                                                       SuggestionCall]:
    """``body`` made ready to rank for ``call``: the call's idea (title and text) after any text the body gave,
    and the call's programme; with the call as the answer echoes it.

    ``call`` is one :func:`rankable_call` returned. ``InvalidRequest`` naming ``programme`` when the body gives
    another programme than the call's: a request for a call ranks under that call's programme.
    """
    if body.programme is not None and body.programme != call.programme_key:
        raise InvalidRequest("programme", f"call {call.topic_id!r} is of programme {call.programme_key!r}, not "
                                          f"{body.programme!r}: leave programme out, or give the call's")
    given = (body.text or "").strip()
    text = (f"{given}\n\n{call_idea(call)}" if given else call_idea(call))[:TEXT_MAX_LENGTH]
    ready = body.model_copy(update={"programme": call.programme_key, "text": text, "action_type": call.action_type})
    echo = SuggestionCall(topic_id=call.topic_id, title=call.title, programme=call.programme,
                          action_type=call.action_type, deadline=call.deadline,
                          status=call_status(call, today), url=call.url)
    return ready, echo


def rankable_call(session: Session, topic_id: str) -> Call:
    """The call a request names, if partners can be ranked for it: ``InvalidRequest`` naming ``call`` for an
    unknown topic id, or a call of a programme partnermatch has no rules for (only Horizon Europe calls, and
    Erasmus+ capacity building, have one). Suggestions and the consortium builder both ask here."""
    try:
        call = get_call(session, topic_id)
    except CallNotFound as exc:
        raise InvalidRequest("call", f"no call with topic id {topic_id!r} (GET /calls lists them)") from exc
    if call.programme_key is None:
        raise InvalidRequest("call", f"call {call.topic_id!r} is of programme {call.programme!r}, for which "
                                     "partnermatch has no eligibility rules or weights; suggestions and consortia "
                                     "can be made for Horizon Europe calls (GET /calls?programme=horizon-europe)")
    return call


def resolve_call(session: Session, body: SuggestionRequest, *, today: dt.date) -> tuple[SuggestionRequest,
                                                                                      SuggestionCall | None]:
    """``body`` as ranked: for a request naming a call, :func:`request_for_call` (``InvalidRequest`` naming
    ``call`` for an unknown topic id); any other request as it is."""
    if body.call is None:
        return body, None
    return request_for_call(body, rankable_call(session, body.call), today=today)


def call_notes(echo: SuggestionCall | None) -> list[str]:
    """Notes for people about the call a request was made for (a closed one)."""
    if echo is None or echo.status != "closed":
        return []
    when = f" on {echo.deadline.isoformat()}" if echo.deadline else ""
    return [f"Call {echo.topic_id} closed{when}: the suggestions are for its topic, not for an open call."]
