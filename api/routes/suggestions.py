"""Partner suggestions: the ranked, explained shortlist for a requester, programme and areas."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import MatcherDep
from api.errors import InvalidRequest
from api.schemas import problem_responses
from matcher.suggest import RequestError
from matcher.types import SuggestionRequest, SuggestionResponse

router = APIRouter(prefix="/suggestions", tags=["suggestions"])


@router.post("", response_model=SuggestionResponse, responses=problem_responses(422, 503))
def create_suggestions(body: SuggestionRequest, matcher: MatcherDep, request: Request) -> SuggestionResponse:
    """Rank eligible partners for an institution or a project idea, with each score explained."""
    profiles = request.app.state.profiles
    if body.programme not in profiles:
        raise InvalidRequest("programme", f"unknown programme {body.programme!r}; known: {sorted(profiles)}")
    try:
        return matcher.suggest(body, profiles[body.programme])
    except RequestError as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
