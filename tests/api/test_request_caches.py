"""The caches on the request path (``api/caches.py``): validated API keys and resolved weight profiles are
remembered for a few seconds (a change written by this process voids them at once, one written by another
process within the TTL), and serialised suggestion answers are kept per matcher."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.auth import API_KEY_HEADER, KEY_CACHE_TTL_S
from api.caches import API_KEY_CHANGES, PROFILE_CHANGES, TableChanges, TTLCache
from api.routes.suggestions import PROFILE_CACHE_TTL_S
from api.state import build_matcher
from seed_data.tables import ApiKey, Institution

from .conftest import ENU, NU

REQUEST = {"requester_id": NU, "programme": "erasmus-mobility", "areas": ["ai"], "k": 3}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl_or_at_a_change_and_the_oldest_go_first() -> None:
    changes = TableChanges(ApiKey)
    clock = FakeClock()
    cache: TTLCache[str, int] = TTLCache(ttl_s=5.0, max_size=2, changes=changes, clock=clock)
    cache.put("a", 1, count=changes.count)
    clock.now += 4.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None

    cache.put("a", 1, count=changes.count)
    changes.count += 1  # what a flush or commit of an ApiKey in this process does
    assert cache.get("a") is None
    cache.put("b", 2, count=changes.count - 1)  # read before that change: void at once
    assert cache.get("b") is None

    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        cache.put(key, value, count=changes.count)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)


def test_only_writes_to_the_watched_table_count(catalogue_engine: Engine) -> None:
    keys, profiles = API_KEY_CHANGES.count, PROFILE_CHANGES.count
    with Session(catalogue_engine) as session:
        row = session.get(Institution, ENU)
        assert row is not None
        row.city = "Nur-Sultan"
        session.add(row)
        session.commit()
    assert (API_KEY_CHANGES.count, PROFILE_CHANGES.count) == (keys, profiles)
    with Session(catalogue_engine) as session:
        key = session.exec(select(ApiKey)).first()
        if key is None:
            key = ApiKey(name="x", role="office", prefix="abcdefgh", key_hash="0" * 64)
        key.name = "renamed"
        session.add(key)
        session.commit()
    assert API_KEY_CHANGES.count >= keys + 2  # at the flush and again at the commit
    assert PROFILE_CHANGES.count == profiles


def test_a_key_revoked_by_another_process_stops_working_within_the_ttl(
        client: TestClient, catalogue_engine: Engine, api_keys: dict[str, str]) -> None:
    clock = FakeClock()
    client.app.state.key_cache = TTLCache(ttl_s=KEY_CACHE_TTL_S, max_size=8, changes=API_KEY_CHANGES, clock=clock)
    headers = {API_KEY_HEADER: api_keys["office"]}
    assert client.get("/weights", headers=headers).status_code == 200
    # `partnermatch keys revoke` runs in another process: no ORM event here, only the TTL bounds it
    with catalogue_engine.begin() as connection:
        connection.exec_driver_sql("UPDATE apikey SET revoked = CURRENT_TIMESTAMP WHERE name = 'test office'")
    assert client.get("/weights", headers=headers).status_code == 200  # documented: up to KEY_CACHE_TTL_S
    clock.now += KEY_CACHE_TTL_S
    assert client.get("/weights", headers=headers).status_code == 401


def test_a_profile_published_by_another_process_is_used_within_the_ttl(
        client: TestClient, catalogue_engine: Engine, api_keys: dict[str, str]) -> None:
    officer = TestClient(client.app, headers={API_KEY_HEADER: api_keys["officer"]})
    clock = FakeClock()
    client.app.state.profile_cache = TTLCache(ttl_s=PROFILE_CACHE_TTL_S, max_size=8, changes=PROFILE_CHANGES,
                                              clock=clock)
    v2 = officer.patch("/weights/erasmus-mobility-default", json={"mmr_lambda": 1.0, "comment": "v2"}).json()
    first = officer.post("/suggestions", json=REQUEST).json()["profile_version_id"]  # v1, still published
    assert first != v2["id"]
    # published by hand-written SQL, as another process would: no ORM event here, only the TTL bounds it
    with catalogue_engine.begin() as connection:
        connection.exec_driver_sql("UPDATE weightprofileversion SET published = 0 WHERE id = ?", (first,))
        connection.exec_driver_sql("UPDATE weightprofileversion SET published = 1 WHERE id = ?", (v2["id"],))
    assert officer.post("/suggestions", json=REQUEST).json()["profile_version_id"] == first  # up to the TTL
    clock.now += PROFILE_CACHE_TTL_S
    assert officer.post("/suggestions", json=REQUEST).json()["profile_version_id"] == v2["id"]
    # published by this process: at once
    assert officer.post("/weights/erasmus-mobility-default/rollback", json={"to_version": 1, "comment": "back"}
                        ).status_code == 201
    assert officer.post("/suggestions", json=REQUEST).json()["profile_version_id"] not in {first, v2["id"]}


def test_answers_are_reused_per_matcher_and_never_across_a_rebuild(
        office_client: TestClient, catalogue_engine: Engine) -> None:
    request = {"requester_id": ENU, "programme": "erasmus-mobility", "k": 3}
    first = office_client.post("/suggestions", json=request)
    again = office_client.post("/suggestions", json=request)
    assert first.status_code == 200 and first.content == again.content
    other = office_client.post("/suggestions", json={**request, "exclude": [NU]})
    assert NU not in [s["institution"]["id"] for s in other.json()["data"]]

    with Session(catalogue_engine) as session:
        row = session.get(Institution, ENU)
        assert row is not None
        row.profile_owner = "Hydrology, water resource management and irrigation in Central Asia."
        session.add(row)
        session.commit()
    build_matcher(office_client.app)  # what saving an owner profile through the API does
    rebuilt = office_client.post("/suggestions", json=request)
    assert rebuilt.json()["requester_has_research_evidence"] is True
    assert first.json()["requester_has_research_evidence"] is False
