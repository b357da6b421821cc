"""Embedding cache: one row per (model identity, text hash), the vector stored as float32 bytes.

Library code here never creates engines or sessions and never commits: every function takes ``session``
keyword-only and the caller commits its unit of work (per request in the API, per batch in the CLI).
Until then, rows written by :meth:`EmbeddingCache.put_many` are visible only in that session.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Insert, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select

from embeddings.base import Embedder, EmbedKind, Float32Array

logger = logging.getLogger(__name__)

QUERY_NAMESPACE_SUFFIX = "#query"
"""Appended to ``model_id`` for query vectors (see :func:`cache_model_id`)."""

_VECTOR_DTYPE = np.dtype("<f4")  # float32 little-endian, whatever the host byte order


class EmbeddingVector(SQLModel, table=True):
    """A cached embedding.

    ``model_id`` is the embedder's identity (for query vectors, with :data:`QUERY_NAMESPACE_SUFFIX`);
    ``text_hash`` is :func:`text_hash` of the exact text; ``vector`` is ``dim`` float32 values,
    little-endian. Catalogue rows keep only the hash; vectors live here.
    """

    __tablename__ = "embedding_vector"

    model_id: str = Field(primary_key=True, max_length=255)
    text_hash: str = Field(primary_key=True, max_length=64)
    dim: int
    vector: bytes


def text_hash(text: str) -> str:
    """SHA-256 hex digest of the exact text, UTF-8 encoded (no normalisation: any change is a new text).

    Parameters
    ----------
    text : str
        The text as embedded.

    Returns
    -------
    str
        64 lower-case hex characters.

    Examples
    --------
    >>> text_hash("abc")
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_model_id(model_id: str, kind: EmbedKind) -> str:
    """The ``model_id`` under which vectors of ``kind`` are cached.

    Query vectors get their own namespace because an asymmetric model (one with a query prompt) encodes
    the same string differently as a query and as a document. For a symmetric model such as
    all-MiniLM-L6-v2 (``Embedder.symmetric``), :func:`embed_with_cache` reads a query's vector from the
    document namespace when the query namespace lacks it: the evaluation embeds thousands of project texts
    as requests, and the shipped document vectors serve them.

    Parameters
    ----------
    model_id : str
        ``Embedder.model_id``.
    kind : {"document", "query"}
        Side of the retrieval pair.

    Returns
    -------
    str
        ``model_id`` for documents, ``model_id + "#query"`` for queries.
    """
    if kind == "document":
        return model_id
    if kind == "query":
        return model_id + QUERY_NAMESPACE_SUFFIX
    raise ValueError(f"kind must be 'document' or 'query', got {kind!r}")


class EmbeddingCache:
    """Reads and writes :class:`EmbeddingVector` rows in batches.

    Parameters
    ----------
    batch_size : int, default 500
        Hashes per ``IN (...)`` query. SQLite before 3.32 allows 999 bound parameters per statement and
        PostgreSQL 65,535; 500 stays under both with room for the ``model_id`` parameter.
    """

    def __init__(self, *, batch_size: int = 500) -> None:
        self.batch_size = batch_size

    def get_many(self, session: Session, model_id: str, hashes: Iterable[str]) -> dict[str, Float32Array]:
        """Cached vectors for those of ``hashes`` that are in the cache.

        Parameters
        ----------
        session : Session
            Open session; nothing is committed.
        model_id : str
            Cache namespace (see :func:`cache_model_id`).
        hashes : iterable of str
            Text hashes; duplicates are fine.

        Returns
        -------
        dict of str to ndarray of shape (dim,), float32
            Only the hashes found. Each array is a fresh, writable copy.
        """
        found: dict[str, Float32Array] = {}
        for batch in _batches(list(dict.fromkeys(hashes)), self.batch_size):
            statement = select(EmbeddingVector.text_hash, EmbeddingVector.dim, EmbeddingVector.vector).where(
                EmbeddingVector.model_id == model_id, col(EmbeddingVector.text_hash).in_(batch)
            )
            for hash_, dim, raw in session.exec(statement):
                found[hash_] = _decode(raw, dim=dim, model_id=model_id, hash_=hash_)
        return found

    def put_many(self, session: Session, model_id: str, items: Mapping[str, np.ndarray]) -> int:
        """Insert vectors whose (model_id, hash) is not cached yet; existing rows are left unchanged.

        Insert-or-ignore, on SQLite and PostgreSQL with ``INSERT ... ON CONFLICT DO NOTHING`` (so a
        concurrent writer of the same row is not an error), elsewhere with check-then-insert.
        Does not commit: the caller does.

        Parameters
        ----------
        session : Session
            Open session.
        model_id : str
            Cache namespace (see :func:`cache_model_id`).
        items : mapping of str to ndarray of shape (dim,)
            Text hash to vector; converted to float32.

        Returns
        -------
        int
            Rows inserted: those not already cached when this call looked (a concurrent writer may
            make the true number smaller).
        """
        rows: list[dict[str, Any]] = []
        for hash_, vector in items.items():
            array = np.asarray(vector, dtype=_VECTOR_DTYPE)
            if array.ndim != 1 or array.size == 0:
                raise ValueError(f"vector for {hash_} must be 1-D and non-empty, got shape {array.shape}")
            rows.append(
                {"model_id": model_id, "text_hash": hash_, "dim": array.size, "vector": array.tobytes()}
            )
        if not rows:
            return 0
        existing = self._existing(session, model_id, [row["text_hash"] for row in rows])
        new_rows = [row for row in rows if row["text_hash"] not in existing]
        if not new_rows:
            return 0
        dialect = session.get_bind().dialect.name
        if dialect == "sqlite":
            statement: Insert = sqlite_insert(EmbeddingVector).on_conflict_do_nothing()
        elif dialect == "postgresql":
            statement = postgresql_insert(EmbeddingVector).on_conflict_do_nothing()
        else:
            # No portable insert-or-ignore; rows seen as missing above are inserted plainly.
            statement = insert(EmbeddingVector)
        # A list of parameter sets runs as executemany, which SQLAlchemy pages to the driver's limits.
        session.exec(statement, params=new_rows)
        logger.debug(
            "cached %d new vectors under %s (%d already there)", len(new_rows), model_id, len(existing)
        )
        return len(new_rows)

    def _existing(self, session: Session, model_id: str, hashes: Sequence[str]) -> set[str]:
        present: set[str] = set()
        for batch in _batches(hashes, self.batch_size):
            statement = select(EmbeddingVector.text_hash).where(
                EmbeddingVector.model_id == model_id, col(EmbeddingVector.text_hash).in_(batch)
            )
            present.update(session.exec(statement))
        return present


