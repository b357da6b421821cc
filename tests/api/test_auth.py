"""API keys: stored hashed, checked per role (office < officer < admin), refused with 401/403 problem
documents; and the ``partnermatch keys`` commands. On the mini catalogue (tests/api/conftest.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.auth import API_KEY_HEADER, authenticate, create_api_key, revoke_api_key
from api.cli import app as cli_app
from api.db import migrate
from api.errors import NotFound
from api.main import create_app
from api.settings import Settings, get_settings
from seed_data.tables import ApiKey, ApiKeyRole, WeightProfileVersion

PROBLEM_JSON = "application/problem+json"
HE = "horizon-europe-default"
runner = CliRunner()


def _problem(response: Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


def _he_versions(engine: Engine) -> list[tuple[int, dict[str, float], bool]]:
    with Session(engine) as session:
        rows = session.exec(select(WeightProfileVersion).where(WeightProfileVersion.name == HE)).all()
        return sorted((r.version, dict(r.weights), r.published) for r in rows)


# --- the store of keys ------------------------------------------------------------------------------------


def test_keys_are_stored_hashed_never_in_plaintext(catalogue_engine: Engine) -> None:
    with Session(catalogue_engine) as session:
        row, plaintext = create_api_key(session=session, name="Nazarbayev University grants office",
                                        role=ApiKeyRole.office)
        session.commit()
        assert len(plaintext) == 43  # 32 random bytes, url-safe base64
        assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        assert row.prefix == plaintext[:8]
        with catalogue_engine.connect() as connection:
            stored = connection.execute(text("SELECT * FROM apikey")).all()
        assert stored and all(plaintext not in str(value) for r in stored for value in r)
        assert authenticate(session, plaintext) == row
        for wrong in ("", plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"), plaintext + "x", "x" * 10_000):
            assert authenticate(session, wrong) is None


def test_revoked_keys_no_longer_authenticate(catalogue_engine: Engine) -> None:
    with Session(catalogue_engine) as session:
        row, plaintext = create_api_key(session=session, name="departed officer", role="officer")
        assert row.id is not None
        first = revoke_api_key(row.id, session=session).revoked
        assert first is not None and revoke_api_key(row.id, session=session).revoked == first  # twice: same time
        session.commit()
        assert authenticate(session, plaintext) is None
        with pytest.raises(NotFound):
            revoke_api_key(12345, session=session)


def test_unknown_roles_and_empty_names_are_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="unknown role 'superuser'"):
        create_api_key(session=session, name="x", role="superuser")
    with pytest.raises(ValueError, match="key name"):
        create_api_key(session=session, name="  ", role="office")
    assert session.exec(select(ApiKey)).all() == []


# --- the HTTP guard ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/weights", None),
        ("GET", f"/weights/{HE}", None),
        ("POST", "/suggestions", {"requester_id": "pic-953676162", "programme": "erasmus-mobility"}),
        ("GET", "/feedback/summary", None),
        ("PATCH", f"/weights/{HE}", {"weights": {"thematic": 0.9}, "comment": "no key"}),
    ],
)
def test_a_missing_key_is_a_401_problem_with_a_challenge(
    client: TestClient, catalogue_engine: Engine, method: str, path: str, body: dict[str, object] | None
) -> None:
    before = _he_versions(catalogue_engine)
    response = client.request(method, path, json=body)
    problem = _problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="partnermatch"'
    assert "X-API-Key" in str(problem["detail"])
    assert _he_versions(catalogue_engine) == before  # nothing changed


def test_an_unknown_or_revoked_key_is_a_401_invalid_token(client: TestClient, catalogue_engine: Engine,
                                                          api_keys: dict[str, str]) -> None:
    response = client.get("/weights", headers={API_KEY_HEADER: "not-a-key"})
    _problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="partnermatch", error="invalid_token"'
    assert client.get("/weights", headers={API_KEY_HEADER: api_keys["office"]}).status_code == 200
    with Session(catalogue_engine) as session:
        key = session.exec(select(ApiKey).where(ApiKey.name == "test office")).one()
        assert key.id is not None
        revoke_api_key(key.id, session=session)
        session.commit()
    problem = _problem(client.get("/weights", headers={API_KEY_HEADER: api_keys["office"]}), 401)
    assert "revoked" in str(problem["detail"])


def test_a_bearer_token_works_like_the_header(client: TestClient, api_keys: dict[str, str]) -> None:
    assert client.get("/weights", headers={"Authorization": f"Bearer {api_keys['office']}"}).status_code == 200
    _problem(client.get("/weights", headers={"Authorization": "Bearer wrong"}), 401)
    _problem(client.get("/weights", headers={"Authorization": f"Basic {api_keys['office']}"}), 401)


def test_an_office_key_may_not_change_weights_403_and_nothing_changes(
    client: TestClient, catalogue_engine: Engine, api_keys: dict[str, str]
) -> None:
    before = _he_versions(catalogue_engine)
    office = {API_KEY_HEADER: api_keys["office"]}
    for method, path, body in [
        ("PATCH", f"/weights/{HE}", {"weights": {"thematic": 0.9}, "comment": "more thematic"}),
        ("POST", "/weights", {"name": "he-new", "programme": "horizon-europe", "weights": {"thematic": 1}}),
        ("POST", f"/weights/{HE}/versions/1/publish", None),
        ("POST", f"/weights/{HE}/rollback", {"to_version": 1, "comment": "back"}),
    ]:
        problem = _problem(client.request(method, path, json=body, headers=office), 403)
        assert "'officer'" in str(problem["detail"]) and "'office'" in str(problem["detail"])
    assert _he_versions(catalogue_engine) == before
    assert client.get("/weights/he-new", headers=office).status_code == 404


def test_roles_are_ordered_office_officer_admin(client: TestClient, api_keys: dict[str, str]) -> None:
    for role in ("office", "officer", "admin"):
        assert client.get(f"/weights/{HE}", headers={API_KEY_HEADER: api_keys[role]}).status_code == 200
    for version, role in [(2, "officer"), (3, "admin")]:
        response = client.patch(f"/weights/{HE}", headers={API_KEY_HEADER: api_keys[role]},
                                json={"mmr_lambda": 0.5 + version / 100, "comment": f"by {role}"})
        assert response.status_code == 200, response.text
        assert (response.json()["version"], response.json()["author"]) == (version, f"test {role}")


def test_catalogue_routes_stay_open(client: TestClient) -> None:
    for path in ("/health", "/institutions?q=KazNU", "/institutions/pic-953676162", "/areas", "/programmes"):
        assert client.get(path).status_code == 200, path


def test_openapi_declares_the_key_schemes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == API_KEY_HEADER
    assert {"401", "403"} <= set(schema["paths"]["/suggestions"]["post"]["responses"])
    assert "security" not in schema["paths"]["/institutions"]["get"]


def test_a_database_without_key_tables_is_a_503_not_a_500() -> None:
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    app = create_app(Settings(database_url="sqlite://"), engine=engine)
    with TestClient(app) as client:
        problem = _problem(client.get("/weights", headers={API_KEY_HEADER: "x" * 43}), 503)
        assert "partnermatch db init" in str(problem["detail"])
    engine.dispose()


# --- the keys commands ------------------------------------------------------------------------------------


@pytest.fixture
def cli_db(cli_engine: Engine) -> Engine:
    """A fresh SQLite file with every table (no catalogue: the keys commands need none)."""
    migrate(cli_engine)
    return cli_engine


def test_keys_commands_create_list_and_revoke(cli_db: Engine) -> None:
    created = runner.invoke(cli_app, ["keys", "create", "KazNU international office", "--role", "officer"])
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip().splitlines()[-1]
    with Session(cli_db) as session:
        key = authenticate(session, plaintext)
        assert key is not None and (key.name, key.role) == ("KazNU international office", "officer")
    listed = runner.invoke(cli_app, ["keys", "list", "--json"])
    assert listed.exit_code == 0 and plaintext not in listed.stdout
    assert '"prefix": "' + plaintext[:8] + '"' in listed.stdout
    revoked = runner.invoke(cli_app, ["keys", "revoke", str(key.id)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    with Session(cli_db) as session:
        assert authenticate(session, plaintext) is None
    assert runner.invoke(cli_app, ["keys", "revoke", "999"]).exit_code == 1
    bad = runner.invoke(cli_app, ["keys", "create", "x", "--role", "superuser"])
    assert bad.exit_code != 0


def test_keys_commands_ask_for_db_init_on_an_empty_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli_app, ["keys", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "partnermatch db init" in result.output
