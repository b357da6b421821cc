"""What every ``partnermatch`` command module shares: the consoles, the error exit, a session on the
configured database that refuses one without a (completely loaded) catalogue, the matcher, the catalogue's
embedded projects and the format of an export file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import get_args

import numpy as np
import numpy.typing as npt
import typer
from rich.console import Console
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api import index_store
from api.db import database_problem, make_engine
from api.settings import get_settings
from api.spreadsheet import ExportFormat
from embeddings.st import SentenceTransformerEmbedder, load_embedder
from matcher.engine import CatalogueRows, EmbeddingStats, embed_projects, read_catalogue
from matcher.suggest import Matcher
from matcher.weights import ensure_default_profiles
from seed_data.tables import Institution

logger = logging.getLogger("partnermatch")

# Tables are wide; when the output is not a terminal (a pipe, a file) rich would wrap them at 80 columns.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True)
# What an export file's suffix (any case) says it holds: ".csv", ".xlsx", one per export format.
EXPORT_FORMATS: dict[str, ExportFormat] = {f".{name}": name for name in get_args(ExportFormat)}


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
    matcher = open_matcher(session)
    try:
        ensure_default_profiles(session=session)
        session.commit()
    except SQLAlchemyError as exc:
        raise fail("the database has no weight profiles table: run `partnermatch db init`") from exc
    return matcher


def open_matcher(session: Session) -> Matcher:
    """The matcher over the saved matching index (or one built now), as the service builds it, without the
    default weight profiles :func:`load_matcher` makes sure of: for commands that score with none (a rule
    check, an institution's page)."""
    settings = get_settings()
    embedder = load_embedder(settings.embedding_model, session=session)
    index, origin = index_store.matching_index(settings, session, embedder)
    session.commit()
    logger.info("matching index %s", origin)
    return Matcher(index, embedder)


def embedded_catalogue(session: Session) -> tuple[SentenceTransformerEmbedder, CatalogueRows,
                                                  dict[str, npt.NDArray[np.float32]]]:
    """What a replay of history needs: the model, the catalogue's rows and every project's vector (from the
    cache, embedding what it lacks and committing those)."""
    embedder = SentenceTransformerEmbedder(get_settings().embedding_model)
    rows = read_catalogue(session)
    vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats(), show_progress=True)
    session.commit()
    return embedder, rows, vectors


def export_format(path: Path) -> ExportFormat:
    """The format ``path`` names by its suffix: csv or xlsx; exits with a message for any other."""
    found = EXPORT_FORMATS.get(path.suffix.lower())
    if found is None:
        raise fail(f"--export must end in {' or '.join(EXPORT_FORMATS)}, got {path.name!r}")
    return found
