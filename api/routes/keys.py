"""API keys as the API shows them: who the request's key belongs to (managing keys is the CLI's job)."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import OfficeKey, auth_responses
from api.schemas import KeyPublic, problem_responses

router = APIRouter(prefix="/keys", tags=["keys"], responses={**auth_responses(), **problem_responses(503)})


@router.get("/me", response_model=KeyPublic)
def read_own_key(key: OfficeKey) -> KeyPublic:
    """The name, role and (for an owner key) institution of the API key sent with this request."""
    return KeyPublic(name=key.name, role=key.role, institution_id=key.institution_id)
