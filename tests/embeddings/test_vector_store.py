"""Shipped vector files: float16 round trip, byte-identical saves, seeding the cache."""

from __future__ import annotations

import logging
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session

from embeddings.cache import EmbeddingCache, embed_with_cache, text_hash
from embeddings.st import SentenceTransformerEmbedder
from embeddings.store import load_vector_file, save_vector_file, seed_cache_from_file

TEXTS = [
    "water purification membranes",
    "desalination and wastewater treatment",
    "medieval poetry",
    "seismic hazard mapping in the Tian Shan",
    "machine translation for the Kazakh language",
    "lithium battery recycling and circular economy",
    "Erasmus+ capacity building in higher education. " * 40,  # long: chunked
]


@pytest.fixture(scope="module")
def real_vectors(embedder: SentenceTransformerEmbedder) -> tuple[list[str], np.ndarray]:
    return [text_hash(t) for t in TEXTS], embedder.encode_documents(TEXTS)


def _unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_round_trip_keeps_ids_and_vectors_within_float16_precision(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, real_vectors: tuple[list[str], np.ndarray]
) -> None:
    hashes, vectors = real_vectors
    path = tmp_path / "vectors.npz"

    save_vector_file(path, model_id=embedder.model_id, hashes=hashes, vectors=vectors)
    loaded = load_vector_file(path)

    assert loaded.model_id == embedder.model_id
    assert loaded.hashes == sorted(hashes)
    restored = loaded.vectors[[loaded.hashes.index(h) for h in hashes]]
    assert restored.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(restored, axis=1), 1.0, atol=1e-6)
    # Bounds of the size measured in embeddings/store.py's docstring (6.6e-5, 1.8e-7, 8.1e-5).
    assert np.abs(restored - vectors).max() < 2e-4
    assert ((restored * vectors).sum(axis=1) > 1 - 1e-6).all()
    assert np.abs(restored @ restored.T - vectors @ vectors.T).max() < 3e-4


def test_file_is_a_plain_npz_with_float16_vectors(tmp_path: Path) -> None:
    path = tmp_path / "vectors.npz"
    save_vector_file(path, model_id="m@0", hashes=[text_hash("a"), text_hash("b")], vectors=_unit_rows(2, 8))
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["format_version", "hashes", "model_id", "vectors"]
        assert archive["vectors"].dtype == np.float16
        assert archive["hashes"].shape == (2, 32)


def test_saving_is_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Purpose: np.savez stamps zip entries with the wall clock; our file must not depend on it,
    nor on the order the rows come in."""
    hashes = [text_hash(str(i)) for i in range(50)]
    vectors = _unit_rows(50, 384)
    first, second, shuffled = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"

    save_vector_file(first, model_id="m@0", hashes=hashes, vectors=vectors)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86_400 * 400)  # a later day, a later year
    save_vector_file(second, model_id="m@0", hashes=hashes, vectors=vectors)
    order = np.random.default_rng(1).permutation(50)
    save_vector_file(shuffled, model_id="m@0", hashes=[hashes[i] for i in order], vectors=vectors[order])

    assert first.read_bytes() == second.read_bytes() == shuffled.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert not list(tmp_path.glob("*.partial"))


def test_a_changed_vector_changes_the_file(tmp_path: Path) -> None:
    hashes = [text_hash(str(i)) for i in range(3)]
    vectors = _unit_rows(3, 16)
    save_vector_file(tmp_path / "a.npz", model_id="m@0", hashes=hashes, vectors=vectors)
    vectors[1] = -vectors[1]
    save_vector_file(tmp_path / "b.npz", model_id="m@0", hashes=hashes, vectors=vectors)
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "b.npz").read_bytes()


@pytest.mark.parametrize(
    ("hashes", "vectors", "message"),
    [
        ([text_hash("a")], np.ones((2, 4)), "shape"),
        (["not-a-hash"], np.ones((1, 4)), "64 lower-case hex"),
        ([text_hash("a")] * 2, np.ones((2, 4)), "distinct"),
        ([text_hash("a")], np.full((1, 4), np.nan), "NaN"),
    ],
)
def test_save_rejects_bad_input(tmp_path: Path, hashes: list[str], vectors: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        save_vector_file(tmp_path / "x.npz", model_id="m@0", hashes=hashes, vectors=vectors)


def test_seeding_fills_the_cache_for_the_same_model(
    tmp_path: Path,
    session: Session,
    embedder: SentenceTransformerEmbedder,
    real_vectors: tuple[list[str], np.ndarray],
) -> None:
    hashes, vectors = real_vectors
    path = tmp_path / "vectors.npz"
    save_vector_file(path, model_id=embedder.model_id, hashes=hashes, vectors=vectors)
    cache = EmbeddingCache()

    assert seed_cache_from_file(path, session=session, cache=cache, model_id=embedder.model_id) == len(TEXTS)
    assert seed_cache_from_file(path, session=session, cache=cache, model_id=embedder.model_id) == 0

    result = embed_with_cache(embedder, TEXTS, session=session)
    assert (result.n_hits, result.n_misses) == (len(TEXTS), 0)
    np.testing.assert_allclose(result.vectors, vectors, atol=2e-4)


def test_a_file_for_another_model_inserts_nothing(
    tmp_path: Path,
    session: Session,
    embedder: SentenceTransformerEmbedder,
    real_vectors: tuple[list[str], np.ndarray],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hashes, vectors = real_vectors
    path = tmp_path / "vectors.npz"
    save_vector_file(path, model_id="some-other-model@0123456789abcdef", hashes=hashes, vectors=vectors)
    cache = EmbeddingCache()

    with caplog.at_level(logging.WARNING, logger="embeddings.store"):
        inserted = seed_cache_from_file(path, session=session, cache=cache, model_id=embedder.model_id)

    assert inserted == 0
    assert cache.get_many(session, embedder.model_id, hashes) == {}
    assert "some-other-model@0123456789abcdef" in caplog.text
    assert embedder.model_id in caplog.text


def test_load_rejects_another_format_version(tmp_path: Path) -> None:
    path = tmp_path / "future.npz"
    np.savez(
        path,
        format_version=np.array(99),
        model_id=np.array("m"),
        hashes=np.zeros((0, 32), np.uint8),
        vectors=np.zeros((0, 4), np.float16),
    )
    with pytest.raises(ValueError, match="format 99"):
        load_vector_file(path)
