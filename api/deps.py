"""Route dependencies as ``Annotated`` aliases: settings, a database session per request, the search index.

Each reads what ``create_app`` and its lifespan put on ``app.state``, so two apps in one process (as in
tests) never share state; tests may still swap any of them through ``app.dependency_overrides``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from api.errors import CatalogueUnavailable
from api.settings import Settings
from matcher.suggest import Matcher
from seed_data.search import InstitutionIndex


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    """The app's one engine; ``CatalogueUnavailable`` (503) before the lifespan has started."""
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise CatalogueUnavailable("The database is not connected yet.")
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One session per request, closed when the response has been sent."""
    with Session(engine) as session:
        yield session


def _loaded(request: Request, name: str, what: str) -> Any:
    """``app.state.<name>``; ``CatalogueUnavailable`` (503) saying why while it is not loaded."""
    value = getattr(request.app.state, name)
    if value is None:
        raise CatalogueUnavailable(request.app.state.index_problem or f"The {what} is not loaded yet.")
    return value


def get_index(request: Request) -> InstitutionIndex:
    """The institution search index built at start-up; ``CatalogueUnavailable`` (503) while there is none."""
    index: InstitutionIndex = _loaded(request, "index", "institution index")
    return index


def get_matcher(request: Request) -> Matcher:
    """The suggestion engine built at start-up; ``CatalogueUnavailable`` (503) while there is none."""
    matcher: Matcher = _loaded(request, "matcher", "matching index")
    return matcher


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
IndexDep = Annotated[InstitutionIndex, Depends(get_index)]
MatcherDep = Annotated[Matcher, Depends(get_matcher)]
