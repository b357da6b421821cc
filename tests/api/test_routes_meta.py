"""``/areas``, ``/programmes``, ``/health``, the problem documents for every kind of error, and the OpenAPI
document, on the mini catalogue (tests/api/conftest.py)."""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

from api.main import create_app
from api.settings import Settings

PROBLEM_JSON = "application/problem+json"


def _assert_problem(response: Response, status: int, path: str) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert (body["type"], body["title"], body["status"], body["instance"]) == (
        "about:blank",
        HTTPStatus(status).phrase,
        status,
        path,
    )
    assert "Traceback" not in body["detail"]
    return body


# --- areas and programmes ---------------------------------------------------------------------------------


def test_areas_are_listed_by_key(client: TestClient) -> None:
    response = client.get("/areas")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [area["key"] for area in body["data"]] == ["ai", "water"]


def test_area_detail(client: TestClient) -> None:
    body = client.get("/areas/water").json()
    assert body["name"] == "Water resource management"
    assert body["openalex_subfields"] == [{"id": 2312, "name": "Water Science and Technology"}]
    assert body["openalex_topics"] == [
        {"id": 10330, "name": "Hydrological Modeling and Water Resource Management", "subfield_id": 2312}
    ]
    assert body["euroscivoc_paths"] == [
        "/natural sciences/earth and related environmental sciences/hydrology"
    ]
    assert body["sources"] == ["000_8d7216b4d8c792c0.txt", "004_fbdb0aefea6c4ad8.txt"]


def test_unknown_area_is_a_404_problem(client: TestClient) -> None:
    body = _assert_problem(client.get("/areas/astronomy"), 404, "/areas/astronomy")
    assert body["detail"] == "No priority area with key 'astronomy'."


def test_programmes_are_listed_by_key(client: TestClient) -> None:
    body = client.get("/programmes").json()
    assert body["count"] == 2
    assert [p["key"] for p in body["data"]] == ["ca-italy", "erasmus-mobility"]


def test_programme_detail(client: TestClient) -> None:
    body = client.get("/programmes/ca-italy").json()
    assert body["name"] == "Central Asia + Italy"
    assert body["family"] == "bilateral"
    assert body["requester_countries"] == ["KG", "KZ", "TJ", "TM", "UZ"]
    assert body["partner_countries"] == {"coordinator": ["IT"], "participant": ["IT"]}
    assert body["default_partner_kinds"] == ["university", "research"]


def test_unknown_programme_is_a_404_problem(client: TestClient) -> None:
    body = _assert_problem(client.get("/programmes/horizon-2020"), 404, "/programmes/horizon-2020")
    assert "horizon-2020" in body["detail"]


# --- health -----------------------------------------------------------------------------------------------


def test_health_reports_the_loaded_index(client: TestClient, app: FastAPI) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["institutions"] == 7
    assert body["database"] == "sqlite"
    assert body["version"] == app.version
    assert body["index_built_at"].endswith("Z")


def test_everything_is_503_before_the_app_has_started() -> None:
    """Without ``with``, TestClient does not run the lifespan: no engine, no index."""
    client = TestClient(create_app(Settings(database_url="sqlite://")))
    body = _assert_problem(client.get("/health"), 503, "/health")
    assert "not loaded" in body["detail"]
    for path in ("/institutions", "/institutions/pic-953676162", "/areas", "/programmes/ca-italy"):
        _assert_problem(client.get(path), 503, path)


def test_health_is_503_on_an_empty_catalogue(empty_engine: Engine) -> None:
    app = create_app(Settings(database_url="sqlite://"), engine=empty_engine)
    with TestClient(app) as client:
        body = _assert_problem(client.get("/health"), 503, "/health")
        assert "empty" in body["detail"]
        assert client.get("/institutions").json() == {"data": [], "count": 0}


def test_health_is_503_on_a_database_without_tables(caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    app = create_app(Settings(database_url="sqlite://"), engine=engine)
    with caplog.at_level(logging.ERROR, logger="api.main"), TestClient(app) as client:
        body = _assert_problem(client.get("/health"), 503, "/health")
        assert "partnermatch db init" in body["detail"]
        _assert_problem(client.get("/institutions", params={"q": "KazNU"}), 503, "/institutions")
    assert "could not build the institution index" in caplog.text
    engine.dispose()


def test_lifespan_opens_and_disposes_its_own_engine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Without an injected engine the app connects to ``settings.database_url`` and lets go at shutdown."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}"))
    with TestClient(app) as client:
        assert app.state.engine is not None
        assert client.get("/health").status_code == 503  # a new file: no tables yet
    assert app.state.engine is None


