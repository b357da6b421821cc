"""The evaluation harness on the real-source slice: no leakage past the cutoff, every method reported."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from matcher.engine import EmbeddingStats, embed_projects, index_from_rows, read_catalogue
from matcher.evaluation import BASELINES, idea_task, project_idea_queries, run_evaluation
from matcher.profiles import load_default_profiles
from matcher.suggest import Matcher
from matcher.texts import project_text
from matcher.types import COMPONENTS
from seed_data.tables import ACTION_TYPES

CUTOFF, UNTIL = dt.date(2024, 1, 1), dt.date(2025, 1, 1)


def test_nothing_after_the_cutoff_reaches_the_index(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        index = index_from_rows(rows, session=session, embedder=embedder, project_vectors=vectors,
                                stats=EmbeddingStats(), as_of=CUTOFF)
    future = {p["id"] for p in rows.projects if p["start_date"] is None or p["start_date"] >= CUTOFF}
    assert future, "the slice has projects after the cutoff"
    assert not future & {p.id for p in index.projects}  # projects, hence vectors, strengths, graph, records
    assert index.membership.shape[1] == len(index.projects)
    # evidence items and known partnerships: only those dated before the cutoff (undated ones are left out)
    assert index.items and all(i.year is not None and i.year < CUTOFF.year for i in index.items)
    assert all(t.year is not None and t.year < CUTOFF.year for t in index.ties)
    known_before = {r["institution_id"] for r in [*rows.items, *rows.partnerships]
                    if r["year"] is not None and r["year"] < CUTOFF.year} | {
        r["partner_id"] for r in rows.partnerships if r["year"] is not None and r["year"] < CUTOFF.year}
    # an institution whose only evidence starts after the cutoff has no evidence, no record and no edges
    late_only = {part["institution_id"] for part in rows.participations if part["project_id"] in future} - {
        part["institution_id"] for part in rows.participations if part["project_id"] not in future} - known_before
    late_rows = [index.row_of[i] for i in late_only if i]
    assert late_rows
    assert not index.has_evidence[late_rows].any()
    assert (index.track_record[late_rows] == 0).all()
    assert index.graph[late_rows].nnz == 0
    # queries come only from the window, and their truth is the projects' other participants
    queries = project_idea_queries(index, projects=rows.projects, participations=rows.participations,
                                   idea_vectors=vectors, idea_texts={p["id"]: project_text(p) for p in rows.projects},
                                   cutoff=CUTOFF, until=UNTIL)
    starts = {p["id"]: p["start_date"] for p in rows.projects}
    assert queries and all(CUTOFF <= starts[q.id] < UNTIL for q in queries)
    assert all(q.requester_row not in q.truth for q in queries)


def test_run_reports_every_method_and_breakdown(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        report = run_evaluation(rows, session=session, embedder=embedder, project_vectors=vectors, cutoff=CUTOFF,
                                until=UNTIL, profile=load_default_profiles()["horizon-europe"])
    methods = report["project_idea"]
    assert set(methods) == {*BASELINES, "hybrid"}
    breakdowns = set(methods["hybrid"])
    assert {"all", "kz", "central_asia", "china", "newcomers"} <= breakdowns
    assert {b for b in breakdowns if b.startswith("action:")} and breakdowns <= {
        "all", "kz", "central_asia", "china", "newcomers", *(f"action:{kind}" for kind in ACTION_TYPES)}
    assert methods["hybrid"]["kz"]["n_queries"] > 0  # the slice is every project with a Kazakh participant
    assert sum(methods["hybrid"][b]["n_queries"] for b in breakdowns if b.startswith("action:")) == \
        methods["hybrid"]["all"]["n_queries"]  # every query has one action type
    assert 0.0 < methods["hybrid"]["newcomers"]["ceiling"] <= 1.0
    for summary in methods.values():
        assert 0.0 <= summary["all"]["ndcg@10"] <= 1.0
    assert set(report["new_partners"]) == {*BASELINES, "hybrid"} - {"tfidf"}


def test_learned_weights_are_non_negative_normalised_and_reproducible(loaded: Engine, embedder) -> None:
    from matcher.learn import WeightLearner, learn_profile

    with Session(loaded) as session:
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors,
                                     cutoff=dt.date(2023, 1, 1), until=CUTOFF)
    base = load_default_profiles()["horizon-europe"]
    first, provenance = learn_profile(matcher, queries, base=base, random_state=0)
    second, _ = learn_profile(matcher, queries, base=base, random_state=0)
    weights = first.weights.model_dump()
    assert all(w >= 0 for w in weights.values()) and sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert first == second and first.mmr_lambda == base.mmr_lambda
    assert provenance["n_positive"] > 0 and provenance["components"] == list(weights)
    learner = WeightLearner(C=1.0, random_state=0)
    assert learner.fit(np.array([[0.9, 0.1], [0.8, 0.3], [0.1, 0.2], [0.2, 0.1]]), np.array([1, 1, 0, 0])) is learner
    assert learner.weights_[0] > learner.weights_[1]  # the first column separates the classes


def test_feedback_verdicts_become_labelled_pairs(loaded: Engine, embedder) -> None:
    from matcher.learn import feedback_pairs

    with Session(loaded) as session:
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        index = index_from_rows(rows, session=session, embedder=embedder, project_vectors=vectors,
                                stats=EmbeddingStats())
    verdicts = [("pic-953676162", "pic-999845737", 1), ("pic-953676162", "pic-999979694", 0),
                ("ror-0242cby63", "pic-999845737", 1)]  # ENU has no research evidence: skipped
    X, y = feedback_pairs(Matcher(index, embedder), verdicts)
    assert X.shape == (2, len(COMPONENTS)) and y.tolist() == [1, 0]
    assert ((X >= 0) & (X <= 1)).all()


def test_a_single_signal_baseline_is_a_weight_profile_even_beside_a_learned_one() -> None:
    from matcher.evaluation import single_signal

    learned = load_default_profiles()["horizon-europe"].model_copy(update={"kind": "learned", "ranker_id": "abc"})
    baseline = single_signal(learned, "similar_projects")
    assert baseline.kind == "weights" and baseline.ranker_id is None
    assert baseline.weights.normalised()["similar_projects"] == 1.0
    assert baseline.ties == learned.ties and baseline.mmr_lambda == learned.mmr_lambda
