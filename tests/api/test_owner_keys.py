"""Owner keys (an API key tied to one institution): the ``apikey.institution_id`` column and its migration,
``partnermatch keys create --institution``, ``GET /keys/me`` and ``PUT/DELETE /institutions/{id}/profile``.
On the mini catalogue (tests/api/conftest.py): ENU has no project, so an owner profile is its only evidence."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

import api.state
from api.auth import API_KEY_HEADER, authenticate
from api.cli import app as cli_app
from api.db import make_engine, migrate
from seed_data.migrations import BASELINE, head_revision
from seed_data.tables import ApiKey, Institution
from tests.api.conftest import ENU, KAZNU, NU
from tests.factories import create_release_tables

PROBLEM_JSON = "application/problem+json"
ENU_PROFILE = "  L. N. Gumilyov Eurasian National University: glacier hydrology and irrigation in Central Asia.  "
runner = CliRunner()


def _problem(response: Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    detail: str = response.json()["detail"]
    return detail


# --- GET /keys/me ---------------------------------------------------------------------------------------------


def test_keys_me_names_the_key_its_role_and_institution(client: TestClient, api_keys: dict[str, str],
                                                        enu_owner: dict[str, str]) -> None:
    office = client.get("/keys/me", headers={API_KEY_HEADER: api_keys["office"]})
    assert office.status_code == 200
    assert office.json() == {"name": "test office", "role": "office", "institution_id": None}
    assert client.get("/keys/me", headers=enu_owner).json() == {"name": f"owner of {ENU}", "role": "office",
                                                                "institution_id": ENU}
    _problem(client.get("/keys/me"), 401)
    _problem(client.get("/keys/me", headers={API_KEY_HEADER: "not-a-key"}), 401)


# --- PUT and DELETE /institutions/{id}/profile ------------------------------------------------------------------


def test_the_owner_key_sets_the_profile_and_the_matcher_is_rebuilt_with_it(client: TestClient,
                                                                             enu_owner: dict[str, str]) -> None:
    app = client.app
    old = app.state.matcher  # type: ignore[attr-defined]
    assert not old.index.has_evidence[old.index.row_of[ENU]]
    response = client.put(f"/institutions/{ENU}/profile", headers=enu_owner, json={"text": ENU_PROFILE})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["institution_id"], body["profile_source"], body["matcher"]) == (ENU, "owner", "rebuilding")
    assert body["profile_owner_updated"].endswith("Z") or "+00:00" in body["profile_owner_updated"]
    detail = client.get(f"/institutions/{ENU}").json()
    assert detail["profile"] == ENU_PROFILE.strip() and detail["profile_source"] == "owner"
    # TestClient runs background tasks before it returns: the new matcher knows the profile
    new = app.state.matcher  # type: ignore[attr-defined]
    assert new is not old and new.index.has_evidence[new.index.row_of[ENU]]
    again = client.put(f"/institutions/{ENU}/profile", headers=enu_owner, json={"text": ENU_PROFILE})
    assert again.json()["matcher"] == "unchanged" and app.state.matcher is new  # type: ignore[attr-defined]

    removed = client.delete(f"/institutions/{ENU}/profile", headers=enu_owner)
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"institution_id": ENU, "profile_source": "derived", "profile_owner_updated": None,
                              "matcher": "rebuilding"}
    assert client.get(f"/institutions/{ENU}").json()["profile_source"] == "derived"
    latest = app.state.matcher  # type: ignore[attr-defined]
    assert not latest.index.has_evidence[latest.index.row_of[ENU]]
    assert client.delete(f"/institutions/{ENU}/profile", headers=enu_owner).json()["matcher"] == "unchanged"


def test_only_an_admin_or_the_owner_key_may_change_a_profile(client: TestClient, api_keys: dict[str, str],
                                                             catalogue_engine: Engine,
                                                             enu_owner: dict[str, str]) -> None:
    body = {"text": ENU_PROFILE}
    detail = _problem(client.put(f"/institutions/{KAZNU}/profile", headers=enu_owner, json=body), 403)
    assert f"owner key of {KAZNU}" in detail and f"the owner key of {ENU}" in detail
    for role in ("office", "officer"):
        detail = _problem(client.put(f"/institutions/{ENU}/profile", headers={API_KEY_HEADER: api_keys[role]},
                                     json=body), 403)
        assert "admin key or the owner key" in detail
        _problem(client.delete(f"/institutions/{ENU}/profile", headers={API_KEY_HEADER: api_keys[role]}), 403)
    _problem(client.put(f"/institutions/{ENU}/profile", json=body), 401)
    admin = {API_KEY_HEADER: api_keys["admin"]}
    assert client.put(f"/institutions/{NU}/profile", headers=admin, json=body).status_code == 200
    assert "pic-000000000" in _problem(client.put("/institutions/pic-000000000/profile", headers=admin,
                                                  json=body), 404)
    with Session(catalogue_engine) as session:
        assert session.get(Institution, KAZNU).profile_owner is None  # type: ignore[union-attr]


def test_profile_text_must_be_20_to_20000_characters_after_stripping(client: TestClient,
                                                                     enu_owner: dict[str, str]) -> None:
    for text_ in ("  too short        ", "x" * 20001, ""):
        detail = _problem(client.put(f"/institutions/{ENU}/profile", headers=enu_owner, json={"text": text_}), 422)
        assert "text" in detail
    assert client.put(f"/institutions/{ENU}/profile", headers=enu_owner,
                      json={"text": " " * 10 + "x" * 20000 + " " * 10}).status_code == 200


def test_a_failed_rebuild_is_logged_and_the_old_matcher_keeps_answering(
    client: TestClient, enu_owner: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    old = client.app.state.matcher  # type: ignore[attr-defined]

    def failing_refresh(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(api.state, "load_refresh", failing_refresh)
    with caplog.at_level(logging.ERROR):
        response = client.put(f"/institutions/{ENU}/profile", headers=enu_owner, json={"text": ENU_PROFILE})
    assert response.status_code == 200
    assert client.app.state.matcher is old  # type: ignore[attr-defined]
    assert f"refreshing the matcher for ['{ENU}'] failed" in caplog.text


# --- the column, its migration and the CLI --------------------------------------------------------------------


def _old_schema(engine: Engine) -> None:
    """Every table as the release before owner keys made them (``create_all``, no ``alembic_version``):
    ``apikey`` without ``institution_id``, no table added since; one key in it."""
    create_release_tables(engine, owner_keys=False)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO apikey (name, role, prefix, key_hash, created) "
                                "VALUES ('old key', 'office', 'abcdefgh', :hash, CURRENT_TIMESTAMP)"),
                           {"hash": "0" * 64})
        connection.execute(text("INSERT INTO institution (id, name, country, kind, aliases, domains, provenance, "
                                "n_projects, has_research_evidence, profile_derived) VALUES "
                                "(:id, 'Nazarbayev University', 'KZ', 'university', '[]', '[]', '[]', 0, false, '')"),
                           {"id": NU})


def _check_migration(engine: Engine) -> None:
    _old_schema(engine)
    assert "institution_id" not in {c["name"] for c in inspect(engine).get_columns("apikey")}
    assert migrate(engine).stamped == BASELINE  # recognised as the release before owner keys, then upgraded
    assert "institution_id" in {c["name"] for c in inspect(engine).get_columns("apikey")}
    assert migrate(engine).before == head_revision()  # a second run changes nothing
    with Session(engine) as session:
        key = session.get(ApiKey, 1)
        assert key is not None and key.name == "old key" and key.institution_id is None
        key.institution_id = NU
        session.add(key)
        session.commit()
    with Session(engine) as session, pytest.raises(IntegrityError):  # the foreign key holds
        key = session.get(ApiKey, 1)
        assert key is not None
        key.institution_id = "pic-000000000"
        session.add(key)
        session.commit()


def test_migrate_adds_the_owner_column_to_an_older_sqlite_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        _check_migration(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_migrate_adds_the_owner_column_to_an_older_postgres_database(pg_engine: Engine) -> None:
    SQLModel.metadata.drop_all(pg_engine)
    _check_migration(pg_engine)


@pytest.fixture
def cli_db(cli_engine: Engine) -> Engine:
    """A SQLite file with the schema as before owner keys (``db init`` migrates it) and the env pointing at it."""
    _old_schema(cli_engine)
    return cli_engine


def test_db_init_migrates_and_keys_create_makes_owner_keys(cli_db: Engine, tmp_path: Path) -> None:
    # `db init` creates and migrates the schema before it loads the catalogue (an empty folder here fails after)
    runner.invoke(cli_app, ["db", "init", "--data-dir", str(tmp_path / "no-catalogue")])
    assert "institution_id" in {c["name"] for c in inspect(cli_db).get_columns("apikey")}
    created = runner.invoke(cli_app, ["keys", "create", "NU research office", "--role", "office",
                                      "--institution", NU])
    assert created.exit_code == 0, created.output
    assert "owner key of Nazarbayev University" in created.output
    with Session(cli_db) as session:
        key = authenticate(session, created.stdout.strip().splitlines()[-1])
        assert key is not None and (key.role, key.institution_id) == ("office", NU)
    listed = runner.invoke(cli_app, ["keys", "list", "--json"])
    assert f'"institution_id": "{NU}"' in listed.stdout
    unknown = runner.invoke(cli_app, ["keys", "create", "x", "--role", "office", "--institution", "pic-1"])
    assert unknown.exit_code == 1 and "no institution with id 'pic-1'" in unknown.output
