"""The quick validation estimate on the real-source slice: the same figures as ``run_evaluation``'s hybrid."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from matcher.components import direct_ties
from matcher.engine import EmbeddingStats, embed_projects, read_catalogue
from matcher.evaluation import (
    VALIDATION_CUTOFF,
    VALIDATION_UNTIL,
    evaluate,
    idea_task,
    profile_scorer,
    run_evaluation,
)
from matcher.metrics import METRICS
from matcher.profiles import load_default_profiles
from matcher.quick_eval import ValidationSample, build_validation_sample
from matcher.types import ComponentWeights, ScoringProfile, TiePreference

WEIGHTS = {"thematic": 0.25, "area_fit": 0.1, "complementarity": 0.1, "track_record": 0.1, "network": 0.25,
           "regional_experience": 0.05, "similar_projects": 0.1, "repeat_partnership": 0.05}  # sum 1


@pytest.fixture
def built(loaded: Engine, embedder):  # type: ignore[no-untyped-def]
    """The slice's rows, project vectors, the evaluation's matcher as of the validation cutoff and its queries."""
    with Session(loaded) as session:
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors,
                                     cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL)
    assert len(queries) >= 5, "the slice has project-idea queries in the validation window"
    return rows, vectors, matcher, queries


@pytest.mark.parametrize("ties", [TiePreference.neutral, TiePreference.preferred, TiePreference.excluded])
def test_estimate_equals_run_evaluation_hybrid_on_the_same_queries(loaded: Engine, embedder, built,
                                                                    ties: TiePreference) -> None:
    rows, vectors, matcher, queries = built
    sample = ValidationSample(n_queries=4, random_state=1).fit(matcher, queries)
    assert sample.n_queries_ == 4 and len(set(sample.query_ids_)) == 4
    profile = ScoringProfile(weights=ComponentWeights(**WEIGHTS), ties=ties)
    with Session(loaded) as session:
        report = run_evaluation(rows, session=session, embedder=embedder, project_vectors=vectors,
                                cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL, profile=profile,
                                restrict_to=set(sample.query_ids_), max_new_partner_queries=1)
    hybrid = report["project_idea"]["hybrid"]["all"]  # type: ignore[index]
    assert hybrid["n_queries"] == 4
    assert sample.metrics(WEIGHTS, ties) == {m: hybrid[m] for m in METRICS}


def test_whole_window_and_published_default_agree_with_the_evaluation(built) -> None:
    _, _, matcher, queries = built
    sample = ValidationSample(n_queries=10_000).fit(matcher, queries)
    assert sample.query_ids_ == [q.id for q in queries]  # fewer than asked: all of them, in order
    profile = load_default_profiles()["horizon-europe"]
    expected = evaluate(queries, {"hybrid": profile_scorer(matcher, profile)})["hybrid"].summary(queries)["all"]
    assert sample.metrics(profile.weights.model_dump(), profile.ties) == {m: expected[m] for m in METRICS}
    # only stored rows are scored; every other row scores 0 under any weights
    assert len(sample.rows_) < matcher.index.n and sample.nbytes_ > 0


def test_excluded_ties_rank_existing_partners_last(built) -> None:
    _, _, matcher, queries = built
    index = matcher.index
    sample = ValidationSample(n_queries=10_000).fit(matcher, queries)
    profile = ScoringProfile(weights=ComponentWeights(**WEIGHTS), ties=TiePreference.excluded)
    expected = evaluate(queries, {"hybrid": profile_scorer(matcher, profile)})["hybrid"].summary(queries)["all"]
    assert sample.metrics(WEIGHTS, "excluded") == {m: expected[m] for m in METRICS}
    assert any(len(direct_ties(index, q.requester_row)[: index.n].nonzero()[0]) for q in queries)


def test_sweep_runs_one_weight_from_zero_to_the_total(built) -> None:
    _, _, matcher, queries = built
    sample = ValidationSample(n_queries=10).fit(matcher, queries)
    points = sample.sweep(WEIGHTS, "neutral", component="network", metric="ndcg@10", steps=5)
    assert [w for w, _ in points] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert points[1][1] == sample.metrics({**WEIGHTS, "network": 0.25})["ndcg@10"]
    assert points[0][1] == sample.metrics({**WEIGHTS, "network": 0.0})["ndcg@10"]
    # remembered per normalised weighting: scaled weights are the same entry
    n_cached = len(sample.metrics_cache_)
    other = {**WEIGHTS, "thematic": 0.9}
    assert sample.metrics({k: 2 * v for k, v in other.items()}) == sample.metrics(other)
    assert len(sample.metrics_cache_) == n_cached + 1
    with pytest.raises(ValueError, match="every weight but 'network' is 0"):
        sample.sweep({"network": 1.0}, "neutral", component="network", metric="mrr")
    with pytest.raises(ValueError, match="unknown metric"):
        sample.sweep(WEIGHTS, "neutral", component="network", metric="map")


def test_weights_are_checked(built) -> None:
    _, _, matcher, queries = built
    sample = ValidationSample(n_queries=3).fit(matcher, queries)
    for bad in ({"thematic": -1.0}, {"thematic": 0.0}, {"novelty": 1.0}, {"thematic": float("nan")}):
        with pytest.raises(ValueError):
            sample.metrics(bad)


def test_build_reads_the_database(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        sample = build_validation_sample(session=session, embedder=embedder, n_queries=3)
    assert sample.n_queries_ == 3
    metrics = sample.metrics(WEIGHTS)
    assert set(metrics) == set(METRICS) and all(0.0 <= v <= 1.0 for v in metrics.values())
