"""POST /consortia, /consortia/check and /consortia/export end to end on the mini catalogue (tests/api/conftest.py):
Nazarbayev University (KZ) asks; Camerino (IT, university), CNR (IT, research), an Istanbul association (TR),
Tsukuba (JP) and two more Kazakh universities are the catalogue. Its programmes are Erasmus+ mobility and
Central Asia + Italy (the builder ranks through them); the checker reads rules only, so it checks Horizon
Europe consortia too."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session

from api.consortia import for_call, spec_for
from api.errors import InvalidRequest
from api.schemas_consortia import ConsortiumRequest
from seed_data.calls import call_idea
from seed_data.tables import Call
from tests.api.conftest import CNR, KAZNU, NU, TSUKUBA, UNICAM, UZBEK_WOMEN, add_calls

IDEA = ("Staff exchanges on sustainable research management. Training researchers in open science and "
        "data stewardship across Europe and Central Asia.")
PROBLEM = "application/problem+json"
FARM = "HORIZON-CL6-2027-02-FARM2FORK-01"  # a Horizon Europe RIA topic of the fixture
TODAY = dt.date(2026, 10, 1)


def build(client: TestClient, **extra: object) -> dict:  # type: ignore[type-arg]
    body = {"requester_id": NU, "programme": "erasmus-mobility", "text": IDEA, "size_min": 3, "size_max": 4,
            "alternatives": 2, **extra}
    response = client.post("/consortia", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_builds_valid_alternatives_with_roles_rules_and_breakdown(office_client: TestClient) -> None:
    answer = build(office_client)
    assert answer["proposals"]
    for proposal in answer["proposals"]:
        assert proposal["valid"] and all(r["satisfied"] for r in proposal["rules"])
        assert 3 <= proposal["size"] <= 4
        roles = {m["institution"]["id"]: m["role"] for m in proposal["members"]}
        assert roles[NU] == "associated_partner"  # the applicant is a programme-country university
        coordinators = [i for i, r in roles.items() if r == "coordinator_candidate"]
        assert coordinators == [UNICAM]  # the only university of an Erasmus+ programme country
        assert sum(proposal["breakdown"].values()) == pytest.approx(proposal["objective"], abs=1e-5)
    assert answer["aspects"], "the idea is split into aspects"
    assert any("associated partner" in note for note in answer["notes"])


def test_a_profile_made_for_another_programme_is_named_and_noted(office_client: TestClient) -> None:
    # one rule for suggestions, portfolios and consortia (api/profiles.py)
    answer = build(office_client, profile="bri-default:1")
    assert answer["profile_ref"] == "bri-default:1"
    assert "Scored with bri-default:1, a profile made for bri." in answer["notes"]
    assert not any("made for" in note for note in build(office_client)["notes"])
    response = office_client.post("/consortia", json={"requester_id": NU, "programme": "erasmus-mobility",
                                                      "text": IDEA, "profile": "no-such-profile"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "profile"]


def test_lock_and_exclude(office_client: TestClient) -> None:
    answer = build(office_client, lock=[TSUKUBA], exclude=[CNR])
    for proposal in answer["proposals"]:
        ids = {m["institution"]["id"] for m in proposal["members"]}
        assert TSUKUBA in ids and CNR not in ids
        assert next(m for m in proposal["members"] if m["institution"]["id"] == TSUKUBA)["locked"]


def test_infeasible_rules_are_a_422_naming_the_rule(office_client: TestClient) -> None:
    # without Camerino no university of an Erasmus+ programme country is left to apply
    response = office_client.post("/consortia", json={"requester_id": NU, "programme": "erasmus-mobility",
                                                      "text": IDEA, "exclude": [UNICAM]})
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
    assert "ka171-programme-hei" in response.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"programme": "no-such", "action_type": "RIA", "text": IDEA}, "programme"),
    ({"requester_id": "pic-000000000", "programme": "erasmus-mobility", "text": IDEA}, "requester_id"),
    ({"requester_id": NU, "programme": "erasmus-mobility", "lock": [CNR], "exclude": [CNR]}, "exclude"),
    ({"requester_id": NU, "call": "NO-SUCH-TOPIC"}, "call"),
])
def test_bad_input_is_a_422_naming_the_field(office_client: TestClient, body: dict,  # type: ignore[type-arg]
                                             field: str) -> None:
    response = office_client.post("/consortia", json=body)
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["errors"][0]["loc"] == ["body", field]


@pytest.fixture
def with_calls(catalogue_engine: Engine) -> Engine:
    """The mini catalogue with the call topics of the raw-source fixture and their programme (Horizon Europe)."""
    return add_calls(catalogue_engine)


def test_a_call_is_taken_as_suggestions_take_it(with_calls: Engine) -> None:
    # api.calls.request_for_call: the call's programme and action type, its title and text after the text given
    with Session(with_calls) as session:
        call = session.get_one(Call, FARM)
        ready, echo = for_call(ConsortiumRequest(requester_id=NU, call=FARM, text="Soil sensors."), session,
                               today=TODAY)
        spec = spec_for(ready)
        assert (spec.programme, spec.action_type) == ("horizon-europe", call.action_type)
        assert spec.text == call_idea(call, "Soil sensors.") and spec.text.startswith("Soil sensors.\n\n")
        assert echo is not None and echo.topic_id == FARM
        same = ConsortiumRequest(requester_id=NU, call=FARM, programme="horizon-europe")
        assert spec_for(for_call(same, session, today=TODAY)[0]).text == call_idea(call)
        with pytest.raises(InvalidRequest) as refused:
            for_call(ConsortiumRequest(requester_id=NU, call=FARM, programme="ca-italy"), session, today=TODAY)
        assert refused.value.field == "programme"


@pytest.mark.usefixtures("with_calls")
def test_a_call_with_another_programme_or_an_action_type_is_a_422(office_client: TestClient) -> None:
    other = office_client.post("/consortia", json={"requester_id": NU, "call": FARM, "programme": "ca-italy"})
    assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["body", "programme"]
    typed = office_client.post("/consortia", json={"requester_id": NU, "call": FARM, "action_type": "CSA"})
    assert typed.status_code == 422 and "a call sets its own" in typed.json()["detail"]


def test_validation_errors(office_client: TestClient) -> None:
    for body in ({"requester_id": NU}, {"requester_id": NU, "programme": "horizon-europe", "size_min": 5,
                                        "size_max": 3}, {"programme": "horizon-europe", "bogus": 1}):
        response = office_client.post("/consortia", json=body)
        assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)


def test_needs_an_office_key(client: TestClient) -> None:
    response = client.post("/consortia", json={"requester_id": NU, "programme": "erasmus-mobility"})
    assert response.status_code == 401


def test_check_explains_each_rule(office_client: TestClient) -> None:
    response = office_client.post("/consortia/check", json={
        "programme": "horizon-europe", "action_type": "RIA", "members": [UNICAM, CNR, UZBEK_WOMEN, KAZNU]})
    assert response.status_code == 200
    answer = response.json()
    assert answer["valid"] is False
    rules = {r["rule"]: r for r in answer["rules"]}
    assert rules["he-3-countries"]["satisfied"] is False and "IT" in rules["he-3-countries"]["explanation"]
    assert rules["he-1-member-state"]["satisfied"] is True
    kaznu = next(m for m in answer["members"] if m["institution"]["id"] == KAZNU)
    assert kaznu["counts"] is False
    valid = office_client.post("/consortia/check", json={"programme": "horizon-europe", "action_type": "CSA",
                                                         "members": [CNR, NU], "coordinator_id": CNR}).json()
    assert valid["valid"] is True
    bad_coordinator = office_client.post("/consortia/check", json={
        "programme": "horizon-europe", "action_type": "CSA", "members": [CNR, NU], "coordinator_id": NU}).json()
    assert bad_coordinator["valid"] is False


def test_check_rejects_unknown_members(office_client: TestClient) -> None:
    response = office_client.post("/consortia/check", json={"programme": "horizon-europe", "action_type": "CSA",
                                                            "members": [CNR, "pic-000000000"]})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "members"]


def test_export_writes_the_answer_it_is_given(office_client: TestClient) -> None:
    # the body is the answer POST /consortia returned: written as it is, never built again (CP-SAT with a
    # time limit may not find the same proposals twice, and the file must hold those on the screen)
    answer = build(office_client, size_min=3, size_max=3, alternatives=1)
    members = [m["institution"] for m in answer["proposals"][0]["members"]]
    csv_response = office_client.post("/consortia/export?format=csv", json=answer)
    assert csv_response.status_code == 200 and csv_response.headers["content-type"].startswith("text/csv")
    assert csv_response.headers["content-disposition"].startswith('attachment; filename="partnermatch-consortia-')
    text = csv_response.content.decode("utf-8-sig")
    assert text.startswith('"Alternative","Objective","Role"') and "Nazarbayev University" in text
    lines = text.strip().splitlines()
    assert len(lines) == 1 + 3 == 1 + len(members)
    assert [line.rsplit(",", 1)[1].strip('"') for line in lines[1:]] == [m["id"] for m in members]
    xlsx = office_client.post("/consortia/export?format=xlsx", json=answer)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Members", "Rules", "Objective", "About"]
    assert book["Members"].max_row == 1 + 3
    assert [row[-1] for row in book["Members"].iter_rows(min_row=2, values_only=True)] == [m["id"] for m in members]
    assert book["Rules"]["C2"].value in ("yes", "no")


def test_export_writes_an_edited_answer_as_given_and_safe(office_client: TestClient) -> None:
    answer = build(office_client, size_min=3, size_max=3, alternatives=1)
    answer["proposals"][0]["members"][0]["institution"]["name"] = "=HYPERLINK(\"http://x\")"
    text = office_client.post("/consortia/export?format=csv", json=answer).content.decode("utf-8-sig")
    assert '"\'=HYPERLINK(""http://x"")"' in text  # the name sent, made safe: nothing was rebuilt


def test_export_refuses_what_the_schema_does_not_allow(office_client: TestClient) -> None:
    answer = build(office_client, size_min=3, size_max=3, alternatives=1)
    for change, loc in (({"seconds": False}, ["body", "seconds"]),
                        ({"pool_size": "3"}, ["body", "pool_size"])):
        response = office_client.post("/consortia/export?format=csv", json={**answer, **change})
        assert response.status_code == 422 and response.json()["errors"][0]["loc"] == loc, response.text
    answer["proposals"][0]["objective"] = True
    response = office_client.post("/consortia/export?format=csv", json=answer)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "proposals", 0, "objective"]


def test_export_needs_an_answer_and_an_office_key(office_client: TestClient, client: TestClient) -> None:
    request = {"requester_id": NU, "programme": "erasmus-mobility", "text": IDEA}
    response = office_client.post("/consortia/export?format=csv", json=request)  # the build request: not an answer
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
    answer = build(office_client, size_min=3, size_max=3, alternatives=1)
    assert client.post("/consortia/export?format=csv", json=answer).status_code == 401