# --- error documents --------------------------------------------------------------------------------------


def test_unknown_path_is_a_404_problem(client: TestClient) -> None:
    _assert_problem(client.get("/no-such-resource"), 404, "/no-such-resource")


def test_wrong_method_is_a_405_problem_with_allow(client: TestClient) -> None:
    response = client.delete("/institutions/pic-953676162")
    _assert_problem(response, 405, "/institutions/pic-953676162")
    assert response.headers["allow"] == "GET"


def test_unexpected_error_is_logged_and_a_500_problem_without_internals(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("secret internal state")

    app.add_api_route("/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/explode")
    body = _assert_problem(response, 500, "/explode")
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert body["detail"] == "The server failed to answer this request; the error has been logged."
    assert "unhandled error answering GET /explode" in caplog.text
    assert "secret internal state" in caplog.text  # the traceback goes to the log


# --- OpenAPI ----------------------------------------------------------------------------------------------


def test_openapi_describes_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "partnermatch"
    assert schema["info"]["version"]
    assert "Kazakh" in schema["info"]["description"]
    assert set(schema["paths"]) == {
        "/calls",
        "/calls/{topic_id}",
        "/consortia",
        "/consortia/check",
        "/consortia/export",
        "/portfolios",
        "/institutions",
        "/institutions/{institution_id}",
        "/institutions/{institution_id}/publications",
        "/institutions/{institution_id}/projects",
        "/institutions/{institution_id}/partnerships",
        "/institutions/{institution_id}/evidence/{item_id}",
        "/institutions/{institution_id}/partnerships/{partnership_id}",
        "/areas",
        "/areas/{key}",
        "/programmes",
        "/programmes/{key}",
        "/health",
        "/suggestions",
        "/weights",
        "/weights/compare",
        "/weights/what-if",
        "/weights/{name}/versions/{version}/evaluate",
        "/weights/{name}",
        "/weights/{name}/versions",
        "/weights/{name}/versions/{version}",
        "/weights/{name}/versions/{version}/publish",
        "/weights/{name}/rollback",
        "/feedback",
        "/feedback/summary",
        "/weights/estimate",
        "/shortlists/export",
        "/institutions/{institution_id}/profile",
        "/keys/me",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["description"], (method, path)  # the route's docstring
            assert "503" in operation["responses"], (method, path)
    detail = schema["paths"]["/institutions/{institution_id}"]["get"]["responses"]
    assert set(detail["404"]["content"]) == {PROBLEM_JSON}
    assert set(detail["422"]["content"]) == {PROBLEM_JSON}


def test_openapi_examples_are_real_catalogue_values(client: TestClient) -> None:
    components = client.get("/openapi.json").json()["components"]["schemas"]
    example = components["InstitutionDetail"]["examples"][0]
    assert (example["id"], example["pic"], example["ror_id"], example["city"], example["country"]) == (
        "pic-953676162",
        "953676162",
        "052bx8q98",
        "Astana",
        "KZ",
    )
    assert example["ror_url"] == "https://ror.org/052bx8q98"
    for name in (
        "InstitutionsPublic",
        "PriorityAreaPublic",
        "ProgrammePublic",
        "HealthPublic",
        "PartnerSummary",
    ):
        assert components[name]["examples"], name


def test_suggestions_rank_and_explain(office_client: TestClient) -> None:
    body = {"requester_id": "pic-953676162", "programme": "erasmus-mobility", "areas": ["ai"], "k": 3}
    response = office_client.post("/suggestions", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["requester"]["id"] == "pic-953676162"
    assert payload["data"], "the Italian institutions of the mini catalogue are eligible"
    for suggestion in payload["data"]:
        total = sum(c["contribution"] for c in suggestion["components"])
        assert abs(total - suggestion["score"]) < 1e-3
        assert suggestion["institution"]["id"] != "pic-953676162"


def test_suggestions_reject_unknown_names_with_422_naming_the_field(office_client: TestClient) -> None:
    for body, field in [
        ({"requester_id": "pic-0", "programme": "erasmus-mobility"}, "requester_id"),
        ({"text": "water", "programme": "moon-programme"}, "programme"),
        ({"text": "water", "programme": "ca-italy", "areas": ["astrology"]}, "areas"),
    ]:
        problem = _assert_problem(office_client.post("/suggestions", json=body), 422, "/suggestions")
        assert field in problem["detail"]
    problem = _assert_problem(office_client.post("/suggestions", json={"programme": "bri", "k": 0}), 422,
                              "/suggestions")
    assert "errors" in problem
