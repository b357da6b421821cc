"""Partner suggestions: the ranked, explained shortlist for a requester, programme and areas."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from api.auth import auth_responses, require_office
from api.deps import MatcherDep, SessionDep
from api.errors import InvalidRequest
from api.schemas import problem_responses
from matcher.suggest import RequestError
from matcher.types import SuggestionRequest, SuggestionResponse
from matcher.weights import InvalidProfile, ProfileNotFound, format_ref, resolve_for_request, to_scoring_profile

router = APIRouter(prefix="/suggestions", tags=["suggestions"])


@router.post("", response_model=SuggestionResponse, dependencies=[Depends(require_office)],
             responses={**problem_responses(422, 503), **auth_responses()})
def create_suggestions(body: SuggestionRequest, matcher: MatcherDep, session: SessionDep) -> Response:
    """Rank eligible partners for an institution or a project idea, with each score explained."""
    try:
        version = resolve_for_request(body.programme, body.profile, session=session)
    except (ProfileNotFound, InvalidProfile) as exc:
        raise InvalidRequest("programme" if body.profile is None else "profile", str(exc)) from exc
    try:
        response = matcher.suggest(body, to_scoring_profile(version))
    except RequestError as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    notes = response.notes  # the matcher's answer is cached and shared: build a new list, never append
    if version.programme != body.programme:
        notes = [*notes, f"Scored with {format_ref(version)}, a profile made for {version.programme}."]
    answer = response.model_copy(update={"profile_version_id": version.id, "notes": notes})
    # Serialised here, once, by pydantic's Rust core: returning the model would make FastAPI validate it
    # again against the response model, which costs more than ranking a cached answer.
    return Response(answer.model_dump_json(), media_type="application/json")
