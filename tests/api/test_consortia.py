"""POST /consortia, /consortia/check and /consortia/export end to end on the mini catalogue (tests/api/conftest.py):
Nazarbayev University (KZ) asks; Camerino (IT, university), CNR (IT, research), an Istanbul association (TR),
Tsukuba (JP) and two more Kazakh universities are the catalogue. Its programmes are Erasmus+ mobility and
Central Asia + Italy (the builder ranks through them); the checker reads rules only, so it checks Horizon
Europe consortia too."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.api.conftest import CNR, KAZNU, NU, TSUKUBA, UNICAM, UZBEK_WOMEN

IDEA = ("Staff exchanges on sustainable research management. Training researchers in open science and "
        "data stewardship across Europe and Central Asia.")
PROBLEM = "application/problem+json"


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


def test_export_csv_and_xlsx(office_client: TestClient) -> None:
    body = {"requester_id": NU, "programme": "erasmus-mobility", "text": IDEA, "size_min": 3, "size_max": 3,
            "alternatives": 1}
    csv_response = office_client.post("/consortia/export?format=csv", json=body)
    assert csv_response.status_code == 200 and csv_response.headers["content-type"].startswith("text/csv")
    text = csv_response.content.decode("utf-8-sig")
    assert text.startswith('"Alternative","Objective","Role"') and "Nazarbayev University" in text
    assert len(text.strip().splitlines()) == 1 + 3
    xlsx = office_client.post("/consortia/export?format=xlsx", json=body)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Members", "Rules", "Objective", "About"]
    assert book["Members"].max_row == 1 + 3
    assert book["Rules"]["C2"].value in ("yes", "no")
