"""GET /calls, GET /calls/{topic_id}, ``partnermatch calls``, and suggestions for a call (POST /suggestions with
``call``, ``partnermatch suggest --call``), over the mini catalogue plus the real call topics of the raw-source
fixture (tests/fixtures/raw/cordis_calls_open) and the shipped Horizon Europe programme row."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

import api
from api.auth import API_KEY_HEADER, create_api_key
from api.calls import get_today
from api.cli import app as cli_app
from api.main import create_app
from api.settings import Settings
from embeddings.st import SentenceTransformerEmbedder
from seed_data.calls import call_idea
from seed_data.tables import ACTION_TYPES, ApiKeyRole, Call

from .conftest import NU, add_calls, fill, runner

TODAY = dt.date(2026, 10, 1)
FARM = "HORIZON-CL6-2027-02-FARM2FORK-01"


@pytest.fixture
def calls_app(empty_engine: Engine, embedder: SentenceTransformerEmbedder) -> FastAPI:
    app = create_app(Settings(database_url="sqlite://"), engine=add_calls(fill(empty_engine)), embedder=embedder)

    async def fixed_today() -> dt.date:
        return TODAY

    app.dependency_overrides[get_today] = fixed_today
    return app


@pytest.fixture
def client(calls_app: FastAPI, empty_engine: Engine) -> Iterator[TestClient]:
    with TestClient(calls_app) as test_client:
        with Session(empty_engine) as session:
            key = create_api_key(session=session, name="test office", role=ApiKeyRole.office)[1]
            session.commit()
        test_client.headers[API_KEY_HEADER] = key
        yield test_client


def _ids(client: TestClient, **params: object) -> list[str]:
    answer = client.get("/calls", params={"limit": 100, **params})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["count"] == len(body["data"])
    return [c["topic_id"] for c in body["data"]]


def test_list_filters_and_status(client: TestClient) -> None:
    page = client.get("/calls", params={"limit": 2}).json()
    assert page["count"] == 15 and len(page["data"]) == 2
    assert page["data"][0]["topic_id"] == "ERC-2026-POC" and page["data"][0]["status"] == "closed"
    assert len(_ids(client, programme="horizon-europe")) == 9
    assert _ids(client, programme="LIFE") == ["LIFE-2026-SAP-ENV-ENVIRONMENT"]
    assert "HORIZON-MSCA-2026-DN-01-01" in _ids(client, action_type="MSCA")
    assert FARM in _ids(client, q="water nutrient", cluster="CL6", open_only=True)
    window = _ids(client, deadline_from="2027-01-01", deadline_to="2027-12-31")
    assert FARM in window and "ERC-2026-POC" not in window
    open_now = client.get("/calls", params={"open_only": True, "limit": 100}).json()["data"]
    assert open_now and {c["status"] for c in open_now} <= {"open", "forthcoming"}
    assert "PERI-2026-ANTI-COUNTERFEIT" not in {c["topic_id"] for c in open_now}  # deadline passed


def test_one_call_in_full_and_ids_with_slashes(client: TestClient) -> None:
    farm = client.get(f"/calls/{FARM}")
    assert farm.status_code == 200, farm.text
    body = farm.json()
    assert (body["programme_key"], body["action_type"], body["deadline"], body["status"]) == (
        "horizon-europe", "RIA", "2027-09-23", "forthcoming")
    assert len(body["text"]) > 1000 and "â€" not in body["text"] and body["conditions"]
    external = client.get("/calls/EuropeAid/186246/DD/ACT/NG")
    assert external.status_code == 200 and external.json()["status"] == "closed"


def test_an_unknown_call_is_a_404_problem(client: TestClient) -> None:
    answer = client.get("/calls/HORIZON-NO-SUCH-TOPIC")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "HORIZON-NO-SUCH-TOPIC" in answer.json()["detail"]


def test_bad_filters_are_422(client: TestClient) -> None:
    for params in ({"action_type": "GRANT"}, {"deadline_from": "soon"}, {"limit": 0}):
        answer = client.get("/calls", params=params)
        assert answer.status_code == 422, params
        assert answer.headers["content-type"] == "application/problem+json"


def test_the_console_offers_the_api_action_types() -> None:
    # ui.js lists them with labels by hand: a type added to seed_data.tables.ActionType must be added there too
    ui = (Path(api.__file__).parent / "console" / "static" / "ui.js").read_text(encoding="utf-8")
    listed = re.search(r"export const ACTION_TYPES = \[(.*?)\];", ui, re.DOTALL)
    assert listed is not None
    assert tuple(re.findall(r'\["([^"]+)", "', listed.group(1))) == ACTION_TYPES


def test_suggestions_for_a_call_use_its_text_and_programme(client: TestClient) -> None:
    answer = client.post("/suggestions", json={"call": FARM, "k": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["programme"] == "horizon-europe"
    assert body["call"] == {"topic_id": FARM, "title": body["call"]["title"], "programme": "Horizon Europe",
                            "action_type": "RIA", "deadline": "2027-09-23", "status": "forthcoming",
                            "url": body["call"]["url"]}
    assert body["data"]
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        idea = call_idea(session.get_one(Call, FARM))
    same = client.post("/suggestions", json={"text": idea, "programme": "horizon-europe", "k": 5}).json()
    assert [(s["institution"]["id"], s["score"]) for s in same["data"]] == [
        (s["institution"]["id"], s["score"]) for s in body["data"]]
    assert same["call"] is None
    # a requester with the call: the call's text is the idea, the requester's own ties count
    with_requester = client.post("/suggestions", json={"call": FARM, "requester_id": NU, "programme": "horizon-europe"})
    assert with_requester.status_code == 200 and with_requester.json()["requester"]["id"] == NU


def test_a_closed_call_is_noted_and_the_cache_keeps_calls_apart(client: TestClient) -> None:
    closed = client.post("/suggestions", json={"call": "ERC-2026-POC", "k": 3}).json()
    assert closed["call"]["status"] == "closed"
    assert any("closed on 2026-03-17" in note for note in closed["notes"])
    other = client.post("/suggestions", json={"call": "HORIZON-CL6-2026-01-BIODIV-02", "k": 3}).json()
    assert other["call"]["topic_id"] == "HORIZON-CL6-2026-01-BIODIV-02"


@pytest.mark.parametrize(("body", "field"), [
    ({"call": "LIFE-2026-SAP-ENV-ENVIRONMENT"}, "call"),  # a programme we have no rules for
    ({"call": "NO-SUCH-TOPIC"}, "call"),
    ({"call": FARM, "programme": "ca-italy"}, "programme"),  # disagrees with the call's
])
def test_calls_that_cannot_be_ranked_are_422_naming_the_field(client: TestClient, body: dict[str, object],
                                                              field: str) -> None:
    answer = client.post("/suggestions", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"] == ["body", field]


def test_neither_programme_nor_call_is_422(client: TestClient) -> None:
    answer = client.post("/suggestions", json={"text": "water"})
    assert answer.status_code == 422 and "programme" in answer.json()["detail"]


def test_cli_calls_search_show_and_suggest(cli_engine: Engine) -> None:
    SQLModel.metadata.create_all(cli_engine)
    add_calls(fill(cli_engine))
    found = runner.invoke(cli_app, ["calls", "search", "water", "--programme", "horizon-europe", "--json"])
    assert found.exit_code == 0, found.output
    assert FARM in {c["topic_id"] for c in json.loads(found.stdout)["data"]}
    table = runner.invoke(cli_app, ["calls", "search", "--action-type", "MSCA"])
    assert table.exit_code == 0 and "HORIZON-MSCA-2026-DN-01-01" in table.output
    unknown_type = runner.invoke(cli_app, ["calls", "search", "--action-type", "GRANT"])
    assert unknown_type.exit_code == 2 and "GRANT" in unknown_type.output  # a usage error naming the value
    window = runner.invoke(cli_app, ["calls", "search", "--deadline-from", "2027-01-01", "--deadline-to",
                                     "2027-12-31", "--limit", "100", "--json"])
    assert window.exit_code == 0, window.output
    in_window = {c["topic_id"] for c in json.loads(window.stdout)["data"]}
    assert FARM in in_window and "ERC-2026-POC" not in in_window
    bad_date = runner.invoke(cli_app, ["calls", "search", "--deadline-from", "soon"])
    assert bad_date.exit_code == 2 and "--deadline-from" in bad_date.output and "'soon'" in bad_date.output
    shown = runner.invoke(cli_app, ["calls", "show", FARM])
    assert shown.exit_code == 0 and "RIA" in shown.output and "2027-09-23" in shown.output
    missing = runner.invoke(cli_app, ["calls", "show", "NO-SUCH-TOPIC"])
    assert missing.exit_code == 1 and "NO-SUCH-TOPIC" in missing.output
    suggested = runner.invoke(cli_app, ["suggest", "--call", FARM, "--k", "3", "--json"])
    assert suggested.exit_code == 0, suggested.output
    answer = json.loads(suggested.stdout)
    assert answer["call"]["topic_id"] == FARM and answer["programme"] == "horizon-europe"
    refused = runner.invoke(cli_app, ["suggest", "--call", "LIFE-2026-SAP-ENV-ENVIRONMENT"])
    assert refused.exit_code == 1 and "--call" in refused.output
