"""A matcher rebuild (an owner profile saved or removed) frees the matcher and index it replaces.

Before, a module-level ``lru_cache`` keyed by the index kept every index the service had built, and the
indexes were frozen out of the cyclic garbage collector without collecting old generations first, so
garbage in reference cycles was frozen for good (issue 13, finding 10: RSS 1.2 GB -> 5.4 GB after 18
rebuilds). ``bench/rebuild_memory.py`` measures the memory; these tests check reachability.
"""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from api.auth import API_KEY_HEADER

from .conftest import ENU, NU

PROFILE = "Hydrology, water resource management and irrigation planning in Central Asia."
# filters and areas, so that every per-matcher cache (answers, filter masks) holds something
REQUESTS = [
    {"requester_id": NU, "programme": "erasmus-mobility", "areas": ["ai"], "k": 3},
    {"requester_id": NU, "programme": "erasmus-mobility", "areas": ["water"], "countries": ["IT"], "k": 2},
    {"text": "irrigation and water policy", "programme": "erasmus-mobility", "kinds": ["university"], "k": 2},
]


class Cycle:
    """An object in a reference cycle: only the cyclic garbage collector can free it."""

    def __init__(self) -> None:
        self.me = self


def test_a_rebuild_frees_the_matcher_and_index_it_replaces(client: TestClient, api_keys: dict[str, str]) -> None:
    admin = {API_KEY_HEADER: api_keys["admin"]}
    for body in REQUESTS:
        assert client.post("/suggestions", headers=admin, json=body).status_code == 200
    old_matcher = weakref.ref(client.app.state.matcher)  # type: ignore[attr-defined]
    old_index = weakref.ref(client.app.state.matcher.index)  # type: ignore[attr-defined]

    # saved, then removed: two rebuilds (background tasks: done when the test client has the response)
    saved = client.put(f"/institutions/{ENU}/profile", headers=admin, json={"text": PROFILE})
    removed = client.delete(f"/institutions/{ENU}/profile", headers=admin)
    assert saved.json()["matcher"] == removed.json()["matcher"] == "rebuilding"
    gc.collect()  # what cycles there are go here; anything still alive is referenced from somewhere
    assert old_index() is None and old_matcher() is None
    assert client.post("/suggestions", headers=admin, json=REQUESTS[1]).status_code == 200


def test_garbage_in_a_cycle_is_not_kept_by_the_freeze_of_a_rebuild(client: TestClient,
                                                                   api_keys: dict[str, str]) -> None:
    """Something alive during one freeze (a request in flight while a rebuild ends) and garbage after it."""
    cycle = Cycle()
    gc.freeze()  # as a rebuild or the model load does while ``cycle`` is still in use
    gone = weakref.ref(cycle)
    del cycle
    admin = {API_KEY_HEADER: api_keys["admin"]}
    assert client.put(f"/institutions/{ENU}/profile", headers=admin, json={"text": PROFILE}).status_code == 200
    gc.collect()
    assert gone() is None
