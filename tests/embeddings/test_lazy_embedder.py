"""A restart knows the model's identity without loading it, and loads it in the background."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from sqlmodel import Session

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
