"""On PostgreSQL a change made by one process reaches the others' caches and matchers through LISTEN/NOTIFY
within a second (``api/caches.py`` announces, ``api/notify.py`` listens); SQLite keeps the caches' TTL.

Two apps on two engines play two uvicorn workers. Keys and weight profiles are changed by the CLI, a process
of its own, because the in-process change counters are shared by every app of a process; the caches of
the app that must see the change run on a stopped clock, so only an announcement can void their entries.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, create_engine

from api.auth import API_KEY_HEADER, KEY_CACHE_TTL_S, create_api_key
from api.caches import API_KEY_CHANGES, PROFILE_CHANGES, TTLCache
from api.main import create_app
from api.notify import start_listener
from api.routes.suggestions import PROFILE_CACHE_TTL_S
from api.settings import Settings
from embeddings.st import SentenceTransformerEmbedder
from seed_data.tables import ApiKeyRole

from .conftest import ENU, NU, fill

DEADLINE_S = 1.0
PROFILE = "Hydrology, water resource management and irrigation planning in Central Asia."
REQUEST = {"requester_id": NU, "programme": "erasmus-mobility", "areas": ["ai"], "k": 3}


def _cli(*args: str, database_url: str) -> None:
    script = Path(sys.executable).parent / "partnermatch"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]
    env = {**os.environ, "DATABASE_URL": database_url, "HF_HUB_OFFLINE": "1"}
    subprocess.run([*command, *args], env=env, check=True, capture_output=True, timeout=120)


def _seen_within(condition: Callable[[], bool], deadline_s: float) -> float:
    """Seconds until ``condition()`` held; fails after ``deadline_s``."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > deadline_s:
            pytest.fail(f"not seen within {deadline_s} s")
        time.sleep(0.01)
    return time.perf_counter() - started


def _stopped_clock() -> float:
    return 0.0


@pytest.fixture
def apps(pg_engine: Engine, postgres_url: str, embedder: SentenceTransformerEmbedder
         ) -> Iterator[tuple[TestClient, TestClient]]:
    """Two started apps on the mini catalogue in PostgreSQL, each with its own engine, as two workers."""
    fill(pg_engine)
    other = create_engine(postgres_url)
    with (TestClient(create_app(Settings(database_url="sqlite://"), engine=pg_engine, embedder=embedder)) as a,
          TestClient(create_app(Settings(database_url="sqlite://"), engine=other, embedder=embedder)) as b):
        for client in (a, b):
            assert client.app.state.change_listener.listening.is_set()  # type: ignore[attr-defined]
        yield a, b
    other.dispose()


@pytest.fixture
def keys(pg_engine: Engine) -> dict[str, tuple[int, str]]:
    """role -> (key id, plaintext)."""
    with Session(pg_engine) as session:
        made = {role.value: create_api_key(session=session, name=f"test {role.value}", role=role)
                for role in ApiKeyRole}
        session.commit()
        return {role: (row.id, plain) for role, (row, plain) in made.items()}  # type: ignore[misc]


@pytest.mark.postgres
def test_a_key_revoked_by_the_cli_is_refused_by_a_running_service_within_a_second(
        apps: tuple[TestClient, TestClient], keys: dict[str, tuple[int, str]], postgres_url: str) -> None:
    _, b = apps
    b.app.state.key_cache = TTLCache(ttl_s=KEY_CACHE_TTL_S, max_size=8, changes=API_KEY_CHANGES,  # type: ignore[attr-defined]
                                     clock=_stopped_clock)
    key_id, office = keys["office"]
    assert b.get("/weights", headers={API_KEY_HEADER: office}).status_code == 200  # cached, never expiring
    _cli("keys", "revoke", str(key_id), database_url=postgres_url)
    latency = _seen_within(lambda: b.get("/weights", headers={API_KEY_HEADER: office}).status_code == 401,
                           DEADLINE_S)
    print(f"revoked key refused after {latency * 1000:.0f} ms")  # noqa: T201


@pytest.mark.postgres
def test_a_profile_published_by_the_cli_is_used_by_a_running_service_within_a_second(
        apps: tuple[TestClient, TestClient], keys: dict[str, tuple[int, str]], postgres_url: str) -> None:
    a, b = apps
    b.app.state.profile_cache = TTLCache(ttl_s=PROFILE_CACHE_TTL_S, max_size=8,  # type: ignore[attr-defined]
                                         changes=PROFILE_CHANGES, clock=_stopped_clock)
    officer = {API_KEY_HEADER: keys["officer"][1]}
    v2 = a.patch("/weights/erasmus-mobility-default", headers=officer, json={"mmr_lambda": 1.0, "comment": "v2"})
    assert v2.status_code == 200, v2.text

    def version_used() -> int:
        return int(b.post("/suggestions", headers=officer, json=REQUEST).json()["profile_version_id"])

    assert version_used() != v2.json()["id"]
    _cli("weights", "publish", "erasmus-mobility-default", str(v2.json()["version"]), database_url=postgres_url)
    latency = _seen_within(lambda: version_used() == v2.json()["id"], DEADLINE_S)
    print(f"published profile used after {latency * 1000:.0f} ms")  # noqa: T201


@pytest.mark.postgres
def test_an_owner_profile_saved_in_one_worker_rebuilds_the_other_workers_matcher(
        apps: tuple[TestClient, TestClient], keys: dict[str, tuple[int, str]]) -> None:
    a, b = apps
    admin = {API_KEY_HEADER: keys["admin"][1]}
    old = b.app.state.matcher  # type: ignore[attr-defined]
    assert not old.index.has_evidence[old.index.row_of[ENU]]

    def rebuilt() -> bool:
        index = b.app.state.matcher.index  # type: ignore[attr-defined]
        return bool(index.has_evidence[index.row_of[ENU]])

    started = time.perf_counter()
    saved = a.put(f"/institutions/{ENU}/profile", headers=admin, json={"text": PROFILE})
    assert saved.json()["matcher"] == "rebuilding"  # this app's own rebuild has run when the response is here
    # both rebuilds (one at a time, process-wide) of the mini catalogue, each embedding the new text
    latency = time.perf_counter() - started + _seen_within(rebuilt, 2 * DEADLINE_S)
    print(f"other app's matcher rebuilt {latency * 1000:.0f} ms after the request was sent")  # noqa: T201
    answer = b.post("/suggestions", headers=admin, json={**REQUEST, "requester_id": ENU}).json()
    assert answer["requester_has_research_evidence"] is True


@pytest.mark.postgres
def test_the_listener_reconnects_and_then_treats_everything_as_changed(
        apps: tuple[TestClient, TestClient], pg_engine: Engine) -> None:
    listeners = [client.app.state.change_listener for client in apps]  # type: ignore[attr-defined]
    counts = API_KEY_CHANGES.count, PROFILE_CHANGES.count
    with pg_engine.begin() as connection:
        ended = connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()")).all()
    assert len(ended) == 2  # both apps' listeners
    _seen_within(lambda: all(listener.connections == 2 and listener.listening.is_set() for listener in listeners),
                 10.0)
    # what was announced while nobody listened is lost: the caches are voided as if everything changed
    assert API_KEY_CHANGES.count > counts[0] and PROFILE_CHANGES.count > counts[1]


def test_on_sqlite_nothing_listens_and_the_ttl_bounds_other_processes_changes(client: TestClient) -> None:
    assert client.app.state.change_listener is None  # type: ignore[attr-defined]
    assert start_listener(client.app) is None  # type: ignore[arg-type]
