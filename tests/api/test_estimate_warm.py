"""``POST /weights/estimate`` does not build its validation sample on the first call: a service that opens its
own database prepares it after start-up (in a thread) and saves it with the saved indexes, so a restart on
the unchanged catalogue loads it. On a catalogue with no validation request, the estimate and the
evaluation route answer a 422 problem instead of figures of nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

import matcher.quick_eval
from api.auth import API_KEY_HEADER, create_api_key
from api.db import make_engine
from api.main import create_app
from api.settings import Settings
from embeddings.st import SentenceTransformerEmbedder

from .conftest import fill

BODY = {"programme": "horizon-europe", "weights": {"thematic": 1.0, "network": 0.5}}
READY_WITHIN_S = 60.0


def _wait_for_sample(app: FastAPI) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while getattr(app.state, "validation_sample", None) is None:
        assert time.monotonic() < deadline, "the validation sample was not prepared after start-up"
        time.sleep(0.05)


def _never(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the validation sample was built by the request (or again after a restart)")


@pytest.fixture
def database(tmp_path: Path) -> tuple[str, Engine]:
    """A SQLite file holding the mini catalogue, with an office key."""
    url = f"sqlite:///{tmp_path / 'pm.sqlite3'}"
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    fill(engine)
    return url, engine


def test_the_sample_is_ready_before_the_first_estimate_and_loaded_after_a_restart(
        database: tuple[str, Engine], tmp_path: Path, embedder: SentenceTransformerEmbedder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, engine = database
    with Session(engine) as session:
        key = create_api_key(session=session, name="office", role="office")[1]
        session.commit()
    settings = Settings(database_url=url, index_cache_dir=tmp_path / "index-cache")
    answers = []
    for start in ("first", "restart"):
        app = create_app(settings, embedder=embedder)  # the app opens the database itself, as `serve` does
        with TestClient(app, headers={API_KEY_HEADER: key}) as client:
            _wait_for_sample(app)
            monkeypatch.setattr(matcher.quick_eval, "build_validation_sample", _never)
            response = client.post("/weights/estimate", json=BODY)
            assert response.status_code == 200, response.text
            answers.append(response.json()["metrics"])
        if start == "first":  # saved; from now on a build fails (the patch stays), so the restart must load it
            assert list((tmp_path / "index-cache").glob("validation-sample-*.pickle"))
    assert answers[0] == answers[1]
    engine.dispose()


def test_a_catalogue_without_validation_requests_gets_a_422_problem(office_client: TestClient,
                                                                    catalogue_engine: Engine,
                                                                    api_keys: dict[str, str]) -> None:
    with Session(catalogue_engine) as session:
        window = "SELECT id FROM project WHERE programme = 'HORIZON' AND start_date >= '2024-01-01'"
        session.execute(text(f"DELETE FROM participation WHERE project_id IN ({window})"))
        session.execute(text(f"DELETE FROM project WHERE id IN ({window})"))
        session.commit()
    estimate = office_client.post("/weights/estimate", json=BODY)
    assert estimate.status_code == 422, estimate.text
    assert estimate.headers["content-type"] == "application/problem+json"
    detail = estimate.json()["detail"]
    assert "nothing to evaluate" in detail and "[2024-01-01, 2025-01-01)" in detail

    evaluate = office_client.post("/weights/erasmus-mobility-default/versions/1/evaluate",
                                  headers={API_KEY_HEADER: api_keys["officer"]})
    assert evaluate.status_code == 422, evaluate.text
    assert "nothing to evaluate" in evaluate.json()["detail"]
