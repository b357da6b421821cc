"""Portfolio matching: partners for a set of requesters at once (``matcher/portfolio.py``), for a national
office that wants every requester served without every one of them asking the same few partners.

A portfolio ranks once per requester, so it waits for a slot of the same fair ranking gate as suggestions,
counted as heavy (it never holds every slot: ordinary suggestions keep one)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.auth import OfficeKey, auth_responses
from api.deps import get_engine, get_matcher
from api.portfolios import build_portfolio
from api.profiles import ResolvedProfile, resolve_profile
from api.routes.suggestions import queue_full_responses, ranking_gate
from api.schemas import problem_responses
from api.schemas_portfolios import PortfolioRequest, PortfolioResponse

router = APIRouter(prefix="/portfolios", tags=["portfolios"])


def _resolve(request: Request, body: PortfolioRequest) -> ResolvedProfile:
    with Session(get_engine(request)) as session:
        return resolve_profile(body.programme, body.profile, session=session)


@router.post("", response_model=PortfolioResponse,
             responses={**problem_responses(422, 503), **queue_full_responses(), **auth_responses()})
async def create_portfolio(body: PortfolioRequest, request: Request, api_key: OfficeKey) -> PortfolioResponse:
    """Assign partners to several requesters at once: k each, no partner to more than c, at most
    max_per_country per country, maximising the total score; each requester compared with its own top-k."""
    matcher = get_matcher(request)
    resolved = await run_in_threadpool(_resolve, request, body)
    assert api_key.id is not None
    async with ranking_gate(request.app).slot(api_key.id, heavy=True):
        return await anyio.to_thread.run_sync(build_portfolio, matcher, body, resolved)
