"""The matcher end to end on a catalogue built from the real-source slice, with the real packaged model."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from embeddings.cache import EmbeddingVector
from matcher.engine import EmbeddingStats, load_index
from matcher.profiles import load_default_profiles
from matcher.suggest import Matcher, RequestError
from matcher.types import SuggestionRequest


def test_index_embeds_once_then_restarts_from_the_cache(loaded: Engine, embedder) -> None:
    first, second = EmbeddingStats(), EmbeddingStats()
    with Session(loaded) as session:
        index = load_index(session=session, embedder=embedder, stats=first)
        session.commit()
    with Session(loaded) as session:
        load_index(session=session, embedder=embedder, stats=second)
        n_cached = len(session.exec(select(EmbeddingVector)).all())
    assert first.misses > 0 and first.hits == 0
    assert second.misses == 0 and second.hits == first.misses == n_cached
    assert index.stats["with_evidence"] >= 16  # every KZ organisation with a Horizon Europe project, at least


def test_horizon_europe_suggestions_for_nazarbayev_university(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        index = load_index(session=session, embedder=embedder)
    profile = load_default_profiles()["horizon-europe"]
    request = SuggestionRequest(requester_id="pic-953676162", programme="horizon-europe", areas=["ai"], k=5)
    response = Matcher(index, embedder).suggest(request, profile)
    eligible = set(index.programmes["horizon-europe"]["partner_countries"]["participant"])
    assert len(response.data) == 5
    assert all(s.institution.country in eligible for s in response.data)
    kinds = set(index.programmes["horizon-europe"]["default_partner_kinds"])
    assert all(s.institution.kind in kinds for s in response.data)
    plain = Matcher(index, embedder).suggest(request.model_copy(update={"mmr_lambda": 1.0}), profile)
    assert [s.score for s in plain.data] == sorted((s.score for s in plain.data), reverse=True)
    assert response.data[0].institution.id == plain.data[0].institution.id  # MMR's first pick is the best score
    top = response.data[0]
    assert top.has_research_evidence and top.evidence.matching_projects
    assert sum(c.contribution for c in top.components) == pytest.approx(top.score, abs=1e-3)


def test_free_text_request_and_time_cut(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        index = load_index(session=session, embedder=embedder, as_of=dt.date(2023, 1, 1))
    assert all(p.start_date < dt.date(2023, 1, 1) for p in index.projects)
    request = SuggestionRequest(text="soil science and sustainable agriculture in arid steppe regions",
                                programme="bri", areas=["food-agri"], k=3)
    response = Matcher(index, embedder).suggest(request, load_default_profiles()["bri"])
    assert response.requester is None and len(response.data) <= 3
    assert any("network proximity is 0" in note for note in response.notes)


def test_unknown_names_are_request_errors(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        index = load_index(session=session, embedder=embedder)
    matcher, profile = Matcher(index, embedder), load_default_profiles()["bri"]
    with pytest.raises(RequestError) as excinfo:
        matcher.suggest(SuggestionRequest(requester_id="pic-0", programme="bri"), profile)
    assert excinfo.value.field == "requester_id"
    with pytest.raises(RequestError) as excinfo:
        matcher.suggest(SuggestionRequest(text="x", programme="bri", areas=["astrology"]), profile)
    assert excinfo.value.field == "areas"
    with pytest.raises(RequestError) as excinfo:
        matcher.suggest(SuggestionRequest(text="x", programme="bri", countries=["CN", "Germany"]), profile)
    assert excinfo.value.field == "countries" and "Germany" in str(excinfo.value)
    # CORDIS's EL and UK are read as GR and GB, as the catalogue stores them
    matcher.suggest(SuggestionRequest(text="x", programme="bri", countries=["el", "uk"]), profile)
