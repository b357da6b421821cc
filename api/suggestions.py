"""A suggestion request's answer outside HTTP, one rule for ``POST /suggestions`` and ``partnermatch suggest``:
the matcher's ranking completed with the profile version used, the call it was made for and their notes."""

from __future__ import annotations

from api.calls import call_notes
from api.errors import InvalidRequest
from api.profiles import ResolvedProfile, profile_notes
from matcher.suggest import Matcher, RequestError
from matcher.types import SuggestionCall, SuggestionRequest, SuggestionResponse


def suggestion_answer(matcher: Matcher, request: SuggestionRequest, resolved: ResolvedProfile,
                      call: SuggestionCall | None = None) -> SuggestionResponse:
    """Rank ``request`` under ``resolved`` and complete the answer; ``call``: the call the request was made for
    (its programme already set, ``api.calls.resolve_call``), echoed. ``InvalidRequest`` naming the field for a
    name the catalogue does not know."""
    assert request.programme is not None, "a request without programme reached ranking before its call was resolved"
    try:
        response = matcher.suggest(request, resolved.profile)
    except RequestError as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    # the matcher's answer is cached and shared: build a new list, never append
    notes = [*response.notes, *profile_notes(resolved, request.programme), *call_notes(call)]
    return response.model_copy(update={"profile_version_id": resolved.version_id, "notes": notes, "call": call})
