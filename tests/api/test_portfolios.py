"""``POST /portfolios`` end to end on the mini catalogue (tests/api/conftest.py): under ca-italy the eligible
partners are the two Italian institutions, UNICAM (university) and CNR (research); the Kazakh universities with
research evidence are NU and KazNU (ENU has none)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.cli import app
from api.cli_portfolio import EXPORT_COLUMNS, write_export
from api.schemas_portfolios import PortfolioResponse
from tests.api.conftest import CNR, ENU, KAZNU, NU, UNICAM, runner

PROBLEM_JSON = "application/problem+json"
BODY = {"programme": "ca-italy", "requester_ids": [NU, KAZNU], "areas": ["water"], "k": 1, "c": 1}


def test_each_requester_gets_its_own_partner_when_c_is_1(office_client: TestClient) -> None:
    response = office_client.post("/portfolios", json=BODY)
    assert response.status_code == 200, response.text
    answer = response.json()
    partners = {r["requester"]["id"]: [p["institution"]["id"] for p in r["partners"]] for r in answer["requesters"]}
    assert set(partners) == {NU, KAZNU}
    assert sorted(sum(partners.values(), [])) == sorted([UNICAM, CNR])  # one each, never the same one
    assert answer["spread"]["max_load"] == 1 and answer["spread"]["n_partners"] == 2
    assert answer["n_short"] == 0 and answer["profile_ref"].startswith("ca-italy")
    for r in answer["requesters"]:
        assert r["independent_total"] >= r["total"] > 0
        assert r["ratio"] == pytest.approx(r["total"] / r["independent_total"], abs=1e-3)
        assert r["overlap"] == len({p["institution"]["id"] for p in r["partners"]}
                                   & {p["institution"]["id"] for p in r["independent"]})
        assert r["partners"][0]["own_rank"] in (1, 2) and r["partners"][0]["load"] == 1
    # with c = 2 nobody has to give anything up: each gets its own best
    shared = office_client.post("/portfolios", json={**BODY, "c": 2}).json()
    assert all(r["ratio"] == pytest.approx(1.0) and r["overlap"] == 1 for r in shared["requesters"])


def test_a_profile_made_for_another_programme_is_named_and_noted(office_client: TestClient) -> None:
    answer = office_client.post("/portfolios", json={**BODY, "profile": "bri-default:1"}).json()
    assert answer["profile_ref"] == "bri-default:1"
    assert "Scored with bri-default:1, a profile made for bri." in answer["notes"]


def test_requesters_selected_by_area_strength_and_a_shortfall_reported(office_client: TestClient) -> None:
    body = {"programme": "ca-italy", "select": {"country": "KZ", "area": "water", "n": 10}, "k": 3, "c": 2}
    response = office_client.post("/portfolios", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    ids = [r["requester"]["id"] for r in answer["requesters"]]
    assert set(ids) == {NU, KAZNU} and ENU not in ids  # no research evidence: never "strong"
    assert answer["areas"] == ["water"]  # ranked for the selection's area
    assert any("strongest in water" in note for note in answer["notes"])
    for r in answer["requesters"]:  # only two eligible partners: k = 3 cannot be met, and the answer says why
        assert len(r["partners"]) == 2
        assert "only 2 eligible candidate" in r["shortfall"]
    assert answer["n_short"] == 2
    PortfolioResponse.model_validate(answer)


def test_the_export_has_a_row_per_requester_and_partner(office_client: TestClient, tmp_path: Path) -> None:
    answer = PortfolioResponse.model_validate(office_client.post("/portfolios", json=BODY).json())
    write_export(answer, tmp_path / "p.xlsx")
    rows = list(load_workbook(tmp_path / "p.xlsx").active.iter_rows(values_only=True))
    assert rows[0] == EXPORT_COLUMNS and len(rows) == 3
    write_export(answer, tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text(encoding="utf-8-sig").count("\n") == 3


@pytest.mark.parametrize(("change", "field"), [
    ({"k": 0}, "k"),
    ({"c": True}, "c"),
    ({"requester_ids": [NU, NU]}, "requester_ids"),
    ({"requester_ids": ["pic-000"]}, "requester_ids"),
    ({"programme": "no-such-programme"}, "programme"),
    ({"areas": ["no-such-area"]}, "areas"),
    ({"profile": "no-such-profile"}, "profile"),
    ({"pool_size": 0}, "pool_size"),
    ({"requesters": [NU]}, "requesters"),
    ({"select": {"area": "no-such-area"}, "requester_ids": None}, "select.area"),
    ({"select": {"area": "water", "country": "XX"}, "requester_ids": None}, "select.country"),
])
def test_bad_input_is_a_422_naming_the_field(office_client: TestClient, change: dict, field: str) -> None:
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    response = office_client.post("/portfolios", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    locations = [".".join(str(part) for part in error["loc"][1:]) for error in problem["errors"]]
    assert any(loc == field or loc.startswith(f"{field}.") for loc in locations), problem


def test_requester_ids_and_select_are_exclusive(office_client: TestClient) -> None:
    both = office_client.post("/portfolios", json={**BODY, "select": {"area": "water"}})
    neither = office_client.post("/portfolios", json={"programme": "ca-italy"})
    for response in (both, neither):
        assert response.status_code == 422
        assert "requester_ids or select" in response.json()["detail"]


def test_a_key_is_needed(client: TestClient) -> None:
    assert client.post("/portfolios", json=BODY).status_code == 401


def test_the_cli_prints_a_table_json_and_an_export(cli_env: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "init", "--data-dir", str(cli_env)]).exit_code == 0
    out = tmp_path / "portfolio.csv"
    result = runner.invoke(app, ["portfolio", "--programme", "horizon-europe", "--country", "KZ", "--area", "ai",
                                 "--n", "3", "--k", "2", "--c", "1", "--max-per-country", "1", "--json",
                                 "--export", str(out)])
    assert result.exit_code == 0, result.output
    answer = PortfolioResponse.model_validate_json(result.stdout)
    assert len(answer.requesters) >= 2 and answer.spread.max_load <= 1
    assert all(len(set(r.countries)) == len(r.partners) for r in answer.requesters)  # one per country
    assert out.read_text(encoding="utf-8-sig").splitlines()[0].startswith('"requester_id"')
    table = runner.invoke(app, ["portfolio", "--programme", "horizon-europe", "--requester", "KazNU",
                                "--requester", "pic-953676162", "--area", "ai", "--k", "2"])
    assert table.exit_code == 0, table.output
    assert "Portfolio — horizon-europe" in table.output and "Al-Farabi" in table.output
    both = runner.invoke(app, ["portfolio", "--requester", "KazNU", "--country", "KZ", "--area", "ai"])
    assert both.exit_code == 1 and "not both" in both.output
    unknown = runner.invoke(app, ["portfolio", "--programme", "moon", "--requester", "KazNU"])
    assert unknown.exit_code == 1 and "programme" in unknown.output
