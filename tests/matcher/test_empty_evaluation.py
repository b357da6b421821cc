"""An evaluation of nothing is an error, not a table of zeros: an empty window (``--cutoff`` on or after
``--until``, or a window no project starts in) and ``--projects`` ids that match no project of the window
raise ``EmptyEvaluation``, naming the window, what starts after the cutoff and the ids; the CLI says so and
exits non-zero."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

import matcher.evaluation
from api.cli import app as cli_app
from api.db import make_engine
from api.settings import get_settings
from matcher.engine import EmbeddingStats, embed_projects, read_catalogue
from matcher.evaluation import EmptyEvaluation, check_window, idea_task, run_evaluation
from matcher.learn import learn_profile
from matcher.profiles import load_default_profiles
from matcher.quick_eval import ValidationSample
from seed_data.crud import load_catalogue

CUTOFF, UNTIL = dt.date(2024, 1, 1), dt.date(2025, 1, 1)


def _evaluate(engine: Engine, embedder, **window) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        return run_evaluation(rows, session=session, embedder=embedder, project_vectors=vectors,
                              profile=load_default_profiles()["horizon-europe"], **window)


def test_an_empty_window_is_refused_before_the_index_is_built(loaded: Engine, embedder,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def no_index(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the index was built for an empty window")

    monkeypatch.setattr(matcher.evaluation, "index_from_rows", no_index)
    with pytest.raises(EmptyEvaluation) as raised:
        _evaluate(loaded, embedder, cutoff=UNTIL, until=UNTIL)
    message = str(raised.value)
    assert "[2025-01-01, 2025-01-01)" in message and "until" in message
    assert raised.value.n_in_window == 0


def test_project_ids_that_match_nothing_are_refused_and_named(loaded: Engine, embedder) -> None:
    with pytest.raises(EmptyEvaluation) as raised:
        _evaluate(loaded, embedder, cutoff=CUTOFF, until=UNTIL, restrict_to={"no-such-project", "also-missing"})
    assert raised.value.unmatched == ["also-missing", "no-such-project"]
    assert "also-missing, no-such-project" in str(raised.value)
    assert raised.value.n_after_cutoff > 0  # the slice has projects after the cutoff: the ids are the problem


def test_a_window_with_requests_still_evaluates(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        assert check_window(session, cutoff=CUTOFF, until=UNTIL) > 0
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        some = sorted(p["id"] for p in rows.projects if p["programme"] == "HORIZON" and p["start_date"]
                      and CUTOFF <= p["start_date"] < UNTIL)
        _, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors, cutoff=CUTOFF,
                               until=UNTIL, restrict_to={*some, "no-such-project"})
    assert queries and {q.id for q in queries} <= set(some)  # a partly matching list evaluates what matches


def test_check_window_counts_in_the_database(loaded: Engine) -> None:
    with Session(loaded) as session:
        for cutoff, until in ((UNTIL, UNTIL), (UNTIL, CUTOFF), (dt.date(1990, 1, 1), dt.date(1991, 1, 1))):
            with pytest.raises(EmptyEvaluation):
                check_window(session, cutoff=cutoff, until=until)
        with pytest.raises(EmptyEvaluation) as raised:
            check_window(session, cutoff=CUTOFF, until=UNTIL, restrict_to={"no-such-project"})
        assert raised.value.unmatched == ["no-such-project"] and raised.value.n_after_cutoff > 0


@pytest.fixture
def cli_database(tmp_path: Path, catalogue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A SQLite file holding the real-source slice, which the CLI uses (DATABASE_URL)."""
    url = f"sqlite:///{tmp_path / 'pm.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        load_catalogue(session=session, data_dir=catalogue_dir)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_database")
def test_cli_evaluate_of_an_empty_window_or_unknown_projects_fails_with_a_message(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli_app, ["evaluate", "--cutoff", "2025-01-01"])
    assert result.exit_code == 1, result.output
    assert "nothing to evaluate" in result.output and "[2025-01-01, 2025-01-01)" in result.output
    assert "hybrid" not in result.output  # no table of zeros

    ids = tmp_path / "ids.txt"
    ids.write_text("no-such-project\n")
    result = runner.invoke(cli_app, ["evaluate", "--projects", str(ids)])
    assert result.exit_code == 1, result.output
    assert "no-such-project" in result.output and "hybrid" not in result.output


def test_the_validation_sample_and_learned_weights_refuse_no_queries(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        matcher, _ = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors, cutoff=CUTOFF,
                             until=UNTIL)
    with pytest.raises(ValueError, match="no project-idea query"):
        ValidationSample(cutoff=CUTOFF, until=UNTIL).fit(matcher, [])
    with pytest.raises(ValueError, match="no training query"):
        learn_profile(matcher, [], base=load_default_profiles()["horizon-europe"])
