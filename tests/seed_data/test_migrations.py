"""Schema migrations (``seed_data/migrations``): a new database, databases the releases before migrations
made (``create_all``, no ``alembic_version``), the models agreeing with the migrations, one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, MetaData, inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import AutoString, Session, SQLModel

import embeddings.cache  # noqa: F401  (registers the embedding tables on SQLModel.metadata)
from api.db import database_problem, make_engine, migrate
from seed_data import migrations
from seed_data.migrations import BASELINE, BASELINE_TABLES, OWNER_KEYS, SchemaError, head_revision
from seed_data.tables import ApiKey, Feedback, Institution, WeightProfileVersion
from tests.factories import create_release_tables

NU = "pic-953676162"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty SQLite file, opened as the service opens it (foreign keys enforced)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'pm.sqlite3'}")
    yield engine
    engine.dispose()


@pytest.fixture
def empty_pg(pg_engine: Engine) -> Engine:
    """The test PostgreSQL database with no table at all."""
    SQLModel.metadata.drop_all(pg_engine)
    return pg_engine


def _release_schema(engine: Engine, *, owner_keys: bool) -> None:
    """The tables as a release before migrations made them with ``create_all``: the baseline tables, with
    ``apikey.institution_id`` if ``owner_keys``; an institution, a key, a profile version by that key and
    feedback given with it (rows of three tables that refer to ``apikey``)."""
    create_release_tables(engine, owner_keys=owner_keys)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO institution (id, name, country, kind, aliases, domains, provenance, n_projects, "
            "has_research_evidence, profile_derived) VALUES (:id, 'Nazarbayev University', 'KZ', 'university', "
            "'[]', '[]', '[]', 0, false, '')"), {"id": NU})
        connection.execute(text("INSERT INTO apikey (id, name, role, prefix, key_hash, created) "
                                "VALUES (1, 'old key', 'officer', 'abcdefgh', :hash, CURRENT_TIMESTAMP)"),
                           {"hash": "0" * 64})
        connection.execute(text(
            "INSERT INTO weightprofileversion (id, name, programme, mmr_lambda, ties, comment, version, weights, "
            "author, key_id, created, published) VALUES (1, 'he', 'horizon-europe', 0.7, 'neutral', '', 1, "
            "'{\"thematic\": 1.0}', 'old key', 1, CURRENT_TIMESTAMP, true)"))
        connection.execute(text(
            "INSERT INTO feedback (institution_id, programme, profile_version_id, status, key_id, created) "
            "VALUES (:id, 'horizon-europe', 1, 'contacted', 1, CURRENT_TIMESTAMP)"), {"id": NU})


def _columns(engine: Engine, table: str) -> list[str]:
    return [column["name"] for column in inspect(engine).get_columns(table)]


def _shape(engine: Engine, table: str) -> tuple[object, ...]:
    """A table's columns (name, type, nullable), foreign keys and indexes, comparable across inspections."""
    inspector = inspect(engine)
    return ([(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            inspector.get_foreign_keys(table),
            [(i["name"], i["column_names"], i["unique"]) for i in inspector.get_indexes(table)])


def _assert_rows_kept(engine: Engine) -> None:
    with Session(engine) as session:
        key = session.get(ApiKey, 1)
        assert key is not None and (key.name, key.role, key.institution_id) == ("old key", "officer", None)
        version = session.get(WeightProfileVersion, 1)
        assert version is not None and (version.key_id, version.weights) == (1, {"thematic": 1.0})
        feedback = session.get(Feedback, 1)
        assert feedback is not None and (feedback.key_id, feedback.institution_id) == (1, NU)
        assert session.get(Institution, NU) is not None


def _assert_models_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        assert migrations.compare(connection, SQLModel.metadata) == []


# --- a new database ---------------------------------------------------------------------------------------


def _check_new_database(engine: Engine) -> None:
    result = migrate(engine)
    assert (result.before, result.stamped, result.after) == (None, None, head_revision())
    assert set(inspect(engine).get_table_names()) == {*SQLModel.metadata.tables, "alembic_version"}
    _assert_models_agree(engine)
    again = migrate(engine)  # a second run changes nothing
    assert (again.before, again.after) == (head_revision(), head_revision())
    assert database_problem(engine) is None


def test_a_new_sqlite_database_gets_every_table_and_agrees_with_the_models(sqlite_engine: Engine) -> None:
    _check_new_database(sqlite_engine)


@pytest.mark.postgres
def test_a_new_postgres_database_gets_every_table_and_agrees_with_the_models(empty_pg: Engine) -> None:
    _check_new_database(empty_pg)


# --- databases made before migrations -----------------------------------------------------------------------


def _check_release_before_owner_keys(engine: Engine) -> None:
    _release_schema(engine, owner_keys=False)
    assert "alembic_version" not in inspect(engine).get_table_names()
    assert "The database was made by an earlier partnermatch release" in str(database_problem(engine))
    result = migrate(engine)
    assert (result.before, result.stamped, result.after) == (None, BASELINE, head_revision())
    assert "institution_id" in _columns(engine, "apikey")
    _assert_rows_kept(engine)
    _assert_models_agree(engine)
    assert database_problem(engine) is None
    with Session(engine) as session:  # the new column's foreign key holds
        key = session.get(ApiKey, 1)
        assert key is not None
        key.institution_id = "pic-000000000"
        session.add(key)
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_sqlite_database_of_the_release_before_owner_keys_is_stamped_and_upgraded(sqlite_engine: Engine) -> None:
    _check_release_before_owner_keys(sqlite_engine)
    with sqlite_engine.connect() as connection:  # the migration's pragma did not leak into the pool
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.postgres
def test_a_postgres_database_of_the_release_before_owner_keys_is_stamped_and_upgraded(empty_pg: Engine) -> None:
    _check_release_before_owner_keys(empty_pg)


def _check_release_with_owner_keys(engine: Engine) -> None:
    _release_schema(engine, owner_keys=True)
    # stamped, and then only changed by the migrations after 0003 (0004 adds institution.evidence_level, 0005
    # project.funding_scheme, 0006 weightprofileversion.kind and .model)
    unchanged = BASELINE_TABLES - {"institution", "project", "weightprofileversion"}
    before = {table: _shape(engine, table) for table in unchanged}
    result = migrate(engine)
    assert (result.before, result.stamped, result.after) == (None, OWNER_KEYS, head_revision())
    assert {table: _shape(engine, table) for table in unchanged} == before
    assert "evidence_level" in _columns(engine, "institution")
    assert "funding_scheme" in _columns(engine, "project")
    assert {"kind", "model"} <= set(_columns(engine, "weightprofileversion"))
    _assert_rows_kept(engine)
    _assert_models_agree(engine)


def test_a_sqlite_database_of_the_last_release_before_migrations_is_stamped(sqlite_engine: Engine) -> None:
    _check_release_with_owner_keys(sqlite_engine)


@pytest.mark.postgres
def test_a_postgres_database_of_the_last_release_before_migrations_is_stamped(empty_pg: Engine) -> None:
    _check_release_with_owner_keys(empty_pg)


def test_a_database_missing_baseline_tables_is_refused_and_left_alone(sqlite_engine: Engine) -> None:
    SQLModel.metadata.tables["institution"].create(sqlite_engine)
    with pytest.raises(SchemaError, match=r"not \['apikey', 'embedding_model'"):
        migrate(sqlite_engine)
    assert inspect(sqlite_engine).get_table_names() == ["institution"]


def test_a_migration_that_fails_changes_nothing(sqlite_engine: Engine) -> None:
    # revision 0002 copies apikey (SQLite batch mode), then 0003 fails on a table that is in the way: the
    # whole upgrade, DDL included, is rolled back
    _release_schema(sqlite_engine, owner_keys=False)
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE catalogue_load (x INTEGER)")
    tables_before = sorted(inspect(sqlite_engine).get_table_names())
    with pytest.raises(OperationalError, match="catalogue_load already exists"):
        migrate(sqlite_engine)
    assert sorted(inspect(sqlite_engine).get_table_names()) == tables_before  # no alembic_version, no temp table
    assert "institution_id" not in _columns(sqlite_engine, "apikey")
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE catalogue_load")
    migrate(sqlite_engine)  # nothing was left half-done
    assert "institution_id" in _columns(sqlite_engine, "apikey")
    _assert_rows_kept(sqlite_engine)


def test_a_database_behind_the_latest_revision_is_not_served(sqlite_engine: Engine) -> None:
    migrations.upgrade(sqlite_engine, target=OWNER_KEYS)
    problem = database_problem(sqlite_engine)
    assert problem is not None
    assert f"at revision {OWNER_KEYS}, this release needs {head_revision()}" in problem
    assert "partnermatch db init" in problem
    migrate(sqlite_engine)
    assert database_problem(sqlite_engine) is None


def _check_down_and_up(engine: Engine) -> None:
    migrate(engine)
    for revision in (OWNER_KEYS, BASELINE):  # each downgrade undoes its upgrade exactly
        assert migrations.downgrade(engine, target=revision) == revision
        with engine.connect() as connection:  # the tables are those that release made
            assert migrations.unversioned_revision(connection) == revision
    assert migrations.downgrade(engine, target="base") is None
    assert inspect(engine).get_table_names() == ["alembic_version"]
    migrate(engine)
    _assert_models_agree(engine)


def test_sqlite_migrations_go_down_and_up_again(sqlite_engine: Engine) -> None:
    _check_down_and_up(sqlite_engine)


@pytest.mark.postgres
def test_postgres_migrations_go_down_and_up_again(empty_pg: Engine) -> None:
    _check_down_and_up(empty_pg)


# --- writing a migration ----------------------------------------------------------------------------------------


def test_new_revision_writes_the_model_changes_as_batch_operations(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    (copy / "versions").mkdir(parents=True)
    for path in (*migrations.MIGRATIONS_DIR.glob("*.py*"), *migrations.MIGRATIONS_DIR.glob("versions/r*.py")):
        (copy / path.relative_to(migrations.MIGRATIONS_DIR)).write_bytes(path.read_bytes())
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", copy)
    expected = f"r{int(head_revision()) + 1:04d}_institution_acronym.py"
    metadata = MetaData()  # the models with one more column
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["institution"].append_column(Column("acronym", AutoString(length=200), nullable=True))

    written = migrations.new_revision(metadata, message="institution acronym")

    assert written.parent == copy / "versions" and written.name == expected
    body = written.read_text()
    assert "with op.batch_alter_table('institution'" in body
    assert "batch_op.add_column(sa.Column('acronym', sa.String(length=200), nullable=True))" in body
    assert "batch_op.drop_column('acronym')" in body
    assert "sqlmodel" not in body  # SQLModel's types are written as the SQLAlchemy types they stand for
