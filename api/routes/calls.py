"""Call topics: open and forthcoming EU calls, searched with filters (``GET /calls``) and one in full
(``GET /calls/{topic_id}``). What they answer is ``api/calls.py``'s, which the CLI and the suggestion and
consortium requests naming a call use too.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BeforeValidator

from api.calls import TodayDep, call_detail, list_calls
from api.deps import SessionDep
from api.schemas import DEFAULT_PAGE_SIZE, PageOffset, PageSize, SearchText, problem_responses
from api.schemas_calls import CallDetail, CallsPublic
from matcher.types import CallTopicId
from seed_data.calls import CallFilters
from seed_data.tables import ACTION_TYPES, ActionType

router = APIRouter(prefix="/calls", tags=["calls"], responses=problem_responses(503))

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_text(value: object) -> object:
    # pydantic's lax date parsing would read "0" as a Unix timestamp (1970-01-01): only YYYY-MM-DD is a date here
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError(f"expected a date YYYY-MM-DD (got {value[:40]!r})")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_text)]
CallTopicIdPath = Annotated[CallTopicId, Path(description="e.g. HORIZON-CL6-2027-02-FARM2FORK-01 (some contain '/')")]


@router.get("", response_model=CallsPublic, responses=problem_responses(422))
def read_calls(
    *,
    session: SessionDep,
    today: TodayDep,
    q: Annotated[SearchText | None, Query(description="Words that must all occur in the topic id, title, "
                                          "keywords or text (case-insensitive), e.g. water irrigation")] = None,
    programme: Annotated[SearchText | None, Query(description="Our programme key (horizon-europe) or the "
                                                  "portal's programme name (LIFE, Digital Europe)")] = None,
    action_type: Annotated[ActionType | None, Query(description="One of " + ", ".join(ACTION_TYPES))] = None,
    cluster: Annotated[SearchText | None, Query(description="Horizon Europe cluster or part: CL1-CL6, MISS, JU, "
                                                "WIDERA, ...")] = None,
    deadline_from: Annotated[IsoDate | None, Query(description="Deadline on or after (YYYY-MM-DD)")] = None,
    deadline_to: Annotated[IsoDate | None, Query(description="Deadline on or before (YYYY-MM-DD)")] = None,
    open_only: Annotated[bool, Query(description="Only calls open or forthcoming today (deadline not passed)")
                         ] = False,
    limit: PageSize = DEFAULT_PAGE_SIZE,
    offset: PageOffset = 0,
) -> CallsPublic:
    """Search the open and forthcoming EU call topics, with filters, by deadline."""
    filters = CallFilters(q=q, programme=programme, action_type=action_type, cluster=cluster,
                          deadline_from=deadline_from, deadline_to=deadline_to, open_only=open_only)
    return list_calls(session=session, filters=filters, today=today, limit=limit, offset=offset)


@router.get("/{topic_id:path}", response_model=CallDetail, responses=problem_responses(404, 422))
def read_call(session: SessionDep, today: TodayDep, topic_id: CallTopicIdPath) -> CallDetail:
    """One call topic in full: text, conditions, budget, deadline and status."""
    return call_detail(session=session, topic_id=topic_id, today=today)
