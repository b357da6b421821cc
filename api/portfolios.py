"""Portfolio matching without HTTP: the requesters a request names or selects, and the portfolio built for
them (``matcher/portfolio.py``), for ``POST /portfolios`` and ``partnermatch portfolio`` alike."""

from __future__ import annotations

from api.errors import InvalidRequest
from api.profiles import ResolvedProfile, profile_notes
from api.schemas_portfolios import PortfolioRequest, PortfolioResponse, portfolio_public
from matcher.portfolio import plan_portfolio, strongest_in_area
from matcher.ranking import RequestError
from matcher.suggest import Matcher


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


def build_portfolio(matcher: Matcher, body: PortfolioRequest, resolved: ResolvedProfile) -> PortfolioResponse:
    """Select the requesters, rank, assign and describe the portfolio, scored with ``resolved``
    (``api.profiles.resolve_profile``); ``InvalidRequest`` naming the field for input the catalogue does not
    know."""
    ids, notes = requester_ids(matcher, body)
    try:
        portfolio = plan_portfolio(matcher, ids, resolved.profile, programme=body.programme, k=body.k, c=body.c,
                                   areas=body.ranking_areas(), max_per_country=body.max_per_country,
                                   countries=body.countries, regions=body.regions, country_bonus=body.country_bonus,
                                   pool_size=body.pool_size)
    except RequestError as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    notes += profile_notes(resolved, body.programme)
    return portfolio_public(portfolio, matcher.index, profile_ref=resolved.ref,
                            profile_version_id=resolved.version_id, notes=notes)
