"""What every ``partnermatch`` command module shares: the consoles, the error exit and a session on the
configured database that refuses one without a (completely loaded) catalogue."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy import inspect
from sqlmodel import Session

from api.db import database_problem, make_engine
from api.settings import get_settings

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
