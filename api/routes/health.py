"""Service status."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.errors import CatalogueUnavailable
from api.schemas import HealthPublic, problem_responses

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic, responses=problem_responses(503))
async def read_health(request: Request) -> HealthPublic:
    """Report that the service is up and its institution index loaded: 503 until it is, and for as long as the
    database cannot be served from (a catalogue load that did not complete, a schema not migrated), saying
    why and which command fixes it."""
    # a coroutine: it only reads app.state, so it needs no thread from the pool
    state = request.app.state
    if state.index is None or not state.index.rows:
        raise CatalogueUnavailable(state.index_problem or "The institution index is not loaded yet.")
    return HealthPublic(
        status="ok",
        institutions=len(state.index.rows),
        index_built_at=state.index_built_at,
        database=state.engine.dialect.name,
        version=request.app.version,
    )
