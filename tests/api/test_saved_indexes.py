"""Saved indexes (``api/state.py``, ``api/index_store.py``): a start on an unchanged catalogue loads the saved
search and matching indexes, and a stale saved index is never used: any write that changes what an index
holds (an owner profile, an import, a renamed institution, another model) makes the next start or the
next ``build_matcher`` rebuild it and save the fresh one."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api import index_store
from api.main import create_app
from api.settings import Settings
from api.state import build_matcher
from embeddings.st import SentenceTransformerEmbedder
from matcher.engine import CatalogueIndex, catalogue_fingerprint
from matcher.types import ComponentWeights, ScoringProfile, SuggestionRequest
from seed_data.importer import import_institutions
from seed_data.search import InstitutionIndex
from seed_data.tables import Institution

from .conftest import ENU, KAZNU, NU, fill

ENU_PROFILE = "Hydrology, water resource management and irrigation of arid steppe lands in Central Asia."


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "index-cache"


class Started:
    """What one start of the app loaded or built."""

    def __init__(self, search: InstitutionIndex, matching: CatalogueIndex, origins: dict[str, str]) -> None:
        self.search = search
        self.matching = matching
        self.origins = origins


def _origins(records: list[logging.LogRecord]) -> dict[str, str]:
    """"loaded" or "built" for the search and the matching index, from the start-up log."""
    origins = {}
    for record in records:
        message = record.getMessage()
        for kind, prefix in (("search", "institution index:"), ("matcher", "matching index:")):
            if message.startswith(prefix):
                origins[kind] = "loaded" if "loaded from" in message else "built"
    return origins


def _app(engine: Engine, embedder: SentenceTransformerEmbedder, cache: Path) -> FastAPI:
    return create_app(Settings(database_url="sqlite://", index_cache_dir=cache), engine=engine, embedder=embedder)


def _start(engine: Engine, embedder: SentenceTransformerEmbedder, cache: Path,
           caplog: pytest.LogCaptureFixture) -> Started:
    caplog.clear()
    app = _app(engine, embedder, cache)
    with caplog.at_level(logging.INFO, logger="api"), TestClient(app):
        return Started(app.state.index, app.state.matcher.index, _origins(caplog.records))


def _set_profile(engine: Engine, inst_id: str, text: str | None) -> None:
    with Session(engine) as session:
        row = session.get(Institution, inst_id)
        assert row is not None
        row.profile_owner = text
        session.add(row)
        session.commit()


def _assert_same_index(a: CatalogueIndex, b: CatalogueIndex) -> None:
    assert a.row_of == b.row_of
    assert [i.name for i in a.institutions] == [i.name for i in b.institutions]
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_array_equal(a.has_evidence, b.has_evidence)
    np.testing.assert_array_equal(a.area_strength, b.area_strength)
    assert (a.graph != b.graph).nnz == 0


def test_a_second_start_loads_both_indexes_and_answers_the_same(
        catalogue_engine: Engine, embedder: SentenceTransformerEmbedder, cache: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    first = _start(catalogue_engine, embedder, cache, caplog)
    assert first.origins == {"search": "built", "matcher": "built"}
    assert sorted(p.name.split("-")[0] for p in cache.glob("*.pickle")) == ["matcher", "search"]

    second = _start(catalogue_engine, embedder, cache, caplog)
    assert second.origins == {"search": "loaded", "matcher": "loaded"}
    _assert_same_index(first.matching, second.matching)
    assert second.search.rows == first.search.rows
    assert [h.id for h in second.search.search("KazNU")] == [h.id for h in first.search.search("KazNU")] == [KAZNU]


def test_an_owner_profile_saved_in_the_database_rebuilds_the_matcher_at_the_next_start(
        catalogue_engine: Engine, embedder: SentenceTransformerEmbedder, cache: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    before = _start(catalogue_engine, embedder, cache, caplog)
    assert not before.matching.has_evidence[before.matching.row_of[ENU]]

    _set_profile(catalogue_engine, ENU, ENU_PROFILE)
    after = _start(catalogue_engine, embedder, cache, caplog)

    assert after.origins == {"search": "loaded", "matcher": "built"}  # search reads no profile text
    row = after.matching.row_of[ENU]
    assert after.matching.has_evidence[row]
    np.testing.assert_allclose(after.matching.vectors[row], embedder.encode_documents([ENU_PROFILE])[0], atol=1e-6)
    # ... and the rebuilt index was saved: the start after that loads it, with the profile
    again = _start(catalogue_engine, embedder, cache, caplog)
    assert again.origins == {"search": "loaded", "matcher": "loaded"}
    _assert_same_index(after.matching, again.matching)

    # back to the first text: the first index is right again (the fingerprint is of contents)
    _set_profile(catalogue_engine, ENU, None)
    reverted = _start(catalogue_engine, embedder, cache, caplog)
    assert not reverted.matching.has_evidence[reverted.matching.row_of[ENU]]


def test_build_matcher_after_a_profile_update_swaps_in_and_saves_a_fresh_index(
        catalogue_engine: Engine, embedder: SentenceTransformerEmbedder, cache: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """What the profile route does: save the text, then ``build_matcher(app)`` while the service runs."""
    app = _app(catalogue_engine, embedder, cache)
    profile = ScoringProfile(weights=ComponentWeights(thematic=1.0))
    request = SuggestionRequest(requester_id=ENU, programme="ca-italy", k=3)
    with TestClient(app):
        stale_answer = app.state.matcher.suggest(request, profile)
        _set_profile(catalogue_engine, ENU, ENU_PROFILE)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="api"):
            build_matcher(app)
        assert _origins(caplog.records) == {"matcher": "built"}
        fresh = app.state.matcher.index
        assert fresh.has_evidence[fresh.row_of[ENU]]
        fresh_answer = app.state.matcher.suggest(request, profile)
        assert fresh_answer.model_dump() != stale_answer.model_dump()  # no answer cached from the old index

    restarted = _start(catalogue_engine, embedder, cache, caplog)
    assert restarted.origins == {"search": "loaded", "matcher": "loaded"}
    _assert_same_index(fresh, restarted.matching)


def test_an_import_rebuilds_what_it_changed(
        catalogue_engine: Engine, embedder: SentenceTransformerEmbedder, cache: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """``partnermatch import institutions``: a new alias changes search, a profile the matcher."""
    before = _start(catalogue_engine, embedder, cache, caplog)
    path = tmp_path / "office.json"
    path.write_text(json.dumps([{"id": NU, "aliases": ["Nazarbayev Uni Astana"], "profile": ENU_PROFILE}]),
                    encoding="utf-8")
    with Session(catalogue_engine) as session:
        report = import_institutions(session=session, path=path, dry_run=False)
    assert list(report.updated) == [NU]

    after = _start(catalogue_engine, embedder, cache, caplog)
    assert after.origins == {"search": "built", "matcher": "built"}
    assert after.search.rows[NU].aliases == ["Nazarbayev Uni Astana"]
    # the owner profile is one more evidence item of NU (weighted as evidence_weights.json says): NU's vector
    # moves towards it
    profile = embedder.encode_documents([ENU_PROFILE])[0]
    row = after.matching.row_of[NU]
    assert [i.type for i in after.matching.items if i.row == row] == ["owner_profile"]
    assert after.matching.vectors[row] @ profile > before.matching.vectors[before.matching.row_of[NU]] @ profile


def test_a_renamed_institution_rebuilds_both(
        catalogue_engine: Engine, embedder: SentenceTransformerEmbedder, cache: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    _start(catalogue_engine, embedder, cache, caplog)
    with Session(catalogue_engine) as session:
        row = session.get(Institution, KAZNU)
        assert row is not None
        row.name = "Al-Farabi Kazakh National Universitx"  # same length: only the contents differ
        session.add(row)
        session.commit()
    after = _start(catalogue_engine, embedder, cache, caplog)
    assert after.origins == {"search": "built", "matcher": "built"}
    assert after.matching.institutions[after.matching.row_of[KAZNU]].name.endswith("Universitx")
    assert after.search.search("Kazakh National Universitx")[0].id == KAZNU


def test_the_fingerprint_covers_the_model_and_every_catalogue_table(
        catalogue_engine: Engine, embedder: SentenceTransformerEmbedder) -> None:
    with Session(catalogue_engine) as session:
        base = catalogue_fingerprint(session, model_id=embedder.model_id)
        assert catalogue_fingerprint(session, model_id=embedder.model_id) == base
        assert catalogue_fingerprint(session, model_id="another-model@1") != base
        changes = [
            "UPDATE project SET objective = objective || ' More.' WHERE id = (SELECT min(id) FROM project)",
            "DELETE FROM participation WHERE project_id = (SELECT min(project_id) FROM participation)",
            "UPDATE priorityarea SET description = description || ' More.' WHERE key = 'water'",
            "UPDATE programme SET name = name || ' (2026)' WHERE key = 'ca-italy'",
            "UPDATE institution SET country = 'KG' WHERE id = 'ror-0242cby63'",
        ]
        for statement in changes:
            session.connection().exec_driver_sql(statement)
            changed = catalogue_fingerprint(session, model_id=embedder.model_id)
            assert changed != base, statement
            base = changed
        session.rollback()


def test_a_stale_or_damaged_file_is_never_used(tmp_path: Path) -> None:
    path = tmp_path / "matcher-x.pickle"
    index_store.save(path, "fingerprint-a", {"answer": 1})
    assert index_store.load(path, "fingerprint-a") == {"answer": 1}
    assert index_store.load(path, "fingerprint-b") is None
    assert index_store.read(path) == ("fingerprint-a", {"answer": 1})
    path.write_bytes(path.read_bytes()[:-5])  # cut short
    assert index_store.load(path, "fingerprint-a") is None
    path.write_bytes(b"not a pickle")
    assert index_store.load(path, "fingerprint-a") is None
    assert index_store.read(path) is None
    assert index_store.load(tmp_path / "missing.pickle", "fingerprint-a") is None


def test_no_files_for_an_in_memory_database_or_when_switched_off(tmp_path: Path) -> None:
    assert index_store.cache_dir(Settings(database_url="sqlite://")) is None
    assert index_store.cache_dir(Settings(database_url=f"sqlite:///{tmp_path}/x.sqlite3", index_cache=False)) is None
    assert index_store.cache_dir(Settings(database_url=f"sqlite:///{tmp_path}/x.sqlite3")) == tmp_path / "index-cache"
    assert index_store.cache_dir(Settings(database_url="sqlite://", index_cache_dir=tmp_path)) == tmp_path
    one = index_store.index_path(tmp_path, "matcher", "postgresql+psycopg://u:secret@h/one")
    assert one != index_store.index_path(tmp_path, "matcher", "postgresql+psycopg://u:secret@h/two")
    assert "secret" not in one.name


@pytest.fixture
def pg_catalogue(pg_engine: Engine) -> Iterator[Engine]:
    yield fill(pg_engine)


@pytest.mark.postgres
def test_saved_indexes_on_postgresql(
        pg_catalogue: Engine, embedder: SentenceTransformerEmbedder, cache: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    first = _start(pg_catalogue, embedder, cache, caplog)
    assert first.origins == {"search": "built", "matcher": "built"}
    second = _start(pg_catalogue, embedder, cache, caplog)
    assert second.origins == {"search": "loaded", "matcher": "loaded"}
    _assert_same_index(first.matching, second.matching)

    _set_profile(pg_catalogue, ENU, ENU_PROFILE)
    third = _start(pg_catalogue, embedder, cache, caplog)
    assert third.origins == {"search": "loaded", "matcher": "built"}
    assert third.matching.has_evidence[third.matching.row_of[ENU]]
