"""The learned ranker on the real-source slice: trained on time-ordered history, stored as a profile version,
scoring through the ranking core, and every suggestion explained by per-feature contributions."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from matcher.engine import EmbeddingStats, embed_projects, read_catalogue
from matcher.evaluation import TRAINING_CUTOFF, VALIDATION_CUTOFF, evaluate, idea_task, profile_scorer
from matcher.learn import train_ranker
from matcher.profiles import load_default_profiles
from matcher.ranker import FEATURES, RerankingScorer, feature_matrix, load_ranker, model_id
from matcher.ranking import WeightScorer
from matcher.suggest import request_weights
from matcher.types import COMPONENTS
from matcher.weights import (
    InvalidProfile,
    create_learned_profile,
    ensure_default_profiles,
    to_scoring_profile,
    update_profile,
)


@pytest.fixture
def trained(loaded: Engine, embedder):  # type: ignore[no-untyped-def]
    with Session(loaded) as session:
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors,
                                     cutoff=TRAINING_CUTOFF, until=VALIDATION_CUTOFF)
    base = load_default_profiles()["horizon-europe"]
    model, provenance = train_ranker(matcher, queries, base=base, random_state=0)
    return matcher, queries, base, model, provenance


def test_training_is_reproducible_and_documented(trained) -> None:
    matcher, queries, base, model, provenance = trained
    again, _ = train_ranker(matcher, queries, base=base, random_state=0)
    assert model_id(again) == model_id(model) == provenance["model_id"]
    assert provenance["features"] == list(FEATURES) and set(provenance["gain"]) == set(FEATURES)
    assert provenance["n_positive"] > 0 and len(provenance["training_data_sha256"]) == 16
    assert provenance["params"] in provenance["param_grid"]


def test_a_stored_ranker_scores_and_explains_every_suggestion(trained, loaded: Engine) -> None:
    matcher, queries, base, model, provenance = trained
    with Session(loaded) as session:
        ensure_default_profiles(session=session)
        row = create_learned_profile(session=session, name="he-ranker", programme="horizon-europe", model=model,
                                     base=base, author="test", comment="trained", metrics=None,
                                     provenance=provenance)
        session.commit()
        profile = to_scoring_profile(row)
        assert row.kind == "learned" and profile.kind == "learned" and profile.ranker_id == provenance["model_id"]
        with pytest.raises(InvalidProfile, match="no weights to change"):
            update_profile("he-ranker", {"weights": {"thematic": 1.0}}, session=session, author="test", key_id=None,
                           comment="no")
    query = queries[0]
    answer = matcher.suggest(query.request().model_copy(update={"k": 5, "mmr_lambda": 1.0}), profile)
    assert answer.data
    for suggestion in answer.data:
        assert [c.name for c in suggestion.components] == list(COMPONENTS)
        assert len(suggestion.features) == len(FEATURES) - len(COMPONENTS)
        total = sum(c.contribution for c in [*suggestion.components, *suggestion.features]) + suggestion.base_value
        assert total == pytest.approx(suggestion.score, abs=2e-3)  # TreeSHAP adds up to the model's score
        assert all(c.weight is None for c in suggestion.components)
    # the evaluation ranks with it through the same core
    result = evaluate(queries[:3], {"ranker": profile_scorer(matcher, profile)})["ranker"]
    assert len(result.per_query) == min(3, len(queries))
    scores = profile_scorer(matcher, profile)(query)
    assert np.isfinite(scores).sum() == matcher.index.n - 1  # everyone but the requester


def test_the_model_reorders_only_its_first_stage_shortlist(trained) -> None:
    matcher, queries, base, model, _ = trained

    request = queries[0].request()
    values_only = matcher.rank(request, base)
    weights, _ = request_weights(base, request)
    depth = 7
    scorer = RerankingScorer(WeightScorer(weights), load_ranker(model), depth=depth)
    scores = scorer.predict(values_only.values, index=matcher.index, query=values_only.query, rows=values_only.rows)
    first = values_only.values @ weights
    order = np.argsort(-scores, kind="stable")
    assert first[order[:depth]].min() >= first[order[depth:]].max() - 1e-12  # the first stage's best, on top
    rest = order[depth:]
    assert np.all(np.diff(first[rest]) <= 1e-12)  # the others keep the first stage's order, below
    learned = load_ranker(model).predict(values_only.values[order[:depth]], index=matcher.index,
                                         query=values_only.query, rows=values_only.rows[order[:depth]])
    assert np.allclose(np.sort(learned)[::-1], scores[order[:depth]])  # the model's own scores on the shortlist


def test_compiled_scores_are_lightgbms_and_the_contributions_add_up_to_them(trained) -> None:
    matcher, queries, base, model, _ = trained
    ranked = matcher.rank(queries[0].request(), base)
    values, rows = ranked.values[:500], ranked.rows[:500]  # every kind and region of the slice's candidates
    scorer = load_ranker(model)
    scores = scorer.predict(values, index=matcher.index, query=ranked.query, rows=rows)
    X = feature_matrix(values, index=matcher.index, query=ranked.query, rows=rows)
    assert len(np.unique(X[:, FEATURES.index("candidate_kind")])) > 1
    assert np.allclose(scores, scorer.booster.predict(X, raw_score=True), rtol=0, atol=1e-9)
    contributions, bias = scorer.contributions(X)
    assert np.allclose(contributions.sum(axis=1) + bias, scores, rtol=0, atol=1e-9)
