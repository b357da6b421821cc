"""Funding programmes and cooperation tracks, with their eligible partner countries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlmodel import Session, col, select

from api.deps import SessionDep
from api.errors import NotFound
from api.schemas import ProgrammePublic, ProgrammesPublic, problem_responses
from seed_data.safe_text import SAFE_LINE
from seed_data.tables import Programme

router = APIRouter(prefix="/programmes", tags=["programmes"], responses=problem_responses(503))


def list_programmes(*, session: Session) -> ProgrammesPublic:
    """Every programme, by key."""
    rows = session.exec(select(Programme).order_by(col(Programme.key))).all()
    return ProgrammesPublic(
        data=[ProgrammePublic.model_validate(r.model_dump()) for r in rows], count=len(rows)
    )


def get_programme(*, session: Session, key: str) -> ProgrammePublic:
    """One programme; ``NotFound`` for an unknown key."""
    row = session.get(Programme, key)
    if row is None:
        raise NotFound("programme", key, key_name="key")
    return ProgrammePublic.model_validate(row.model_dump())


@router.get("", response_model=ProgrammesPublic)
def read_programmes(session: SessionDep) -> ProgrammesPublic:
    """List the funding programmes with their eligible countries per role."""
    return list_programmes(session=session)


@router.get("/{key}", response_model=ProgrammePublic, responses=problem_responses(404, 422))
def read_programme(
    session: SessionDep, key: Annotated[str, Path(max_length=40, description="e.g. horizon-europe"), SAFE_LINE]
) -> ProgrammePublic:
    """One programme by key."""
    return get_programme(session=session, key=key)
