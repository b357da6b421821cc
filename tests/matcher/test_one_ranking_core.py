"""One ranking core: the evaluation's figures come from exactly what ``POST /suggestions`` ranks.

On the real-source slice, the evaluation's matcher (index as of the validation cutoff, ideas embedded as a
request's text is) serves the API; a sample of evaluation requests is posted, and each answer's order and
scores are the evaluation scorer's top of the same request.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.auth import API_KEY_HEADER, create_api_key
from api.main import create_app
from api.settings import Settings
from matcher.engine import EmbeddingStats, embed_projects, read_catalogue
from matcher.evaluation import VALIDATION_CUTOFF, VALIDATION_UNTIL, idea_task, profile_scorer, query_scores
from matcher.profiles import load_default_profiles
from seed_data.tables import ApiKeyRole

K = 15


def test_evaluation_scores_are_what_post_suggestions_ranks(loaded: Engine, embedder) -> None:
    with Session(loaded) as session:
        rows = read_catalogue(session)
        vectors = embed_projects(rows, session=session, embedder=embedder, stats=EmbeddingStats())
        matcher, queries = idea_task(rows, session=session, embedder=embedder, project_vectors=vectors,
                                     cutoff=VALIDATION_CUTOFF, until=VALIDATION_UNTIL)
        _, key = create_api_key(session=session, name="core test", role=ApiKeyRole.office)
        session.commit()
    profile = load_default_profiles()["horizon-europe"]  # the published profile the API scores with
    score = profile_scorer(matcher, profile)
    app = create_app(Settings(database_url="sqlite://"), engine=loaded, embedder=embedder)
    sample = queries[:: max(1, len(queries) // 6)][:6]
    assert len(sample) >= 3
    with TestClient(app, headers={API_KEY_HEADER: key}) as client:
        app.state.matcher = matcher  # the evaluation's matcher serves: same index, same idea vectors
        for query in sample:
            body = {**query.request().model_dump(mode="json", exclude_none=True), "k": K, "mmr_lambda": 1.0}
            response = client.post("/suggestions", json=body)
            assert response.status_code == 200, response.text
            served = response.json()["data"]
            scores = query_scores(query, score)  # as the evaluation ranks: excluded rows last
            order = sorted(np.flatnonzero(np.isfinite(scores)),
                           key=lambda r: (-scores[r], matcher.index.institutions[r].id))[:K]
            assert [s["institution"]["id"] for s in served] == [matcher.index.institutions[r].id for r in order]
            assert [s["score"] for s in served] == pytest.approx([round(scores[r], 4) for r in order], abs=1e-4)
