"""Input that once reached a 500 or cost without bound (issue 13, findings 1-4, 7 and 9), on the mini catalogue
(tests/api/conftest.py): every such request is a small 422 problem document naming the field.

Bodies are sent as JSON text written here, so that they can hold what a careless or hostile client sends and
``json.dumps`` would refuse or change: ``NaN``, ``Infinity``, ``1e999999``, lone surrogates as ``\\ud800``
escapes, control characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session

from api.auth import API_KEY_HEADER, create_api_key
from api.errors import MAX_ECHO_CHARS
from api.main import create_app
from api.middleware import MAX_BODY_BYTES
from api.settings import Settings
from embeddings.st import SentenceTransformerEmbedder
from matcher.types import COMPONENTS, MAX_AREAS, MAX_WEIGHT
from seed_data.reference import load_priority_areas
from seed_data.tables import ApiKeyRole
from tests.api.conftest import KAZNU, NU, UNICAM, fill

PROBLEM_JSON = "application/problem+json"
ZERO_WEIGHTS = dict.fromkeys(COMPONENTS, 0)
SUGGEST = {"requester_id": NU, "programme": "ca-italy", "areas": ["water"]}
FEEDBACK = {"institution_id": UNICAM, "programme": "ca-italy", "profile_version_id": 1, "status": "contacted"}
PROFILE_TEXT = "Water resources, hydrology and irrigation in Central Asian river basins."
PROFILE = "ca-italy-default"  # made at start-up from the shipped default profiles


@pytest.fixture
def clients(app: FastAPI, catalogue_engine: Engine) -> Iterator[dict[str, TestClient]]:
    """A client per role on the started app; a 500 comes back as a response, not as an exception."""
    yield from _clients(app, catalogue_engine)


def _clients(app: FastAPI, engine: Engine) -> Iterator[dict[str, TestClient]]:
    with Session(engine) as session:
        keys = {role.value: create_api_key(session=session, name=f"test {role.value}", role=role)[1]
                for role in ApiKeyRole}
        session.commit()
    with TestClient(app, raise_server_exceptions=False) as started:
        yield {role: TestClient(started.app, headers={API_KEY_HEADER: key}, raise_server_exceptions=False)
               for role, key in keys.items()}


def _send(client: TestClient, method: str, path: str, body: Any) -> Response:
    """``body`` as JSON text (``NaN``/``Infinity`` literals; surrogates and controls as ``\\u`` escapes)."""
    text = body if isinstance(body, str) else json.dumps(body, allow_nan=True)
    return client.request(method, path, content=text.encode("ascii"), headers={"Content-Type": "application/json"})


def _assert_422(response: Response, field: str) -> dict[str, Any]:
    """A 422 problem document (valid UTF-8 JSON) whose errors name ``field`` (a dotted path ending it)."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = json.loads(response.content.decode("utf-8"))
    locations = [".".join(str(part) for part in error["loc"][1:]) for error in problem["errors"]]  # not "body"
    assert any(loc == field or loc.startswith(f"{field}.") for loc in locations), (field, problem)
    assert field.split(".")[-1] in problem["detail"]
    return problem


# --- finding 1: weights that are all zero -----------------------------------------------------------------


def test_weights_that_are_all_zero_are_422s_on_every_route_that_takes_weights(
    clients: dict[str, TestClient],
) -> None:
    office, officer = clients["office"], clients["officer"]
    cases = [
        (office, "POST", "/suggestions", {**SUGGEST, "weights": ZERO_WEIGHTS}, "weights"),
        (officer, "POST", "/weights", {"name": "zero", "programme": "ca-italy", "weights": ZERO_WEIGHTS},
         "weights"),
        (officer, "PATCH", f"/weights/{PROFILE}", {"weights": ZERO_WEIGHTS, "comment": "all off"}, "weights"),
        (office, "POST", "/weights/estimate", {"programme": "ca-italy", "weights": ZERO_WEIGHTS}, "weights"),
        (office, "POST", "/weights/what-if", {"b": {"programme": "ca-italy", "weights": ZERO_WEIGHTS}},
         "b.weights"),
    ]
    for client, method, path, body, field in cases:
        _assert_422(_send(client, method, path, body), field)


