"""Saved indexes: the built search and matching indexes pickled to files, each under the fingerprint of what
it was built from, so a restart on an unchanged catalogue loads them instead of rebuilding them.

A file holds two pickles: a small header (format, fingerprint) and then the index. The header is read
first and the index unpickled only when the fingerprint matches, so a stale file costs a few bytes of
reading, never a wrong answer. Files are written under a temporary name and renamed, so another worker
never reads half a file. Unpickling runs code named in the file: the directory is the service's own
(under ``data/`` by default), and must not be writable by anyone the service does not trust.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import URL, make_url

from api.settings import REPO_ROOT, Settings

logger = logging.getLogger(__name__)

FORMAT = 1  # bump when the file layout (not the index) changes
INDEX_CACHE_DIRNAME = "index-cache"


def cache_dir(settings: Settings) -> Path | None:
    """Where saved indexes live: ``settings.index_cache_dir`` if set; else an ``index-cache`` folder next to
    a SQLite database file, or ``data/index-cache`` of the checkout for other databases; ``None`` (nothing
    saved) when ``settings.index_cache`` is off or the database lives in memory."""
    if not settings.index_cache:
        return None
    if settings.index_cache_dir is not None:
        return settings.index_cache_dir
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file::memory:"):
            return None
        return Path(url.database).resolve().parent / INDEX_CACHE_DIRNAME
    return REPO_ROOT / "data" / INDEX_CACHE_DIRNAME


def index_path(directory: Path, kind: str, database_url: str | URL) -> Path:
    """The file of index ``kind`` ("search", "matcher") for one database: databases sharing a folder keep
    apart (the fingerprint alone would already refuse another database's file, but they would overwrite
    each other's)."""
    rendered = make_url(database_url).render_as_string(hide_password=True)
    return directory / f"{kind}-{hashlib.sha256(rendered.encode('utf-8')).hexdigest()[:12]}.pickle"


def read(path: Path) -> tuple[str, Any] | None:
    """The fingerprint and index saved at ``path``, whatever catalogue they were built from (the caller
    compares); ``None`` (and why, logged) if the file is missing or unreadable.

    Start-up reads the file while the database computes the fingerprint (the two overlap: SQLite and
    PostgreSQL work without holding the GIL), and drops what it read when they differ.
    """
    try:
        with path.open("rb") as file:
            header = pickle.load(file)
            if header.get("format") != FORMAT:
                logger.info("saved index %s has another file format: rebuilding", path)
                return None
            return str(header["fingerprint"]), _load_payload(file)
    except FileNotFoundError:
        logger.info("no saved index at %s: building it", path)
    except Exception as exc:  # a damaged or incompatible file, whatever the error, means: rebuild
        logger.warning("saved index %s is unreadable (%s: %s): rebuilding", path, type(exc).__name__, exc)
    return None


def load(path: Path, fingerprint: str) -> Any | None:
    """The index saved at ``path`` if it was saved under ``fingerprint``; ``None`` (and why, logged) if the
    file is missing, stale or unreadable. Only the header is read from a stale file."""
    try:
        with path.open("rb") as file:
            header = pickle.load(file)
            if header.get("format") != FORMAT or header.get("fingerprint") != fingerprint:
                logger.info("saved index %s is stale (built from another catalogue or code): rebuilding", path)
                return None
            return _load_payload(file)
    except FileNotFoundError:
        logger.info("no saved index at %s: building it", path)
    except Exception as exc:  # a damaged or incompatible file, whatever the error, means: rebuild
        logger.warning("saved index %s is unreadable (%s: %s): rebuilding", path, type(exc).__name__, exc)
    return None


def _load_payload(file: BinaryIO) -> Any:
    # The cyclic garbage collector would run hundreds of times over the objects being created (it is
    # triggered by allocations) and triple the time; none of them can be garbage yet.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle.load(file)
    finally:
        if enabled:
            gc.enable()


def save(path: Path, fingerprint: str, index: Any) -> None:
    """Save ``index`` under ``fingerprint`` (atomically); a failure is logged, never raised: the service
    runs on without a saved index and builds it again at the next start."""
    temporary: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        temporary = Path(name)
        with os.fdopen(handle, "wb") as file:
            pickle.dump({"format": FORMAT, "fingerprint": fingerprint}, file, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(index, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except (OSError, pickle.PicklingError) as exc:
        logger.warning("could not save the index to %s: %s", path, exc)
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        return
    logger.info("index saved to %s (%.0f MB)", path, path.stat().st_size / 1e6)
