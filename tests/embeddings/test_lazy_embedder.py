"""A restart knows the model's identity without loading it, and loads it in the background."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

import embeddings.st
from embeddings.cache import EmbeddingModel
from embeddings.st import LazyEmbedder, SentenceTransformerEmbedder, default_model_path, folder_signature, load_embedder


def test_second_load_is_lazy_and_gives_the_same_vectors(engine, embedder: SentenceTransformerEmbedder) -> None:
    with Session(engine) as session:
        first = load_embedder(None, session=session)
        session.commit()
    assert isinstance(first, SentenceTransformerEmbedder)
    with Session(engine) as session:
        second = load_embedder(None, session=session)
    assert isinstance(second, LazyEmbedder)
    assert second.model_id == first.model_id == embedder.model_id and second.dim == 384
    text = ["desalination membranes for arid regions"]
    assert np.allclose(second.encode_documents(text), embedder.encode_documents(text), atol=1e-6)


def test_a_changed_folder_is_loaded_again(engine, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(default_model_path(), copy)
    before = folder_signature(copy)
    with Session(engine) as session:
        load_embedder(str(copy), session=session)
        session.commit()
    config = copy / "config_sentence_transformers.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))
    assert folder_signature(copy) != before
    with Session(engine) as session:
        assert isinstance(load_embedder(str(copy), session=session), SentenceTransformerEmbedder)
    assert folder_signature("sentence-transformers/all-MiniLM-L6-v2") is None  # a hub name: always loaded


@pytest.mark.postgres
def test_a_model_recorded_by_another_worker_meanwhile_is_not_an_error(
        pg_engine: Engine, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two workers start on a database that has never seen the model: both load it, both record it. The one
    # that inserts second used to fail with an IntegrityError, which stopped the whole server.
    monkeypatch.setattr(embeddings.st, "SentenceTransformerEmbedder", lambda _name=None: embedder)
    source, signature = str(default_model_path()), folder_signature(default_model_path())
    with Session(pg_engine) as session:
        merge = session.merge

        def merge_while_another_worker_commits(instance: EmbeddingModel) -> EmbeddingModel:
            merged = merge(instance)  # looked up: no row yet, so this one is an insert
            with Session(pg_engine) as other:
                other.add(EmbeddingModel(source=source, signature=signature, model_id=embedder.model_id,
                                         dim=embedder.dim))
                other.commit()
            return merged

        monkeypatch.setattr(session, "merge", merge_while_another_worker_commits)
        assert load_embedder(None, session=session) is embedder
        session.commit()
    with Session(pg_engine) as session:
        assert session.get(EmbeddingModel, source).model_id == embedder.model_id