def test_an_override_that_zeroes_the_only_weighted_component_is_a_422(clients: dict[str, TestClient]) -> None:
    """Only the profile and the overrides together are all zero: the merged weights are checked."""
    created = _send(clients["officer"], "POST", "/weights",
                    {"name": "thematic-only", "programme": "ca-italy", "weights": {"thematic": 1}})
    assert created.status_code == 201, created.text
    response = _send(clients["office"], "POST", "/suggestions",
                     {**SUGGEST, "profile": "thematic-only", "weights": {"thematic": 0}})
    problem = _assert_422(response, "weights")
    assert "positive" in problem["detail"]


# --- findings 2 and 4: text that is not valid Unicode or holds control characters ---------------------------


def _text_cases(bad: str) -> list[tuple[str, str, str, Any, str]]:
    """(role, method, path, body, field) for every text field that is stored, exported or embedded."""
    return [
        ("office", "POST", "/suggestions", {"text": f"{bad} water basins", "programme": "ca-italy"}, "text"),
        ("office", "POST", "/suggestions", {**SUGGEST, "requester_id": f"pic-{bad}"}, "requester_id"),
        ("office", "POST", "/suggestions", {**SUGGEST, "programme": f"ca-{bad}"}, "programme"),
        ("office", "POST", "/suggestions", {**SUGGEST, "exclude": [f"pic-{bad}"]}, "exclude.0"),
        ("admin", "PUT", f"/institutions/{NU}/profile", {"text": PROFILE_TEXT + bad}, "text"),
        ("office", "POST", "/feedback", {**FEEDBACK, "note": f"met {bad} at the info day"}, "note"),
        ("office", "POST", "/feedback", {**FEEDBACK, "requester_id": f"pic-{bad}"}, "requester_id"),
        ("officer", "POST", "/weights",
         {"name": "bad-text", "programme": "ca-italy", "weights": {"thematic": 1}, "comment": bad}, "comment"),
        ("officer", "PATCH", f"/weights/{PROFILE}", {"weights": {"thematic": 0.9}, "comment": bad}, "comment"),
        ("officer", "POST", f"/weights/{PROFILE}/rollback", {"to_version": 1, "comment": bad}, "comment"),
        ("office", "POST", "/shortlists/export", {"items": [{"institution_id": NU, "note": bad}]}, "items.0.note"),
        ("office", "POST", "/shortlists/export", {"items": [{"institution_id": f"pic-{bad}"}]},
         "items.0.institution_id"),
        ("office", "POST", "/shortlists/export", {"requester_id": KAZNU, "programme": bad, "items": [
            {"institution_id": NU}]}, "programme"),
    ]


@pytest.mark.parametrize("bad", ["\ud800", "\udfff", "\x00", "\x01", "\x1b", "\ufffe"])
def test_invalid_unicode_and_control_characters_are_422s_naming_the_field(
    clients: dict[str, TestClient], bad: str
) -> None:
    for role, method, path, body, field in _text_cases(bad):
        _assert_422(_send(clients[role], method, path, body), field)


