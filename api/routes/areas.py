"""National research priority areas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlmodel import Session, col, select

from api.deps import SessionDep
from api.errors import NotFound
from api.schemas import PriorityAreaPublic, PriorityAreasPublic, problem_responses
from seed_data.safe_text import SAFE_LINE
from seed_data.tables import PriorityArea

router = APIRouter(prefix="/areas", tags=["areas"], responses=problem_responses(503))


def list_areas(*, session: Session) -> PriorityAreasPublic:
    """Every priority area, by key."""
    rows = session.exec(select(PriorityArea).order_by(col(PriorityArea.key))).all()
    return PriorityAreasPublic(
        data=[PriorityAreaPublic.model_validate(r.model_dump()) for r in rows], count=len(rows)
    )


def get_area(*, session: Session, key: str) -> PriorityAreaPublic:
    """One priority area; ``NotFound`` for an unknown key."""
    row = session.get(PriorityArea, key)
    if row is None:
        raise NotFound("priority area", key, key_name="key")
    return PriorityAreaPublic.model_validate(row.model_dump())


@router.get("", response_model=PriorityAreasPublic)
def read_areas(session: SessionDep) -> PriorityAreasPublic:
    """List the national priority areas with their OpenAlex and EuroSciVoc mappings."""
    return list_areas(session=session)


@router.get("/{key}", response_model=PriorityAreaPublic, responses=problem_responses(404, 422))
def read_area(
    session: SessionDep, key: Annotated[str, Path(max_length=40, description="e.g. water"), SAFE_LINE]
) -> PriorityAreaPublic:
    """One priority area by key."""
    return get_area(session=session, key=key)
