"""``partnermatch import publications|projects|partnerships`` as a user runs them, on a SQLite file made by
``partnermatch db init`` from the mini catalogue with evidence (``tests/seed_data/test_evidence_import.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.cli import app as main_app
from api.cli_import import register
from api.db import make_engine
from api.settings import get_settings
from seed_data.tables import EvidenceItem, Institution, Partnership
from tests.factories import NU, UNIBO
from tests.seed_data.test_evidence_import import BUKETOV, EVIDENCE, PUBLICATIONS, catalogue_with_evidence

runner = CliRunner()


def _app() -> typer.Typer:
    """A command line with an ``import`` group holding the evidence commands (``api.cli`` registers them the same
    way into its own ``import`` group)."""
    app = typer.Typer()
    import_app = typer.Typer()
    register(import_app)
    app.add_typer(import_app, name="import")

    @app.callback()
    def _main() -> None:
        """The test command line."""

    return app


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A SQLite file initialised by ``partnermatch db init``; returns its URL."""
    url = f"sqlite:///{tmp_path / 'pm.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    data = catalogue_with_evidence(tmp_path / "catalogue")
    result = runner.invoke(main_app, ["db", "init", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    yield url
    get_settings.cache_clear()


def _count(url: str, model: type[EvidenceItem] | type[Partnership]) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return len(session.exec(select(model).where(model.origin == "import")).all())
    finally:
        engine.dispose()


def test_publications_dry_run_then_import_then_again(db: str) -> None:
    app = _app()
    ris = str(PUBLICATIONS / "scopus.ris")
    dry = runner.invoke(app, ["import", "publications", ris, "--institution", BUKETOV, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run, nothing written" in dry.output and "│ 3    │ 1" in dry.output
    assert _count(db, EvidenceItem) == 0
    done = runner.invoke(app, ["import", "publications", ris, "--institution", BUKETOV, "--format", "ris"])
    assert done.exit_code == 0, done.output
    assert "Imported: publications from scopus.ris" in done.output and "next start" in done.output
    assert _count(db, EvidenceItem) == 2
    engine = make_engine(db)
    with Session(engine) as session:
        institution = session.get(Institution, BUKETOV)
        assert institution is not None and institution.evidence_level == "research"
    engine.dispose()
    again = runner.invoke(app, ["import", "publications", ris, "--institution", BUKETOV])
    assert again.exit_code == 0 and "│ 3    │ 1                 │ 0     │ 0       │ 2" in again.output


def test_bad_files_print_every_problem_and_write_nothing(db: str, tmp_path: Path) -> None:
    app = _app()
    bad = tmp_path / "bad.ris"
    bad.write_text("TY  - JOUR\nTI  - A\nPY  - 20x4\nER  - \n\nTY  - JOUR\nPY  - 2023\nER  - \n")
    result = runner.invoke(app, ["import", "publications", str(bad), "--institution", NU])
    assert result.exit_code == 1
    assert "nothing imported" in result.output
    assert "record 1: field 'year'" in result.output and "record 2: field 'title'" in result.output
    unknown = runner.invoke(app, ["import", "publications", str(PUBLICATIONS / "scopus.ris"),
                                  "--institution", "pic-000000000"])
    assert unknown.exit_code == 1 and "no institution with this id" in unknown.output
    projects = tmp_path / "projects.csv"
    projects.write_text((EVIDENCE / "projects.csv").read_text() + f"{NU},,,,,1850,,,,\n")
    result = runner.invoke(app, ["import", "projects", str(projects)])
    assert result.exit_code == 1
    assert "row 5: field 'title': required" in result.output and "row 5: field 'start_year'" in result.output
    missing = runner.invoke(app, ["import", "projects", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "file not found" in missing.output
    fmt = runner.invoke(app, ["import", "publications", str(bad), "--institution", NU, "--format", "endnote"])
    assert fmt.exit_code == 1 and "unknown format" in fmt.output
    assert _count(db, EvidenceItem) == 0


def test_projects_and_partnerships(db: str) -> None:
    app = _app()
    projects = runner.invoke(app, ["import", "projects", str(EVIDENCE / "projects.csv")])
    assert projects.exit_code == 0, projects.output
    assert f"{NU}, {BUKETOV}" in projects.output
    json_projects = runner.invoke(app, ["import", "projects", str(EVIDENCE / "projects.json"),
                                        "--institution", NU, "--dry-run"])
    assert json_projects.exit_code == 0 and "Dry run" in json_projects.output
    assert _count(db, EvidenceItem) == 3
    partnerships = runner.invoke(app, ["import", "partnerships", str(EVIDENCE / "partnerships.csv"),
                                       "--institution", NU])
    assert partnerships.exit_code == 0, partnerships.output
    engine = make_engine(db)
    with Session(engine) as session:
        rows = {row.partner_name: row.partner_id for row in session.exec(select(Partnership)).all()}
    engine.dispose()
    assert rows["University of Bologna"] == UNIBO and rows["Yale School of Public Health"] is None


def test_refuses_a_database_without_a_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    get_settings.cache_clear()
    try:
        result = runner.invoke(_app(), ["import", "projects", str(EVIDENCE / "projects.csv")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "partnermatch db init" in result.output
