"""Call topics without HTTP: a page of calls and one call in full (``GET /calls``, ``partnermatch calls``), and a
request naming a call made ready to rank (``POST /suggestions``, ``/consortia``, ``partnermatch suggest``).

"Today" is a dependency (:func:`get_today`), so tests can fix the date the calls' status is relative to.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, TypeVar

from fastapi import Depends
from sqlmodel import Session

from api.errors import InvalidRequest, NotFound
from api.schemas import DEFAULT_PAGE_SIZE
from api.schemas_calls import CallDetail, CallsPublic, CallSummary
from api.schemas_consortia import ConsortiumRequest
from matcher.types import SuggestionCall, SuggestionRequest
from seed_data.calls import CallFilters, CallNotFound, call_idea, call_status, get_call, search_calls
from seed_data.tables import Call

# The requests that may name a call: both follow the one rule of :func:`request_for_call`.
_NamesACall = TypeVar("_NamesACall", SuggestionRequest, ConsortiumRequest)


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
    return CallDetail.of(call, status=call_status(call, today))


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


def request_for_call(body: _NamesACall, call: Call, *, today: dt.date) -> tuple[_NamesACall, SuggestionCall]:
    """``body`` made ready to rank for ``call``: the call's idea (title and text) after any text the body gave,
    the call's programme and action type; with the call as the answer echoes it.

    ``call`` is one :func:`rankable_call` returned. ``InvalidRequest`` naming ``programme`` when the body gives
    another programme than the call's: a request for a call ranks under that call's programme.
    """
    if body.programme is not None and body.programme != call.programme_key:
        raise InvalidRequest("programme", f"call {call.topic_id!r} is of programme {call.programme_key!r}, not "
                                          f"{body.programme!r}: leave programme out, or give the call's")
    ready = body.model_copy(update={"programme": call.programme_key, "text": call_idea(call, body.text),
                                    "action_type": call.action_type})
    echo = SuggestionCall(topic_id=call.topic_id, title=call.title, programme=call.programme,
                          action_type=call.action_type, deadline=call.deadline,
                          status=call_status(call, today), url=call.url)
    return ready, echo


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
