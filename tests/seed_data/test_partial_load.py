"""A catalogue load that stops half-way (issue 13, finding 8): `partnermatch db init` killed with SIGKILL after
the institutions are in left the database with institutions and no projects, and the service answered
``{"status": "ok"}`` and suggestions from it. Now the load is recorded (``catalogue_load``), the service and
the CLI refuse such a database saying which command completes it, and running `db init` again does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from api.auth import API_KEY_HEADER, create_api_key
from api.cli import app as cli_app
from api.db import database_problem, make_engine, migrate
from api.main import create_app
from api.settings import Settings, get_settings
from embeddings.st import SentenceTransformerEmbedder
from seed_data import crud
from seed_data.crud import CatalogueError, incomplete_load, load_catalogue
from seed_data.tables import ApiKeyRole, CatalogueLoad, Institution, Participation, Project
from tests.factories import NU, write_mini_catalogue

REPO = Path(__file__).resolve().parents[2]
PROBLEM_JSON = "application/problem+json"
runner = CliRunner()

# `partnermatch db init`, killed with SIGKILL (nothing runs after it: no except, no finally) the moment the
# institutions' last batch is committed, before any project is written
KILLED_DB_INIT = """
import os, signal, sys
from seed_data import crud
upsert = crud._upsert
def upsert_then_die(**kwargs):
    upsert(**kwargs)
    if kwargs["shipped"].table.name == "institution":
        os.kill(os.getpid(), signal.SIGKILL)
crud._upsert = upsert_then_die
from api.cli import app
app(["db", "init", "--data-dir", sys.argv[1]])
"""


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of a SQLite file that the CLI commands use too."""
    url = f"sqlite:///{tmp_path / 'pm.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _count(engine: Engine, model: type[SQLModel]) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _office_key(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        _, plaintext = create_api_key(session=session, name="office", role=ApiKeyRole.office)
        session.commit()
    return {API_KEY_HEADER: plaintext}


SUGGESTION = {"requester_id": NU, "programme": "horizon-europe", "k": 2}


def test_a_killed_db_init_is_refused_until_running_it_again_completes_it(
        database: str, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    catalogue = write_mini_catalogue(tmp_path / "data")
    killed = subprocess.run([sys.executable, "-c", KILLED_DB_INIT, str(catalogue)], cwd=REPO, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "DATABASE_URL": database}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    engine = make_engine(database)
    assert (_count(engine, Institution), _count(engine, Project), _count(engine, Participation)) == (3, 0, 0)
    office = _office_key(engine)

    with TestClient(create_app(Settings(database_url=database), engine=engine, embedder=embedder)) as client:
        health = client.get("/health")
        assert health.status_code == 503 and health.headers["content-type"] == PROBLEM_JSON
        detail = health.json()["detail"]
        assert "did not complete" in detail and "run `partnermatch db init` again" in detail
        suggestions = client.post("/suggestions", json=SUGGESTION, headers=office)
        assert suggestions.status_code == 503 and suggestions.json()["detail"] == detail
        assert client.get("/institutions", params={"q": "Nazarbayev"}).status_code == 503
        assert client.get(f"/institutions/{NU}").status_code == 503  # in the table, but the load is partial
    searched = runner.invoke(cli_app, ["institutions", "search", "Nazarbayev"])
    assert searched.exit_code == 1 and "did not complete" in searched.output

    rerun = runner.invoke(cli_app, ["db", "init", "--data-dir", str(catalogue)])
    assert rerun.exit_code == 0, rerun.output
    assert (_count(engine, Institution), _count(engine, Project), _count(engine, Participation)) == (3, 2, 13)
    assert database_problem(engine) is None
    with TestClient(create_app(Settings(database_url=database), engine=engine, embedder=embedder)) as client:
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        assert health.json()["institutions"] == 3
        assert client.post("/suggestions", json=SUGGESTION, headers=office).status_code == 200
    engine.dispose()


def _interrupted_load(engine: Engine, catalogue: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load that fails after the institutions (as a lost connection would), leaving them committed."""
    upsert = crud._upsert

    def upsert_then_fail(**kwargs):  # type: ignore[no-untyped-def]
        if kwargs["shipped"].table.name == "project":
            raise ConnectionError("connection lost")
        upsert(**kwargs)

    with monkeypatch.context() as patch, Session(engine) as session:
        patch.setattr(crud, "_upsert", upsert_then_fail)
        with pytest.raises(ConnectionError):
            load_catalogue(session=session, data_dir=catalogue)


def _check_interrupted_and_completed(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = write_mini_catalogue(tmp_path / "data")
    _interrupted_load(engine, catalogue, monkeypatch)
    assert (_count(engine, Institution), _count(engine, Project)) == (3, 0)
    with Session(engine) as session:
        load = incomplete_load(session=session)
        assert load is not None and load.completed is None and load.source == crud.source_digest(catalogue)
    assert "did not complete" in str(database_problem(engine))
    with Session(engine) as session:
        load_catalogue(session=session, data_dir=catalogue)
        assert incomplete_load(session=session) is None
        assert [row.completed is not None for row in session.execute(select(CatalogueLoad)).scalars()] == [
            False, True]  # the history of loads stays
    assert database_problem(engine) is None
    assert (_count(engine, Institution), _count(engine, Project), _count(engine, Participation)) == (3, 2, 13)


def test_an_interrupted_load_on_sqlite_is_reported_until_a_load_completes(
        database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(database)
    migrate(engine)
    _check_interrupted_and_completed(engine, tmp_path, monkeypatch)
    engine.dispose()


@pytest.mark.postgres
def test_an_interrupted_load_on_postgres_is_reported_until_a_load_completes(
        pg_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SQLModel.metadata.drop_all(pg_engine)
    migrate(pg_engine)
    _check_interrupted_and_completed(pg_engine, tmp_path, monkeypatch)


def test_a_catalogue_refused_before_any_write_leaves_no_incomplete_load(database: str, tmp_path: Path) -> None:
    engine = make_engine(database)
    migrate(engine)
    with Session(engine) as session, pytest.raises(CatalogueError):
        load_catalogue(session=session, data_dir=tmp_path / "no-catalogue")
    assert _count(engine, CatalogueLoad) == 0 and database_problem(engine) is None
    engine.dispose()
