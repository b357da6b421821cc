"""The weight profile a ranking request scores with, one rule for suggestions, portfolios and consortia (the
routes and the CLI): the profile the request names, else the programme's published one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from api.errors import InvalidRequest
from matcher.types import ScoringProfile
from matcher.weights import InvalidProfile, ProfileNotFound, format_ref, resolve_for_request, to_scoring_profile


@dataclass(frozen=True)
class ResolvedProfile:
    """What a request needs of the weight profile version it scores with."""

    version_id: int
    programme: str  # the programme the profile was made for
    ref: str  # "name:version"
    profile: ScoringProfile


def resolve_profile(programme: str, profile: str | None, *, session: Session) -> ResolvedProfile:
    """The version a request for ``programme`` scores with: ``profile`` ("name" or "name:version") if given,
    else the programme's published one. ``InvalidRequest`` naming ``profile`` for a named one that does not
    exist or cannot score, else ``programme`` (a programme without a published profile)."""
    try:
        version = resolve_for_request(programme, profile, session=session)
        scoring = to_scoring_profile(version)
    except (ProfileNotFound, InvalidProfile) as exc:
        raise InvalidRequest("programme" if profile is None else "profile", str(exc)) from exc
    assert version.id is not None  # a stored row
    return ResolvedProfile(version.id, version.programme, format_ref(version), scoring)


def profile_notes(resolved: ResolvedProfile, programme: str) -> list[str]:
    """A note for people when the request ranks under ``programme`` with a profile made for another one;
    none otherwise."""
    if resolved.programme == programme:
        return []
    return [f"Scored with {resolved.ref}, a profile made for {resolved.programme}."]
