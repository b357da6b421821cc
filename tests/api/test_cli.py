"""The partnermatch CLI as a user runs it, on a catalogue built from the real-source slice."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from api.cli import app
from api.main import create_app
from tests.api.conftest import runner


def test_db_init_twice_then_search(cli_env: Path) -> None:
    first = runner.invoke(app, ["db", "init", "--data-dir", str(cli_env)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["db", "init", "--data-dir", str(cli_env)])
    assert second.exit_code == 0
    assert "institutions   │ 0        │ 0       │" in second.output  # nothing inserted or updated
    found = runner.invoke(app, ["institutions", "search", "KazNU", "--json", "--limit", "1"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)[0]["id"] == "pic-959424479"
    table = runner.invoke(app, ["institutions", "search", "Nazarbaev Univrsity", "--country", "KZ"])
    assert "Nazarbayev University" in table.output and "PIC 953676162" in table.output


def test_stats_json_matches_the_build_report(cli_env: Path) -> None:
    result = runner.invoke(app, ["catalogue", "stats", "--json", "--data-dir", str(cli_env)])
    stats = json.loads(result.stdout)
    assert stats["institutions"]["by_country_group"]["Kazakhstan"] >= 100
    assert set(stats["sources"]) == {"eche", "h2020", "he_organisations", "he_projects", "hipo", "ror"}


def test_import_rejects_a_bad_file_whole_and_dry_run_changes_nothing(cli_env: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "init", "--data-dir", str(cli_env)]).exit_code == 0
    bad = tmp_path / "office.csv"
    bad.write_text("pic,legal_name,country,profile\n953676162,,KZ,Water research\n123,Nowhere,ZZ,\n")
    result = runner.invoke(app, ["import", "institutions", str(bad)])
    assert result.exit_code == 1
    assert "row 3" in result.output and "country" in result.output and "nothing imported" in result.output
    good = tmp_path / "good.csv"
    good.write_text("pic,profile\n953676162,Hydrology and water management in Central Asia\n")
    dry = runner.invoke(app, ["import", "institutions", str(good), "--dry-run"])
    assert dry.exit_code == 0 and "would update pic-953676162" in dry.output
    again = runner.invoke(app, ["import", "institutions", str(good), "--dry-run"])
    assert "would update pic-953676162" in again.output  # the dry run wrote nothing


def test_suggest_prints_a_table_and_json(cli_env: Path) -> None:
    assert runner.invoke(app, ["db", "init", "--data-dir", str(cli_env)]).exit_code == 0
    result = runner.invoke(app, ["suggest", "KazNU", "--programme", "horizon-europe", "--area", "water",
                                 "--k", "3", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["requester"]["id"] == "pic-959424479" and len(payload["data"]) == 3
    table = runner.invoke(app, ["suggest", "KazNU", "--programme", "horizon-europe", "--area", "water", "--k", "3"])
    assert "Partners for Al-Farabi Kazakh National University" in table.output
    unknown = runner.invoke(app, ["suggest", "KazNU", "--programme", "moon"])
    assert unknown.exit_code == 1 and "unknown programme" in unknown.output


def test_weights_what_if_compares_two_versions(cli_env: Path) -> None:
    # the versions are read before the session's commit; using them afterwards raised DetachedInstanceError
    assert runner.invoke(app, ["db", "init", "--data-dir", str(cli_env)]).exit_code == 0
    changed = runner.invoke(app, ["weights", "set", "horizon-europe-default", "--weight", "network=0.5",
                                  "--comment", "more network"])
    assert changed.exit_code == 0, changed.output
    result = runner.invoke(app, ["weights", "what-if", "horizon-europe-default:1", "horizon-europe-default:2",
                                 "--k", "3", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rankings"]["n_requesters"] > 0
    assert {"metrics_a", "metrics_b"} <= payload.keys()


def test_institutions_show_prints_what_the_api_returns(cli_env: Path) -> None:
    assert runner.invoke(app, ["db", "init", "--data-dir", str(cli_env)]).exit_code == 0
    shown = runner.invoke(app, ["institutions", "show", "KazNU", "--json"])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    with TestClient(create_app()) as client:
        assert client.get(f"/institutions/{detail['id']}").json() == detail
    # the curated facts of the slice: typed items with sources, and strengths with the items behind them
    assert detail["evidence_level"] == "research" and detail["evidence_counts"]["research_field"] > 0
    assert all(item["source"].startswith("http") for item in detail["evidence"])
    assert detail["area_strengths"][0]["evidence"]
    table = runner.invoke(app, ["institutions", "show", "pic-959424479"])
    assert table.exit_code == 0
    assert "Strength per priority area" in table.output and "evidence: research" in table.output
    assert runner.invoke(app, ["institutions", "show", "pic-000000000"]).exit_code == 1
