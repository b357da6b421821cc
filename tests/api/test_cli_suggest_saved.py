"""``partnermatch suggest`` uses the saved indexes, as the service does: the first run builds the matching and
search indexes and saves them next to the database; a later run on the unchanged catalogue loads them and
rebuilds nothing (it used to read the catalogue and rebuild the matching index at every run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel
from typer.testing import CliRunner

import matcher.engine
from api.cli import app
from seed_data.search import InstitutionIndex

from .conftest import KAZNU, fill

runner = CliRunner()
SUGGEST = ["suggest", "KazNU", "--programme", "erasmus-mobility", "--area", "water", "--k", "3", "--json"]


def _never(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("rebuilt although a saved index exists")


def test_a_second_suggest_loads_the_saved_indexes(cli_engine: Engine, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    SQLModel.metadata.create_all(cli_engine)
    fill(cli_engine)
    first = runner.invoke(app, SUGGEST)
    assert first.exit_code == 0, first.output
    saved = sorted(p.name.split("-")[0] for p in (tmp_path / "index-cache").glob("*.pickle"))
    assert saved == ["matcher", "search"]

    # a rebuild would read the catalogue (matching index) or make a search index: neither may happen now
    monkeypatch.setattr(matcher.engine, "read_catalogue", _never)
    monkeypatch.setattr(InstitutionIndex, "__init__", _never)
    second = runner.invoke(app, SUGGEST)
    assert second.exit_code == 0, second.output
    answer = json.loads(second.stdout)
    assert answer["requester"]["id"] == KAZNU and answer["data"]
    assert [s["institution"]["id"] for s in answer["data"]] == [
        s["institution"]["id"] for s in json.loads(first.stdout)["data"]]
