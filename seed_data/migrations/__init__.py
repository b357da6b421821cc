"""Schema migrations (Alembic) of every table on ``SQLModel.metadata``: the catalogue's (``seed_data/tables.py``)
and the embedding cache's (``embeddings/cache.py``). One module per revision in ``versions/``.

``upgrade`` brings any database to the latest revision, in one transaction: a new database gets every table;
one that a release before migrations made (tables from ``create_all``, no ``alembic_version`` table) is first
stamped with the revision its tables match and then upgraded, so none of its rows is lost. Callers pass the
models' metadata where Alembic compares them with a database (``compare``, ``new_revision``); this package
imports no other project package for it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, create_engine, inspect

MIGRATIONS_DIR = Path(__file__).parent
BASELINE = "0001"  # the tables of the releases before owner keys
OWNER_KEYS = "0002"  # + apikey.institution_id: the last release without migrations
# The tables of the baseline: a database without ``alembic_version`` that holds any of them was made by a
# release before migrations (by ``create_all``), and must hold them all.
BASELINE_TABLES = frozenset({
    "apikey", "embedding_model", "embedding_vector", "feedback", "institution", "participation",
    "priorityarea", "programme", "project", "weightprofileversion",
})  # fmt: skip


# How the database is compared with the models, by ``env.py`` (autogenerate) and by ``compare``.
COMPARE_OPTS: dict[str, Any] = {"compare_type": True, "render_as_batch": True}


class SchemaError(RuntimeError):
    """The database's tables are not those of any partnermatch release, so they cannot be migrated."""


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` did: the revision before (``None``: none recorded), the one stamped on a database
    made before migrations (``None``: none), and the revision after."""

    before: str | None
    stamped: str | None
    after: str


def alembic_config(connection: Connection | None = None, *, target_metadata: MetaData | None = None) -> Config:
    """An Alembic configuration for these migrations, made in code (there is no ``alembic.ini``); ``env.py``
    runs them on ``connection`` and compares the database with ``target_metadata``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = target_metadata
    return config


def head_revision() -> str:
    """The latest revision of the migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations have one head"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database's ``alembic_version`` table; ``None`` without one."""
    return MigrationContext.configure(connection).get_current_revision()


def unversioned_revision(connection: Connection) -> str | None:
    """The revision that the tables of a database without ``alembic_version`` match: ``None`` for a database
    with no partnermatch table, ``BASELINE`` or ``OWNER_KEYS`` for one a release before migrations made.
    ``SchemaError`` for one that lacks some of the baseline tables (made before those existed)."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    if not tables & BASELINE_TABLES:
        return None
    missing = sorted(BASELINE_TABLES - tables)
    if missing:
        raise SchemaError(f"the database has partnermatch tables but not {missing}: it was made by a release "
                          "too old to migrate; make a new database with `partnermatch db init`")
    columns = {column["name"] for column in inspector.get_columns("apikey")}
    return OWNER_KEYS if "institution_id" in columns else BASELINE


@contextmanager
def _one_transaction(connection: Connection) -> Iterator[None]:
    """Run the block in one transaction that its DDL belongs to as well, and commit it.

    PostgreSQL's DDL is transactional as it is. Python's sqlite3 driver opens transactions only before
    INSERT/UPDATE/DELETE, so CREATE/ALTER/DROP would each commit at once: here the driver is told to leave
    transactions alone and the block starts with an explicit BEGIN (SQLAlchemy's recipe for pysqlite).
    SQLite's foreign keys are not enforced meanwhile (the pragma is a no-op inside a transaction): a batch
    migration copies a table and drops the original, which rows of other tables refer to. The references
    are checked before the commit instead.
    """
    if connection.dialect.name != "sqlite":
        with connection.begin():
            yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    isolation_level = driver.isolation_level
    enforced = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    connection.commit()
    driver.isolation_level = None
    try:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql("BEGIN")
        try:
            yield
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise SchemaError(f"the migration would break {len(broken)} foreign-key references, e.g. {broken[0]}")
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
    finally:
        connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
        connection.commit()
        driver.isolation_level = isolation_level


def upgrade(engine: Engine, *, target: str = "head") -> Upgrade:
    """Upgrade the database to ``target`` (default: the latest revision) in one transaction: a database
    without ``alembic_version`` but with partnermatch tables is first stamped with the revision they match
    (``unversioned_revision``). Running it again changes nothing. ``SchemaError`` for tables it cannot place."""
    with engine.connect() as connection, _one_transaction(connection):
        before = current_revision(connection)
        stamped = None
        config = alembic_config(connection)
        if before is None:
            stamped = unversioned_revision(connection)
            if stamped is not None:
                command.stamp(config, stamped)
        command.upgrade(config, target)
        after = current_revision(connection)
    assert after is not None
    return Upgrade(before=before, stamped=stamped, after=after)


def downgrade(engine: Engine, *, target: str) -> str | None:
    """Downgrade the database to ``target`` (a revision, or ``base``: no table) in one transaction, to go
    back to an earlier release by hand; return the revision it is at then."""
    with engine.connect() as connection, _one_transaction(connection):
        command.downgrade(alembic_config(connection), target)
        return current_revision(connection)


def compare(connection: Connection, target_metadata: MetaData) -> list[Any]:
    """The differences Alembic's autogenerate finds between the database's schema and ``target_metadata``
    (an empty list when they agree), compared as ``env.py`` compares them."""
    context = MigrationContext.configure(connection, opts=COMPARE_OPTS)
    return list(compare_metadata(context, target_metadata))


def new_revision(target_metadata: MetaData, *, message: str) -> Path:
    """Write a migration from the difference between ``target_metadata`` and the latest revision's schema
    (built in a temporary SQLite database, so no real database is touched); return its path. The revision
    id follows the latest (``0003`` -> ``0004``). A change SQLite cannot see (a PostgreSQL-only type) must be
    added by hand."""
    rev_id = f"{int(head_revision()) + 1:04d}"
    with tempfile.TemporaryDirectory(prefix="partnermatch-revision-") as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'head.sqlite3'}")
        try:
            upgrade(engine)
            with engine.connect() as connection:
                script = command.revision(alembic_config(connection, target_metadata=target_metadata),
                                          message=message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)
