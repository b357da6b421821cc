"""Embedding cache on in-memory SQLite: the table, batching, insert-or-ignore, and embed_with_cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from embeddings.base import Float32Array
from embeddings.cache import (
    EmbeddingCache,
    EmbeddingVector,
    cache_model_id,
    embed_with_cache,
    text_hash,
)
from embeddings.st import SentenceTransformerEmbedder

MODEL = "test-model@0000000000000000"


@dataclass
class RecordingEmbedder:
    """The real embedder, under a chosen model_id, recording which texts it was asked to encode.

    Purpose: observe what embed_with_cache sends to the model; the vectors are still the real model's.
    """

    inner: SentenceTransformerEmbedder
    model_id: str
    calls: list[list[str]] = field(default_factory=list)

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool | None = None
    ) -> Float32Array:
        self.calls.append(list(texts))
        return self.inner.encode_documents(texts, batch_size=batch_size, show_progress=show_progress)

    def encode_queries(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool | None = None
    ) -> Float32Array:
        self.calls.append(list(texts))
        return self.inner.encode_queries(texts, batch_size=batch_size, show_progress=show_progress)


def _row_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(EmbeddingVector)).one()


def test_text_hash_is_sha256_of_the_exact_text() -> None:
    assert text_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert text_hash("abc ") != text_hash("abc")
    assert len(text_hash("Қазақстан")) == 64


def test_table_name_and_primary_key() -> None:
    table = EmbeddingVector.__table__  # type: ignore[attr-defined]
    assert table.name == "embedding_vector"
    assert [column.name for column in table.primary_key.columns] == ["model_id", "text_hash"]


def test_put_then_get_round_trips_float32_exactly(session: Session) -> None:
    rng = np.random.default_rng(0)
    items = {text_hash(str(i)): rng.standard_normal(8).astype(np.float32) for i in range(3)}
    cache = EmbeddingCache()

    assert cache.put_many(session, MODEL, items) == 3
    found = cache.get_many(session, MODEL, [*items, text_hash("absent")])

    assert set(found) == set(items)
    for hash_, vector in items.items():
        assert found[hash_].dtype == np.float32
        np.testing.assert_array_equal(found[hash_], vector)
    found[next(iter(items))][0] = 42.0  # returned arrays are writable copies


def test_put_many_ignores_rows_already_cached(session: Session) -> None:
    cache = EmbeddingCache()
    key = text_hash("x")
    cache.put_many(session, MODEL, {key: np.ones(4, dtype=np.float32)})

    inserted = cache.put_many(session, MODEL, {key: np.zeros(4), text_hash("y"): np.zeros(4)})

    assert inserted == 1
    np.testing.assert_array_equal(cache.get_many(session, MODEL, [key])[key], np.ones(4))


def test_model_ids_are_separate_namespaces(session: Session) -> None:
    cache = EmbeddingCache()
    key = text_hash("x")
    cache.put_many(session, MODEL, {key: np.ones(4)})
    assert cache.get_many(session, "other-model@1111111111111111", [key]) == {}
    assert cache.put_many(session, "other-model@1111111111111111", {key: np.zeros(4)}) == 1


def test_get_many_batches_beyond_the_parameter_limit(session: Session) -> None:
    """1,234 hashes with batch_size=500: three IN-queries, all rows found."""
    cache = EmbeddingCache(batch_size=500)
    items = {text_hash(str(i)): np.full(2, i, dtype=np.float32) for i in range(1234)}
    assert cache.put_many(session, MODEL, items) == 1234
    found = cache.get_many(session, MODEL, items)
    assert len(found) == 1234
    assert found[text_hash("1000")][0] == 1000.0


def test_put_many_rejects_non_vectors(session: Session) -> None:
    with pytest.raises(ValueError, match="1-D"):
        EmbeddingCache().put_many(session, MODEL, {text_hash("x"): np.ones((2, 2))})


def test_get_many_rejects_a_corrupt_row(session: Session) -> None:
    session.add(EmbeddingVector(model_id=MODEL, text_hash=text_hash("x"), dim=4, vector=b"\x00" * 12))
    session.flush()
    with pytest.raises(ValueError, match="corrupt"):
        EmbeddingCache().get_many(session, MODEL, [text_hash("x")])


def test_cache_model_id() -> None:
    assert cache_model_id(MODEL, "document") == MODEL
    assert cache_model_id(MODEL, "query") == MODEL + "#query"
    with pytest.raises(ValueError, match="'document' or 'query'"):
        cache_model_id(MODEL, "passage")  # type: ignore[arg-type]


TEXTS = ["water purification membranes", "medieval poetry", "soil carbon in the Kazakh steppe"]


def test_second_call_is_all_hits_with_identical_vectors(
    embedder: SentenceTransformerEmbedder, session: Session
) -> None:
    first = embed_with_cache(embedder, TEXTS, session=session)
    second = embed_with_cache(embedder, TEXTS, session=session)

    assert (first.n_hits, first.n_misses) == (0, 3)
    assert (second.n_hits, second.n_misses) == (3, 0)
    assert second.vectors.dtype == np.float32 and second.vectors.shape == (3, embedder.dim)
    np.testing.assert_array_equal(second.vectors, first.vectors)
    np.testing.assert_allclose(first.vectors, embedder.encode_documents(TEXTS), atol=1e-6)


def test_partial_hits_embed_only_the_new_texts(
    embedder: SentenceTransformerEmbedder, session: Session
) -> None:
    recording = RecordingEmbedder(embedder, model_id=embedder.model_id)
    embed_with_cache(recording, TEXTS[:2], session=session)
    result = embed_with_cache(recording, TEXTS, session=session)
    assert (result.n_hits, result.n_misses) == (2, 1)
    assert recording.calls == [TEXTS[:2], TEXTS[2:]]


def test_another_model_id_does_not_hit(embedder: SentenceTransformerEmbedder, session: Session) -> None:
    embed_with_cache(embedder, TEXTS, session=session)
    other = RecordingEmbedder(embedder, model_id="another-model@ffffffffffffffff")
    result = embed_with_cache(other, TEXTS, session=session)
    assert (result.n_hits, result.n_misses) == (0, 3)
    assert other.calls == [TEXTS]


def test_queries_are_cached_apart_from_documents(
    embedder: SentenceTransformerEmbedder, session: Session
) -> None:
    # an embedder that does not say it is symmetric (RecordingEmbedder has no such attribute): its own namespace
    recording = RecordingEmbedder(embedder, model_id=embedder.model_id)
    embed_with_cache(recording, TEXTS, session=session, kind="document")
    queries = embed_with_cache(recording, TEXTS, session=session, kind="query")
    again = embed_with_cache(recording, TEXTS, session=session, kind="query")
    assert (queries.n_hits, queries.n_misses) == (0, 3)
    assert (again.n_hits, again.n_misses) == (3, 0)
    assert _row_count(session) == 6


def test_a_symmetric_model_s_queries_read_the_document_vectors(
    embedder: SentenceTransformerEmbedder, session: Session
) -> None:
    assert embedder.symmetric  # all-MiniLM-L6-v2 has no query prompt
    documents = embed_with_cache(embedder, TEXTS, session=session, kind="document")
    queries = embed_with_cache(embedder, TEXTS, session=session, kind="query")
    assert (queries.n_hits, queries.n_misses) == (3, 0) and _row_count(session) == 3
    np.testing.assert_array_equal(queries.vectors, documents.vectors)
    np.testing.assert_allclose(embedder.encode_queries(TEXTS), queries.vectors, atol=1e-6)


def test_duplicates_are_embedded_once(embedder: SentenceTransformerEmbedder, session: Session) -> None:
    recording = RecordingEmbedder(embedder, model_id=embedder.model_id)
    texts = ["medieval poetry", "water purification membranes", "medieval poetry", "medieval poetry"]

    result = embed_with_cache(recording, texts, session=session)

    assert recording.calls == [["medieval poetry", "water purification membranes"]]
    assert (result.n_hits, result.n_misses) == (0, 2)
    assert result.vectors.shape == (4, embedder.dim)
    np.testing.assert_array_equal(result.vectors[0], result.vectors[2])
    np.testing.assert_array_equal(result.vectors[0], result.vectors[3])
    assert _row_count(session) == 2


def test_empty_input(embedder: SentenceTransformerEmbedder, session: Session) -> None:
    result = embed_with_cache(embedder, [], session=session)
    assert result.vectors.shape == (0, embedder.dim)
    assert (result.n_hits, result.n_misses) == (0, 0)


def test_vectors_persist_after_the_caller_commits(
    embedder: SentenceTransformerEmbedder, engine: Engine
) -> None:
    with Session(engine) as writer:
        first = embed_with_cache(embedder, TEXTS, session=writer)
        writer.commit()
    with Session(engine) as reader:
        again = embed_with_cache(embedder, TEXTS, session=reader)
    assert again.n_misses == 0
    np.testing.assert_array_equal(again.vectors, first.vectors)


def test_without_commit_nothing_persists(embedder: SentenceTransformerEmbedder, engine: Engine) -> None:
    with Session(engine) as writer:
        embed_with_cache(embedder, TEXTS[:1], session=writer)
        writer.rollback()
    with Session(engine) as reader:
        assert _row_count(reader) == 0


@pytest.mark.postgres
def test_put_many_and_get_many_on_postgresql(pg_engine: Engine) -> None:
    """Purpose: the dialect-specific ON CONFLICT DO NOTHING path and bytea storage on a real server."""
    cache = EmbeddingCache(batch_size=500)
    items = {text_hash(str(i)): np.full(3, i, dtype=np.float32) for i in range(1200)}
    with Session(pg_engine) as session:
        assert cache.put_many(session, MODEL, items) == 1200
        assert (
            cache.put_many(session, MODEL, {text_hash("0"): np.zeros(3), text_hash("new"): np.ones(3)}) == 1
        )
        session.commit()
    with Session(pg_engine) as session:
        found = cache.get_many(session, MODEL, [*items, text_hash("new")])
        assert len(found) == 1201
        np.testing.assert_array_equal(found[text_hash("0")], np.zeros(3))
        np.testing.assert_array_equal(found[text_hash("1199")], np.full(3, 1199))
        assert _row_count(session) == 1201


def _assert_conflicting_insert_is_ignored(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = EmbeddingCache()
    key = text_hash("raced")
    with Session(engine) as first:
        cache.put_many(first, MODEL, {key: np.ones(2)})
        first.commit()
    # A concurrent writer: its existence check ran before `first` committed, so it still inserts.
    monkeypatch.setattr(cache, "_existing", lambda *_args: set())
    with Session(engine) as second:
        cache.put_many(second, MODEL, {key: np.zeros(2)})
        second.commit()
    with Session(engine) as reader:
        np.testing.assert_array_equal(cache.get_many(reader, MODEL, [key])[key], np.ones(2))
        assert _row_count(reader) == 1


def test_conflicting_insert_is_ignored_on_sqlite(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Purpose: ON CONFLICT DO NOTHING, not the existence check, is what makes a race harmless."""
    _assert_conflicting_insert_is_ignored(engine, monkeypatch)


@pytest.mark.postgres
def test_conflicting_insert_is_ignored_on_postgresql(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Purpose: as on SQLite, with PostgreSQL's dialect-specific insert."""
    _assert_conflicting_insert_is_ignored(pg_engine, monkeypatch)
