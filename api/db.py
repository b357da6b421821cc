"""Engine creation: the one place a database connection is made from settings; schema migrations; whether a
database can be served from."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

import embeddings.cache  # noqa: F401  (registers the embedding tables on SQLModel.metadata)
import seed_data.tables  # noqa: F401  (registers the catalogue tables on SQLModel.metadata)
from seed_data import migrations
from seed_data.crud import incomplete_load

logger = logging.getLogger(__name__)

INIT_COMMAND = "partnermatch db init"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created, and SQLite enforces foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and url != "sqlite://":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> migrations.Upgrade:
    """Bring the database's schema to the latest migration (``seed_data/migrations``): every table on a new
    database; on one made by an earlier release, the changes since, keeping every row. ``SchemaError`` for a
    database whose tables match no release."""
    result = migrations.upgrade(engine)
    if result.stamped is not None:
        logger.info("database made before migrations: recognised as revision %s", result.stamped)
    if result.after != (result.stamped or result.before):
        logger.info("database schema upgraded from %s to %s", result.stamped or result.before or "nothing",
                    result.after)
    return result


def new_migration(*, message: str) -> Path:
    """Write a migration with the changes of the models (``SQLModel.metadata``) since the latest migration;
    return its path."""
    return migrations.new_revision(SQLModel.metadata, message=message)


def database_problem(engine: Engine) -> str | None:
    """Why the database must not be served from, or ``None``: its schema predates this release (not
    migrated), or its latest catalogue load did not complete. A database with no tables at all, or one
    that cannot be read, is left to the caller (``None``), which finds no catalogue there."""
    try:
        with Session(engine) as session:
            connection = session.connection()
            revision = migrations.current_revision(connection)
            if revision is None:
                tables = set(inspect(connection).get_table_names())
                # no alembic_version: made by create_all (as tests do: every table is there) or by a release
                # before migrations, which had no catalogue_load table
                if tables & migrations.BASELINE_TABLES and "catalogue_load" not in tables:
                    return (f"The database was made by an earlier partnermatch release and its schema is not "
                            f"up to date: run `{INIT_COMMAND}` (it migrates the schema and keeps every key, "
                            f"weight profile and feedback row), then restart the service.")
            elif revision != migrations.head_revision():
                return (f"The database schema is at revision {revision}, this release needs "
                        f"{migrations.head_revision()}: run `{INIT_COMMAND}`, then restart the service.")
            load = incomplete_load(session=session)
    except SQLAlchemyError as exc:
        logger.debug("database state not readable: %s", exc)
        return None
    if load is not None:
        return (f"The catalogue load started at {load.started:%Y-%m-%d %H:%M:%S} UTC did not complete "
                f"(`{INIT_COMMAND}` was interrupted or is still running), so the database holds only part of "
                f"the catalogue: run `{INIT_COMMAND}` again, then restart the service.")
    return None
