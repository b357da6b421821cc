"""Engine creation: the one place a database connection is made from settings; schema creation."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, event, inspect
from sqlmodel import SQLModel, create_engine

import embeddings.cache  # noqa: F401  (registers the embedding tables on SQLModel.metadata)
import seed_data.tables  # noqa: F401  (registers the catalogue tables on SQLModel.metadata)

logger = logging.getLogger(__name__)

# Columns added to tables after those tables first shipped, as (table, column). ``create_all`` creates the
# tables a database lacks but never changes one that exists, so ``create_schema`` adds these where missing.
ADDED_COLUMNS = (("apikey", "institution_id"),)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created, and SQLite enforces foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and url != "sqlite://":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet, and add the columns of ``ADDED_COLUMNS`` that existing
    tables lack."""
    SQLModel.metadata.create_all(engine)
    add_missing_columns(engine)


def add_missing_columns(engine: Engine) -> list[str]:
    """``ALTER TABLE … ADD COLUMN`` (nullable, with its foreign key) for each column of ``ADDED_COLUMNS`` that
    its table lacks; the same statement on SQLite and PostgreSQL. Returns the ``table.column`` names added."""
    inspector = inspect(engine)
    added = []
    with engine.begin() as connection:
        for table_name, column_name in ADDED_COLUMNS:
            if not inspector.has_table(table_name):
                continue
            if column_name in {c["name"] for c in inspector.get_columns(table_name)}:
                continue
            column = SQLModel.metadata.tables[table_name].c[column_name]
            assert column.nullable, "an added column must be nullable: existing rows have no value for it"
            ddl = f"ALTER TABLE {table_name} ADD COLUMN {column_name} {column.type.compile(dialect=engine.dialect)}"
            for foreign_key in column.foreign_keys:
                ddl += f" REFERENCES {foreign_key.column.table.name} ({foreign_key.column.name})"
            connection.exec_driver_sql(ddl)
            logger.info("added column %s.%s", table_name, column_name)
            added.append(f"{table_name}.{column_name}")
    return added