@dataclass(frozen=True)
class EmbedResult:
    """Output of :func:`embed_with_cache`.

    Attributes
    ----------
    vectors : ndarray of shape (n_texts, dim), float32
        Unit-length rows in the order of the input texts (duplicates repeated).
    n_hits : int
        Distinct texts found in the cache.
    n_misses : int
        Distinct texts embedded (and stored) by this call.
    """

    vectors: Float32Array
    n_hits: int
    n_misses: int


def embed_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    session: Session,
    kind: EmbedKind = "document",
    batch_size: int = 64,
    show_progress: bool | None = None,
    cache: EmbeddingCache | None = None,
) -> EmbedResult:
    """Vectors for ``texts``, from the cache where present, embedding and caching the rest.

    Each distinct text is looked up, and if missing embedded, once. New vectors are added to the
    session but not committed: commit to keep them (``with Session(engine) as s: ...; s.commit()``).

    Parameters
    ----------
    embedder : Embedder
        Supplies ``model_id`` (the cache namespace) and the encode methods.
    texts : sequence of str
        Texts in any order, duplicates allowed.
    session : Session
        Open session.
    kind : {"document", "query"}, default "document"
        Encode with ``encode_documents`` or ``encode_queries``; queries are cached under
        ``cache_model_id(embedder.model_id, "query")``.
    batch_size : int, default 64
        Passed to the embedder.
    show_progress : bool or None, default None
        Passed to the embedder.
    cache : EmbeddingCache or None, default None
        None uses ``EmbeddingCache()``.

    Returns
    -------
    EmbedResult
        Vectors of shape (n_texts, embedder.dim) and hit/miss counts over distinct texts.
    """
    namespace = cache_model_id(embedder.model_id, kind)
    cache = cache if cache is not None else EmbeddingCache()
    hashes = [text_hash(text) for text in texts]
    distinct = dict(zip(hashes, texts, strict=True))  # hash -> text, first occurrence order
    found = cache.get_many(session, namespace, distinct)
    unseen = [hash_ for hash_ in distinct if hash_ not in found]
    if kind == "query" and unseen and getattr(embedder, "symmetric", False):
        # a model without a query prompt encodes a query as it encodes a document: the document vectors
        # (the shipped ones among them) serve, instead of embedding thousands of texts again
        found.update(cache.get_many(session, cache_model_id(embedder.model_id, "document"), unseen))
    for hash_, vector in found.items():
        if vector.shape != (embedder.dim,):
            raise ValueError(
                f"cached vector {hash_} under {namespace} has shape {vector.shape}, "
                f"but the embedder's dim is {embedder.dim}"
            )
    missing = [hash_ for hash_ in distinct if hash_ not in found]
    if missing:
        encode = embedder.encode_queries if kind == "query" else embedder.encode_documents
        new_vectors = encode(
            [distinct[h] for h in missing], batch_size=batch_size, show_progress=show_progress
        )
        fresh = dict(zip(missing, new_vectors, strict=True))
        cache.put_many(session, namespace, fresh)
        found.update(fresh)
    logger.debug(
        "%d texts (%d distinct) under %s: %d cached, %d embedded",
        len(texts),
        len(distinct),
        namespace,
        len(distinct) - len(missing),
        len(missing),
    )
    if hashes:
        vectors = np.stack([found[hash_] for hash_ in hashes]).astype(np.float32, copy=False)
    else:
        vectors = np.empty((0, embedder.dim), dtype=np.float32)
    return EmbedResult(vectors=vectors, n_hits=len(distinct) - len(missing), n_misses=len(missing))


def _decode(raw: bytes, *, dim: int, model_id: str, hash_: str) -> Float32Array:
    if len(raw) != dim * _VECTOR_DTYPE.itemsize:
        raise ValueError(
            f"corrupt cache row ({model_id}, {hash_}): dim={dim} needs {dim * _VECTOR_DTYPE.itemsize} bytes, "
            f"got {len(raw)}"
        )
    return np.frombuffer(raw, dtype=_VECTOR_DTYPE).astype(np.float32)


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class EmbeddingModel(SQLModel, table=True):
    """The identity of a local model folder, remembered so a restart knows ``model_id`` without loading it.

    ``signature`` covers every file's path, size and modification time: any change to the folder means
    the model is loaded (and fingerprinted) again.
    """

    __tablename__ = "embedding_model"

    source: str = Field(primary_key=True, max_length=1000)
    signature: str = Field(max_length=64)
    model_id: str = Field(max_length=255)
    dim: int