def test_free_text_keeps_tabs_and_line_breaks(clients: dict[str, TestClient]) -> None:
    text = "Water resources:\n\thydrology;\r\n\tirrigation in Central Asian river basins."
    response = _send(clients["admin"], "PUT", f"/institutions/{NU}/profile", {"text": text})
    assert response.status_code == 200, response.text
    response = _send(clients["office"], "POST", "/feedback", {**FEEDBACK, "note": "line one\nline two"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("path", [
    "/institutions/%00", "/institutions/pic-%01", "/institutions?q=%00", "/institutions?q=Kaz%1bNU",
    "/areas/%00", "/programmes/%00", "/weights/%00", "/feedback/summary?name=%00",
    "/weights/compare?a=%00&b=x", "/weights/what-if?a=x&b=y&areas=%00",
])
def test_control_characters_in_paths_and_queries_are_404s_or_422s(
    clients: dict[str, TestClient], path: str
) -> None:
    response = clients["office"].get(path)
    assert response.status_code in (404, 422), response.text
    assert response.headers["content-type"] == PROBLEM_JSON


def test_a_nul_in_an_owner_profile_path_is_a_422(clients: dict[str, TestClient]) -> None:
    response = _send(clients["admin"], "PUT", "/institutions/pic-%00/profile", {"text": PROFILE_TEXT})
    _assert_422(response, "institution_id")


@pytest.mark.postgres
def test_nul_characters_never_reach_postgresql(pg_engine: Engine, app_on_postgresql: FastAPI) -> None:
    """PostgreSQL text cannot hold NUL: the request is a 422 before any query, not a 500."""
    for clients in _clients(app_on_postgresql, pg_engine):
        answers = [(path, field, _send(clients[role], method, path, body))
                   for role, method, path, body, field in _text_cases("\x00")]
        answers += [(path, "", clients["office"].get(path))
                    for path in ("/institutions/%00", "/areas/%00", "/programmes/%00", "/institutions?q=%00")]
        assert [(path, field) for path, field, response in answers if response.status_code == 500] == []
        for path, field, response in answers:
            if field:
                _assert_422(response, field)
            else:
                assert response.status_code in (404, 422), (path, response.text)


@pytest.fixture
def app_on_postgresql(pg_engine: Engine, embedder: SentenceTransformerEmbedder) -> FastAPI:
    """The app over the mini catalogue in PostgreSQL."""
    return create_app(Settings(database_url="sqlite://"), engine=fill(pg_engine), embedder=embedder)


# --- finding 3: numbers JSON cannot hold --------------------------------------------------------------------


def _number_cases(value: str) -> list[tuple[str, str, str, str, str]]:
    """(role, method, path, JSON text, field) with ``value`` where a number goes."""
    suggest = json.dumps(SUGGEST)[:-1]
    return [
        ("office", "POST", "/suggestions", f'{suggest}, "mmr_lambda": {value}}}', "mmr_lambda"),
        ("office", "POST", "/suggestions", f'{suggest}, "weights": {{"thematic": {value}}}}}', "weights.thematic"),
        ("officer", "POST", "/weights", f'{{"name": "nan", "programme": "ca-italy", "weights": {{"thematic": 1, '
                                         f'"network": {value}}}}}', "weights.network"),
        ("officer", "POST", "/weights", f'{{"name": "nan", "programme": "ca-italy", "weights": {{"thematic": 1}}, '
                                         f'"mmr_lambda": {value}}}', "mmr_lambda"),
        ("officer", "PATCH", f"/weights/{PROFILE}", f'{{"mmr_lambda": {value}, "comment": "x"}}', "mmr_lambda"),
        ("officer", "PATCH", f"/weights/{PROFILE}", f'{{"weights": {{"thematic": {value}}}, "comment": "x"}}',
         "weights.thematic"),
        ("office", "POST", "/weights/estimate", f'{{"programme": "ca-italy", "weights": {{"thematic": {value}}}}}',
         "weights.thematic"),
        ("office", "POST", "/weights/what-if", f'{{"b": {{"programme": "ca-italy", "weights": {{"thematic": 1}}, '
                                               f'"mmr_lambda": {value}}}}}', "b.mmr_lambda"),
        ("office", "POST", "/weights/what-if", f'{{"b": {{"programme": "ca-italy", "weights": {{"thematic": '
                                               f'{value}}}}}}}', "b.weights.thematic"),
        ("office", "POST", "/shortlists/export", f'{{"items": [{{"institution_id": "{NU}", "score": {value}}}]}}',
         "items.0.score"),
    ]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999999"])
def test_numbers_that_are_not_finite_are_422s_naming_the_field(clients: dict[str, TestClient], value: str) -> None:
    for role, method, path, text, field in _number_cases(value):
        problem = _assert_422(_send(clients[role], method, path, text), field)
        assert "finite" in problem["detail"] or "less than" in problem["detail"], problem


def test_numbers_and_flags_in_bodies_are_strict(clients: dict[str, TestClient]) -> None:
    """JSON ``true`` is no number and ``"5"`` or ``5.0`` no count: 422s, not silent conversions."""
    office, officer = clients["office"], clients["officer"]
    cases = [
        (office, "POST", "/suggestions", {**SUGGEST, "mmr_lambda": False}, "mmr_lambda"),
        (office, "POST", "/suggestions", {**SUGGEST, "k": "5"}, "k"),
        (office, "POST", "/suggestions", {**SUGGEST, "k": 5.0}, "k"),
        (office, "POST", "/suggestions", {**SUGGEST, "new_partners_only": 1}, "new_partners_only"),
        (office, "POST", "/suggestions", {**SUGGEST, "weights": {"thematic": True}}, "weights.thematic"),
        (officer, "PATCH", f"/weights/{PROFILE}", {"mmr_lambda": False, "comment": "x"}, "mmr_lambda"),
        (officer, "PATCH", f"/weights/{PROFILE}", {"max_per_country": True, "comment": "x"}, "max_per_country"),
        (officer, "POST", "/weights", {"name": "strict", "programme": "ca-italy", "weights": {"thematic": "1"}},
         "weights.thematic"),
        (officer, "POST", f"/weights/{PROFILE}/rollback", {"to_version": "1", "comment": "x"}, "to_version"),
        (office, "POST", "/feedback", {**FEEDBACK, "profile_version_id": True}, "profile_version_id"),
        (office, "POST", "/shortlists/export", {"items": [{"institution_id": NU, "score": True}]}, "items.0.score"),
        (office, "POST", "/weights/what-if", {"b": {"programme": "ca-italy", "weights": {"thematic": 1}}, "k": "3"},
         "k"),
    ]
    for client, method, path, body, field in cases:
        _assert_422(_send(client, method, path, body), field)


def test_scores_are_numbers_at_the_largest_weights(clients: dict[str, TestClient]) -> None:
    weights = {**dict.fromkeys(COMPONENTS, MAX_WEIGHT), "network": 1e-300}
    response = _send(clients["office"], "POST", "/suggestions", {**SUGGEST, "weights": weights})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data
    for suggestion in data:
        assert isinstance(suggestion["score"], float)
        assert all(isinstance(c[key], float) for c in suggestion["components"]
                   for key in ("value", "weight", "contribution"))
    too_big = _send(clients["office"], "POST", "/suggestions", {**SUGGEST, "weights": {"thematic": MAX_WEIGHT * 10}})
    _assert_422(too_big, "weights.thematic")


# --- finding 7: bounded lists and strings -------------------------------------------------------------------


def test_max_areas_is_the_number_of_priority_areas() -> None:
    assert MAX_AREAS == len(load_priority_areas())


def test_lists_and_strings_in_request_bodies_are_bounded(clients: dict[str, TestClient]) -> None:
    office, officer = clients["office"], clients["officer"]
    ten_areas = [area.key for area in load_priority_areas()]
    cases = [
        (office, "/suggestions", {**SUGGEST, "areas": ["water"] * 10_000}, "areas"),
        (office, "/suggestions", {**SUGGEST, "areas": ["water", "ai", "water"]}, "areas"),
        (office, "/suggestions", {**SUGGEST, "areas": [*ten_areas, "one-more"]}, "areas"),
        (office, "/suggestions", {**SUGGEST, "countries": ["IT", "DE", "IT"]}, "countries"),
        (office, "/suggestions", {**SUGGEST, "countries": [f"{n:03}" for n in range(250)]}, "countries"),
        (office, "/suggestions", {**SUGGEST, "kinds": ["university", "university"]}, "kinds"),
        (office, "/suggestions", {**SUGGEST, "exclude": [f"pic-{n:09}" for n in range(1001)]}, "exclude"),
        (office, "/suggestions", {"text": "w" * 20_001, "programme": "ca-italy"}, "text"),
        (office, "/suggestions", {**SUGGEST, "requester_id": "p" * 81}, "requester_id"),
        (office, "/suggestions", {**SUGGEST, "programme": "p" * 41}, "programme"),
        (office, "/suggestions", {**SUGGEST, "areas": ["a" * 41]}, "areas.0"),
        (office, "/suggestions", {**SUGGEST, "k": 101}, "k"),
        (office, "/suggestions", {**SUGGEST, "offset": 1001}, "offset"),
        (office, "/suggestions", {**SUGGEST, "max_per_country": 2**31}, "max_per_country"),
        (officer, "/weights", {"name": "long-keys", "programme": "ca-italy", "weights": {"t" * 41: 1}}, "weights"),
        (officer, "/weights", {"name": "many-keys", "programme": "ca-italy",
                               "weights": {**dict.fromkeys(COMPONENTS, 1), "sixth": 1}}, "weights"),
        (office, "/weights/what-if", {"b": {"programme": "ca-italy", "weights": {"thematic": 1}},
                                      "areas": ["water", "water"]}, "areas"),
        (office, "/shortlists/export", {"areas": ["water", "water"], "items": [{"institution_id": NU}]}, "areas"),
        (office, "/shortlists/export", {"items": [{"institution_id": NU, "note": "n" * 2001}]}, "items.0.note"),
    ]
    for client, path, body, field in cases:
        _assert_422(_send(client, "POST", path, body), field)


def test_distinct_items_are_accepted_in_their_order(clients: dict[str, TestClient]) -> None:
    body = {**SUGGEST, "areas": ["water", "ai"], "kinds": ["research", "university"], "countries": ["IT"], "k": 3}
    response = _send(clients["office"], "POST", "/suggestions", body)
    assert response.status_code == 200, response.text
    assert response.json()["areas"] == ["water", "ai"]
    assert {s["institution"]["kind"] for s in response.json()["data"]} == {"research", "university"}
    response = _send(clients["office"], "POST", "/suggestions", {**body, "kinds": ["research"]})
    assert {s["institution"]["kind"] for s in response.json()["data"]} == {"research"}


# --- finding 9: a 422 does not echo its input ---------------------------------------------------------------


def test_a_422_does_not_echo_a_large_input(clients: dict[str, TestClient]) -> None:
    huge = "w" * 1_000_000
    for body, field in [({"text": huge, "programme": "ca-italy"}, "text"),
                        ({**SUGGEST, "areas": ["water"] * 100_000}, "areas"),
                        ({**SUGGEST, "weights": {huge: 1}}, "weights"),
                        ({"text": "water", "programme": "ca-italy", "k": huge}, "k")]:
        response = _send(clients["office"], "POST", "/suggestions", body)
        problem = _assert_422(response, field)
        assert len(response.content) < 3 * MAX_ECHO_CHARS + 1000, len(response.content)
        for error in problem["errors"]:
            shown = error.get("input")
            assert len(shown if isinstance(shown, str) else json.dumps(shown)) <= MAX_ECHO_CHARS + 1, shown


def test_a_body_over_the_limit_is_a_413_problem(clients: dict[str, TestClient]) -> None:
    body = json.dumps({"text": "w" * MAX_BODY_BYTES, "programme": "ca-italy"}).encode()
    for content in (body, iter([body[i:i + 2**20] for i in range(0, len(body), 2**20)])):  # sized, then chunked
        response = clients["office"].post("/suggestions", content=content,
                                          headers={"Content-Type": "application/json"})
        assert response.status_code == 413, response.text[:500]
        assert response.headers["content-type"] == PROBLEM_JSON
        assert str(MAX_BODY_BYTES) in response.json()["detail"]
