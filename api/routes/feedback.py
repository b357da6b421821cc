"""Feedback on suggestions: what came of a suggested partner, recorded against the profile version that
suggested it, and counted per version (office key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from api.auth import OfficeKey, auth_responses, require_office
from api.deps import SessionDep
from api.errors import InvalidRequest, NotFound
from api.schemas import FeedbackCreate, FeedbackPublic, FeedbackSummaryPublic, problem_responses
from matcher import weights as store
from seed_data.tables import PROFILE_NAME_MAX_LENGTH, PROFILE_NAME_PATTERN

router = APIRouter(prefix="/feedback", tags=["feedback"], responses={**problem_responses(503), **auth_responses()})


@router.post("", response_model=FeedbackPublic, status_code=status.HTTP_201_CREATED,
             responses=problem_responses(422))
def create_feedback(body: FeedbackCreate, session: SessionDep, key: OfficeKey) -> FeedbackPublic:
    """Record that a suggested partner was contacted, accepted or rejected."""
    if key.id is None:  # a stored key always has an id; this narrows the type
        raise RuntimeError("the authenticated API key has no id")
    try:
        row = store.record_feedback(
            session=session, institution_id=body.institution_id, programme=body.programme,
            profile_version_id=body.profile_version_id, status=body.status.value, key_id=key.id,
            requester_id=body.requester_id, note=body.note,
        )
    except store.InvalidFeedback as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    session.commit()
    session.refresh(row)  # the commit expired it
    return FeedbackPublic.model_validate(row.model_dump())


@router.get("/summary", response_model=FeedbackSummaryPublic, dependencies=[Depends(require_office)],
            responses=problem_responses(404, 422))
def read_feedback_summary(
    session: SessionDep,
    name: Annotated[str | None, Query(max_length=PROFILE_NAME_MAX_LENGTH, pattern=PROFILE_NAME_PATTERN,
                                      description="Only this profile's versions")] = None,
) -> FeedbackSummaryPublic:
    """Count feedback per profile version and status (every version listed, zeros included)."""
    try:
        data = store.feedback_summary(session=session, name=name)
    except store.ProfileNotFound as exc:
        raise NotFound("weight profile", name or "", key_name="name") from exc
    return FeedbackSummaryPublic(data=data, count=len(data))
