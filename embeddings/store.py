"""Vector files: precomputed embeddings shipped with the catalogue, so a fresh install need not embed.

A vector file is an ``.npz`` archive (readable with ``np.load``) holding ``format_version``, ``model_id``,
``hashes`` (raw SHA-256 digests, ``(n, 32)`` uint8) and ``vectors`` (``(n, dim)`` float16). Rows are sorted
by hash, and the zip is written with fixed metadata, so the same hash -> vector mapping always gives the
same bytes (a re-generated file shows no diff in version control unless a vector changed).

Precision: float16 halves the file (about 0.74 kB per 384-d vector after deflate, ~14 MB for 19k texts).
Measured on 2,000 all-MiniLM-L6-v2 vectors (1,000 ~80-character and 1,000 ~1,800-character texts, from
``bench/embed_throughput.py``'s generators): after float16 -> float32 and re-normalising, the largest
per-component error is 6.6e-5, every vector's cosine with its float32 original is >= 0.9999998
(1 - cos <= 1.8e-7, float32 round-off level), and pairwise cosine similarities move by at most 8.1e-5
(mean 9.9e-6): far below the score gaps that order a ranking. ``tests/embeddings/test_vector_store.py``
asserts bounds of this size on real vectors.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlmodel import Session

from embeddings.base import Float32Array
from embeddings.cache import EmbeddingCache

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1

# np.savez stamps each zip entry with the current time; a fixed stamp (the earliest a zip can hold), host
# system and permissions make equal input give equal bytes. Deflate output is fixed for a given zlib
# build; a different zlib (e.g. zlib-ng) may compress differently but reads back identically.
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP_CREATE_SYSTEM_UNIX = 3
_ZIP_FILE_MODE = 0o644 << 16
_DIGEST_BYTES = 32
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class VectorFile:
    """Contents of a vector file.

    Attributes
    ----------
    model_id : str
        ``Embedder.model_id`` of the model that made the vectors.
    hashes : list of str
        Text hashes (SHA-256 hex), sorted.
    vectors : ndarray of shape (n_texts, dim), float32
        Unit-length rows aligned with ``hashes``.
    """

    model_id: str
    hashes: list[str]
    vectors: Float32Array


def save_vector_file(
    path: str | os.PathLike[str], *, model_id: str, hashes: Sequence[str], vectors: np.ndarray
) -> None:
    """Write vectors to ``path`` deterministically, as float16.

    The file is written next to ``path`` and renamed into place, so readers never see half a file.

    Parameters
    ----------
    path : str or PathLike
        Destination, conventionally ``*.npz``; overwritten.
    model_id : str
        ``Embedder.model_id`` of the model that made the vectors.
    hashes : sequence of str
        Distinct SHA-256 hex text hashes, one per row of ``vectors``.
    vectors : ndarray of shape (n_texts, dim)
        Finite vectors; stored rounded to float16, rows sorted by hash.

    Raises
    ------
    ValueError
        On a shape mismatch, a malformed or duplicate hash, or a non-finite value.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(hashes):
        raise ValueError(f"vectors must have shape ({len(hashes)}, dim), got {vectors.shape}")
    bad = [h for h in hashes if not isinstance(h, str) or not _SHA256_HEX.fullmatch(h)]
    if bad:
        raise ValueError(f"hashes must be 64 lower-case hex characters (sha256), got e.g. {bad[0]!r}")
    if len(set(hashes)) != len(hashes):
        raise ValueError(f"hashes must be distinct; {len(hashes) - len(set(hashes))} duplicates")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors contain NaN or infinity")

    order = np.argsort(np.asarray(hashes), kind="stable")
    digests = np.frombuffer(bytes.fromhex("".join(hashes[i] for i in order)), dtype=np.uint8)
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype="<i4"),
        "model_id": np.array(model_id),
        "hashes": digests.reshape(len(hashes), _DIGEST_BYTES),
        "vectors": vectors[order].astype("<f2"),
    }
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _ZIP_CREATE_SYSTEM_UNIX
            info.external_attr = _ZIP_FILE_MODE
            archive.writestr(info, buffer.getvalue())
    os.replace(partial, target)
    logger.info("wrote %d vectors of %s to %s", len(hashes), model_id, target)


def load_vector_file(path: str | os.PathLike[str]) -> VectorFile:
    """Read a file written by :func:`save_vector_file`.

    Parameters
    ----------
    path : str or PathLike
        The ``.npz`` file.

    Returns
    -------
    VectorFile
        Vectors restored to float32 and re-normalised to unit length (see the module docstring for the
        precision lost to float16).

    Raises
    ------
    ValueError
        If the file has another format version or inconsistent arrays.
    """
    with np.load(path, allow_pickle=False) as archive:
        version = int(archive["format_version"])
        if version != FORMAT_VERSION:
            raise ValueError(f"{path}: vector file format {version}, this code reads {FORMAT_VERSION}")
        model_id = str(archive["model_id"][()])
        digests = archive["hashes"]
        stored = archive["vectors"]
    if (
        digests.ndim != 2
        or digests.shape[1] != _DIGEST_BYTES
        or stored.ndim != 2
        or len(stored) != len(digests)
    ):
        raise ValueError(f"{path}: inconsistent arrays, hashes {digests.shape}, vectors {stored.shape}")
    hex_digests = digests.tobytes().hex()
    step = 2 * _DIGEST_BYTES
    hashes = [hex_digests[i : i + step] for i in range(0, len(hex_digests), step)]
    vectors = stored.astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.where(norms > 0, norms, 1.0).astype(np.float32)
    return VectorFile(model_id=model_id, hashes=hashes, vectors=vectors)


def seed_cache_from_file(
    path: str | os.PathLike[str], *, session: Session, cache: EmbeddingCache, model_id: str
) -> int:
    """Copy a vector file into the cache if it was made by the running model.

    Nothing is inserted when the file's ``model_id`` differs from ``model_id`` (other weights,
    tokenizer or chunking would give other vectors); the reason is logged at WARNING. Rows already
    cached are left as they are. Does not commit: the caller does.

    Parameters
    ----------
    path : str or PathLike
        File written by :func:`save_vector_file`.
    session : Session
        Open session.
    cache : EmbeddingCache
        Cache to fill.
    model_id : str
        ``Embedder.model_id`` of the running model (document namespace).

    Returns
    -------
    int
        Rows inserted.
    """
    shipped = load_vector_file(path)
    if shipped.model_id != model_id:
        logger.warning(
            "not seeding the embedding cache from %s: it holds vectors of %r, the running model is %r",
            path,
            shipped.model_id,
            model_id,
        )
        return 0
    inserted = cache.put_many(session, model_id, dict(zip(shipped.hashes, shipped.vectors, strict=True)))
    logger.info(
        "seeded %d vectors from %s (%d of %d were cached already)",
        inserted,
        path,
        len(shipped.hashes) - inserted,
        len(shipped.hashes),
    )
    return inserted
