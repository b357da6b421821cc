"""What every ``partnermatch`` command module shares: the consoles, the error exit and a session on the
configured database that refuses one without a (completely loaded) catalogue."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api import index_store
from api.db import database_problem, make_engine
from api.settings import get_settings
from embeddings.st import load_embedder
from matcher.suggest import Matcher
from matcher.weights import ensure_default_profiles
from seed_data.tables import Institution

logger = logging.getLogger("partnermatch")

# Tables are wide; when the output is not a terminal (a pipe, a file) rich would wrap them at 80 columns.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; the exit (code 1) for the caller to raise."""
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


def catalogue_session() -> Session:
    """A session on the configured database; exits with a message when it holds no catalogue, its schema is
    behind or its last load did not complete."""
    engine = make_engine(get_settings().database_url)
    if not inspect(engine).has_table("institution"):
        raise fail("the database has no catalogue yet: run `partnermatch db init` first")
    problem = database_problem(engine)
    if problem is not None:
        raise fail(problem)
    return Session(engine)


def resolve_institution(session: Session, name: str) -> Institution:
    """A catalogue id, or the best search hit for a name or abbreviation (e.g. KazNU); exits when none."""
    row = session.get(Institution, name)
    if row is not None:
        return row
    hits = index_store.search_index(get_settings(), session).search(name, limit=1)
    if not hits:
        raise fail(f"no institution matches {name!r}; try `partnermatch institutions search`")
    found = session.get(Institution, hits[0].id)
    assert found is not None
    return found


def load_matcher(session: Session) -> Matcher:
    """The matcher a ranking command uses, as the service builds it: the model loads only if a request needs it
    (a text), and the matching index is the saved one when the catalogue is unchanged (seconds, not a rebuild);
    the system's default weight profiles are made sure of."""
    settings = get_settings()
    embedder = load_embedder(settings.embedding_model, session=session)
    index, origin = index_store.matching_index(settings, session, embedder)
    session.commit()
    logger.info("matching index %s", origin)
    try:
        ensure_default_profiles(session=session)
        session.commit()
    except SQLAlchemyError as exc:
        raise fail("the database has no weight profiles table: run `partnermatch db init`") from exc
    return Matcher(index, embedder)
