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
from api.errors import InvalidRequest
from api.routes.suggestions import queue_full_responses, ranking_gate
from api.schemas import problem_responses
from api.schemas_portfolios import PortfolioRequest, PortfolioResponse, portfolio_public
from matcher.portfolio import plan_portfolio, strongest_in_area
from matcher.ranking import RequestError
from matcher.suggest import Matcher
from matcher.types import ScoringProfile
from matcher.weights import InvalidProfile, ProfileNotFound, format_ref, resolve_for_request, to_scoring_profile

router = APIRouter(prefix="/portfolios", tags=["portfolios"])


def resolve_profile_version(body: PortfolioRequest, *, session: Session) -> tuple[ScoringProfile, int, str, str]:
    """The profile ``body`` scores with, as ``POST /suggestions`` resolves it: the named one, else the
    programme's published one. Returns the profile, version id, ``name:version`` and the programme it was made
    for; ``InvalidRequest`` naming ``programme`` or ``profile``."""
    try:
        version = resolve_for_request(body.programme, body.profile, session=session)
        profile = to_scoring_profile(version)
    except (ProfileNotFound, InvalidProfile) as exc:
        raise InvalidRequest("programme" if body.profile is None else "profile", str(exc)) from exc
    assert version.id is not None
    return profile, version.id, format_ref(version), version.programme


def requester_ids(matcher: Matcher, body: PortfolioRequest) -> tuple[list[str], list[str]]:
    """The requesters ``body`` names or selects, and a note on how they were chosen; ``InvalidRequest`` naming
    the field when a selection matches none."""
    if body.requester_ids is not None:
        return list(body.requester_ids), []
    assert body.select is not None
    select = body.select
    try:
        ids = strongest_in_area(matcher.index, select.area, n=select.n, country=select.country,
                                kind=None if select.kind is None else str(select.kind),
                                min_percentile=select.min_percentile)
    except RequestError as exc:
        raise InvalidRequest(f"select.{exc.field}", str(exc)) from exc
    kind = f"{select.kind} " if select.kind else ""
    if not ids:
        raise InvalidRequest("select", f"no {kind}institution of {select.country} with research evidence has an "
                                       f"area strength of at least {select.min_percentile:.0%} in {select.area!r}")
    note = (f"Requesters: the {len(ids)} {kind}institution(s) of {select.country} strongest in {select.area} "
            f"(area-strength percentile among institutions with research evidence"
            + (f", at least {select.min_percentile:.0%}" if select.min_percentile else "") + ").")
    return ids, [note]


def build_portfolio(matcher: Matcher, body: PortfolioRequest, profile: ScoringProfile, *,
                    version_id: int | None = None, ref: str | None = None,
                    made_for: str | None = None) -> PortfolioResponse:
    """Select the requesters, rank, assign and describe the portfolio (the route and the CLI both call this);
    ``InvalidRequest`` naming the field for input the catalogue does not know."""
    ids, notes = requester_ids(matcher, body)
    try:
        portfolio = plan_portfolio(matcher, ids, profile, programme=body.programme, k=body.k, c=body.c,
                                   areas=body.ranking_areas(), max_per_country=body.max_per_country,
                                   countries=body.countries, regions=body.regions, country_bonus=body.country_bonus,
                                   pool_size=body.pool_size)
    except RequestError as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    if made_for is not None and made_for != body.programme:
        notes.append(f"Scored with {ref}, a profile made for {made_for}.")
    return portfolio_public(portfolio, matcher.index, profile_ref=ref, profile_version_id=version_id, notes=notes)


def _resolve(request: Request, body: PortfolioRequest) -> tuple[ScoringProfile, int, str, str]:
    with Session(get_engine(request)) as session:
        return resolve_profile_version(body, session=session)


@router.post("", response_model=PortfolioResponse,
             responses={**problem_responses(422, 503), **queue_full_responses(), **auth_responses()})
async def create_portfolio(body: PortfolioRequest, request: Request, api_key: OfficeKey) -> PortfolioResponse:
    """Assign partners to several requesters at once: k each, no partner to more than c, at most
    max_per_country per country, maximising the total score; each requester compared with its own top-k."""
    matcher = get_matcher(request)
    profile, version_id, ref, made_for = await run_in_threadpool(_resolve, request, body)
    assert api_key.id is not None
    async with ranking_gate(request.app).slot(api_key.id, heavy=True):
        return await anyio.to_thread.run_sync(
            lambda: build_portfolio(matcher, body, profile, version_id=version_id, ref=ref, made_for=made_for))
