"""The HTTP API: ``create_app`` builds the FastAPI application; its lifespan opens the database and
builds the institution search index once.

Nothing is loaded at import time. Serve it with ``uvicorn --factory api.main:app_factory``; tests call
``create_app(settings, engine=...)`` on a small in-memory catalogue.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api import console, errors, index_store, middleware, openapi_extras
from api.db import make_engine
from api.notify import start_listener
from api.routes import (
    areas,
    calls,
    consortia,
    evidence,
    feedback,
    health,
    institutions,
    keys,
    portfolios,
    programmes,
    shortlists,
    suggestions,
    weights,
)
from api.settings import Settings, get_settings
from api.state import REBUILD_LOCK, build_indexes
from embeddings.base import Embedder
from matcher.weights import ProfileConflict, ensure_default_profiles

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Research-partnership matching for Kazakh universities: look up institutions in the catalogue
(Horizon Europe and H2020 participants, Erasmus charter holders, ROR and university domain lists),
the national priority areas and the funding programmes with their eligible partner countries.

Errors are [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem documents
(`application/problem+json`).
"""

TAGS = [
    {"name": "institutions", "description": "Search and look up institutions, their projects and partners."},
    {"name": "areas", "description": "National research priority areas."},
    {"name": "programmes", "description": "Funding programmes and cooperation tracks."},
    {"name": "calls", "description": "Open and forthcoming EU call topics (Funding & Tenders portal)."},
    {"name": "suggestions", "description": "Ranked, explained partner suggestions (office key)."},
    {"name": "portfolios", "description": "Partners for several requesters at once (office key)."},
    {"name": "consortia", "description": "Complete consortia built for a call or an idea, checked against the "
                                         "programme's composition rules, and written as a file (office key)."},
    {"name": "shortlists", "description": "A shortlist of partners written as a CSV or Excel file (office key)."},
    {"name": "evidence", "description": "An institution's own publications, projects and partnerships: upload "
                                        "and removal (admin key or the institution's owner key)."},
    {"name": "keys", "description": "The API key a request is sent with (office key)."},
    {"name": "weights", "description": "Versioned weight profiles: read (office key), change and publish (officer)."},
    {"name": "feedback", "description": "What came of suggested partners, per profile version (office key)."},
    {"name": "health", "description": "Service status."},
]


def _version() -> str:
    try:
        return version("partnermatch")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0+unknown"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the engine (unless one was given), listen for other processes' changes (PostgreSQL), load or
    build the search index and the matcher; stop and dispose of what was opened."""
    owns_engine = app.state.engine is None
    if owns_engine:
        app.state.engine = make_engine(app.state.settings.database_url)
    logger.info("database: %s", app.state.engine.url.render_as_string(hide_password=True))
    try:
        with Session(app.state.engine) as session:
            ensure_default_profiles(session=session)
            session.commit()
    except (SQLAlchemyError, ProfileConflict) as exc:  # no tables yet, or another worker created them first
        logger.error("could not create the default weight profiles: %s", exc)
    # listening before the indexes are read, so that no change made meanwhile by another process goes unheard
    listener = app.state.change_listener = start_listener(app)
    with REBUILD_LOCK:  # a rebuild the listener is asked for waits for this first build
        build_indexes(app)
    if owns_engine and index_store.cache_dir(app.state.settings) is not None:
        # the weight estimates' validation sample, loaded (or built and saved) while requests are served (not
        # for an engine passed in: tests share one in-memory connection, which a thread must not use)
        threading.Thread(target=weights.warm_validation_sample, args=(app,), name="validation-sample",
                         daemon=True).start()
    try:
        yield
    finally:
        if listener is not None:
            listener.stop()
            app.state.change_listener = None
        gc.unfreeze()  # api/state.py froze the indexes out of the garbage collector: let it have them back
        app.state.index = None
        app.state.matcher = None
        app.state.index_built_at = None
        app.state.index_problem = None
        if owns_engine:
            app.state.engine.dispose()
            app.state.engine = None


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, embedder: Embedder | None = None
) -> FastAPI:
    """The application for ``settings`` (default: from the environment).

    ``engine`` replaces the one the lifespan would create from ``settings.database_url`` (tests pass an
    in-memory SQLite engine whose single connection holds the data); the caller then disposes of it.
    """
    app = FastAPI(
        title="partnermatch",
        summary="Research-partnership matching for Kazakh universities.",
        description=DESCRIPTION,
        version=_version(),
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings or get_settings()
    app.state.engine = engine
    app.state.embedder = embedder
    app.state.matcher = None
    app.state.index = None
    app.state.index_built_at = None
    app.state.index_problem = None
    errors.install(app)
    middleware.install(app)
    for module in (institutions, evidence, areas, programmes, suggestions, weights, feedback, shortlists, keys,
                   health, calls, portfolios, consortia):
        app.include_router(module.router)
    console.install(app)
    openapi_extras.install(app)
    return app


def app_factory() -> FastAPI:
    """The app with settings from the environment, for ``uvicorn --factory api.main:app_factory``."""
    return create_app()
