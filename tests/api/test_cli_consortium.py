"""``partnermatch consortium build | check | evaluate`` as a user runs them, on the mini catalogue
(tests/api/conftest.py) in a SQLite file: the build prints the answer and exports that same answer, the check
explains each rule and exits 1 for a consortium that breaks one, and the replay of history runs on the mini
catalogue's Horizon Europe projects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import SQLModel

from api import cli_consortium
from api.cli import app
from api.schemas_consortia import ConsortiumAnswer
from tests.api.conftest import CNR, KAZNU, NU, UNICAM, UZBEK_WOMEN, fill, runner

IDEA = ("Staff exchanges on sustainable research management. Training researchers in open science and "
        "data stewardship across Europe and Central Asia.")
BUILD = ["consortium", "build", "--requester", NU, "--programme", "erasmus-mobility", "--text", IDEA,
         "--size-min", "3", "--size-max", "3", "--alternatives", "1"]


@pytest.fixture
def mini_catalogue(cli_engine: Engine) -> Engine:
    """The CLI's database file holding the mini catalogue."""
    SQLModel.metadata.create_all(cli_engine)
    return fill(cli_engine)


@pytest.mark.usefixtures("mini_catalogue")
def test_build_prints_the_answer_and_exports_that_answer(tmp_path: Path) -> None:
    out = tmp_path / "consortia.csv"
    result = runner.invoke(app, [*BUILD, "--json", "--export", str(out)])
    assert result.exit_code == 0, result.output
    answer = ConsortiumAnswer.model_validate_json(result.stdout)  # stdout holds the answer alone
    members = [m.institution.id for m in answer.proposals[0].members]
    assert NU in members and len(members) == 3
    lines = out.read_text(encoding="utf-8-sig").strip().splitlines()
    assert lines[0].startswith('"Alternative","Objective","Role"')
    assert [line.rsplit(",", 1)[1].strip('"') for line in lines[1:]] == members  # the answer printed

    book_path = tmp_path / "consortia.XLSX"
    table = runner.invoke(app, [*BUILD, "--export", str(book_path)])
    assert table.exit_code == 0, table.output
    assert "Alternative 1: objective" in table.output and "Nazarbayev University" in table.output
    book = load_workbook(book_path)
    assert book.sheetnames == ["Members", "Rules", "Objective", "About"] and book["Members"].max_row == 1 + 3


@pytest.mark.usefixtures("mini_catalogue")
def test_build_refuses_an_export_file_of_another_kind_before_building(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("built although the export file was refused")

    monkeypatch.setattr(cli_consortium, "load_matcher", never)
    result = runner.invoke(app, [*BUILD, "--export", str(tmp_path / "consortia.json")])
    assert result.exit_code == 1 and "--export must end in .csv or .xlsx" in result.output
    assert not (tmp_path / "consortia.json").exists()


@pytest.mark.usefixtures("mini_catalogue")
def test_build_names_the_field_of_bad_input() -> None:
    result = runner.invoke(app, ["consortium", "build", "--requester", NU, "--programme", "moon", "--text", IDEA])
    assert result.exit_code == 1 and "programme" in result.output


@pytest.mark.usefixtures("mini_catalogue")
def test_check_explains_each_rule_and_exits_1_when_one_fails() -> None:
    failing = runner.invoke(app, ["consortium", "check", UNICAM, CNR, UZBEK_WOMEN, KAZNU,
                                  "--programme", "horizon-europe", "--action-type", "RIA"])
    assert failing.exit_code == 1, failing.output
    assert "FAIL he-3-countries" in failing.output and "ok he-1-member-state" in failing.output
    valid = runner.invoke(app, ["consortium", "check", CNR, NU, "--action-type", "CSA", "--coordinator", CNR])
    assert valid.exit_code == 0, valid.output
    assert "FAIL" not in valid.output
    unknown = runner.invoke(app, ["consortium", "check", CNR, "pic-000000000", "--action-type", "CSA"])
    assert unknown.exit_code == 1 and "members" in unknown.output


@pytest.mark.usefixtures("mini_catalogue")
def test_evaluate_replays_the_window_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["consortium", "evaluate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    # UPGRADE and MARS start in the validation window (2024); only UPGRADE's coordinator (CNR) is in the
    # catalogue to build from, MARS's (Lund University) is not
    assert report["n_window_queries"] == 1 and report["sample"]["n"] == 1
    assert report["summary"]
    assert "Consortia on history" in result.output
    empty = runner.invoke(app, ["consortium", "evaluate", "--cutoff", "2030-01-01", "--until", "2031-01-01"])
    assert empty.exit_code == 1 and "error" in empty.output
