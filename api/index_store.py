"""Saved indexes: the built search and matching indexes pickled to files, each under the fingerprint of what
it was built from, so a restart on an unchanged catalogue loads them instead of rebuilding them.

A file holds two pickles: a small header (format, fingerprint) and then the index. The header is read
first and the index unpickled only when the fingerprint matches, so a stale file costs a few bytes of
reading, never a wrong answer. Files are written under a temporary name and renamed, so another worker
never reads half a file. Unpickling runs code named in the file: the directory is the service's own
(under ``data/`` by default), and must not be writable by anyone the service does not trust.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from sqlalchemy import URL, Engine, make_url
from sqlmodel import Session

from api.settings import REPO_ROOT, Settings
from embeddings.base import Embedder
from matcher.engine import CatalogueIndex, catalogue_fingerprint
from matcher.engine import load_index as load_matching_index
from seed_data.fingerprint import UnsupportedDialect, code_digest, combine
from seed_data.search import InstitutionIndex, read_search_rows, search_fingerprint

if TYPE_CHECKING:
    from matcher.quick_eval import ValidationSample

logger = logging.getLogger(__name__)
T = TypeVar("T")

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


def saved_or_built(settings: Settings, session: Session, kind: str, *, fingerprint_of: Callable[[], str],
                   build: Callable[[], T], worth_saving: Callable[[T], bool] = lambda _: True,
                   current_fingerprint: Callable[[], str] | None = None,
                   read_ahead: dict[str, Future[tuple[str, Any] | None]] | None = None) -> tuple[T, str]:
    """The object saved as ``kind`` for the database of ``session`` when ``fingerprint_of()`` (the digest of
    what it is built from) is unchanged, else ``build()``, saved for the next time if ``worth_saving`` it and
    nothing changed while it was built (else the file would hold newer rows under an older fingerprint).
    Returns it and where it came from ("loaded from PATH" or "built").

    ``current_fingerprint``: how to compute the fingerprint afresh after the build, when ``fingerprint_of``
    reuses a digest computed before (default: ``fingerprint_of``); ``read_ahead``: the saved files being
    read already, by kind (start-up); the one of ``kind`` is taken out, so that a stale one is freed before
    the fresh object is built."""
    ahead = None if read_ahead is None else read_ahead.pop(kind, None)
    directory = cache_dir(settings)
    path = None if directory is None else index_path(directory, kind, session.get_bind().engine.url)
    fingerprint = None
    if path is not None:
        try:
            fingerprint = fingerprint_of()
        except UnsupportedDialect as exc:
            logger.warning("the %s index is built every time: %s", kind, exc)
    if path is not None and fingerprint is not None:
        saved = _saved(path, fingerprint, ahead)
        if saved is not None:
            return saved, f"loaded from {path}"
    ahead = None  # a stale file read ahead is freed before the fresh object is built
    built = build()
    if path is not None and fingerprint is not None and worth_saving(built):
        if (current_fingerprint or fingerprint_of)() == fingerprint:
            save(path, fingerprint, built)
        else:
            logger.info("the catalogue changed while the %s index was built: not saved", kind)
    return built, "built"


def _saved(path: Path, fingerprint: str, read_ahead: Future[tuple[str, Any] | None] | None) -> Any | None:
    """The object saved at ``path`` under ``fingerprint``, from the read-ahead when there is one."""
    if read_ahead is None:
        return load(path, fingerprint)
    saved = read_ahead.result()
    if saved is None:
        return None
    if saved[0] != fingerprint:
        logger.info("saved index %s is stale (built from another catalogue or code): rebuilding", path)
        return None
    return saved[1]


def search_index(settings: Settings, session: Session) -> InstitutionIndex:
    """The institution search index, saved or built as the service does at start-up (api/state.py: the
    same file), for commands that search outside it."""
    def build() -> dict[str, Any]:
        return {"index": InstitutionIndex(read_search_rows(session=session)), "built_at": dt.datetime.now(dt.UTC)}

    saved, _ = saved_or_built(settings, session, "search", fingerprint_of=lambda: search_fingerprint(session),
                              build=build, worth_saving=lambda saved: bool(saved["index"].rows))
    index: InstitutionIndex = saved["index"]
    return index


def matching_index(settings: Settings, session: Session, embedder: Embedder) -> tuple[CatalogueIndex, str]:
    """The matching index of the catalogue in ``session``, saved or built as the service does at start-up
    (api/state.py: the same file), for commands that rank outside it: vectors the cache lacks are embedded
    and stored (the caller commits). Returns the index and where it came from."""
    return saved_or_built(settings, session, "matcher",
                          fingerprint_of=lambda: catalogue_fingerprint(session, model_id=embedder.model_id),
                          build=lambda: load_matching_index(session=session, embedder=embedder))


def _sample_fingerprint(session: Session, embedder: Embedder) -> str:
    """What a validation sample is made from: the catalogue the matcher reads (with the model and the
    index code), the evaluation code on top, and the sample's parameters."""
    from matcher import components, evaluation, metrics, quick_eval, ranking, suggest

    return combine(catalogue_fingerprint(session, model_id=embedder.model_id),
                   code_digest(quick_eval, evaluation, components, metrics, ranking, suggest),
                   repr((quick_eval.DEFAULT_N_QUERIES, 0, evaluation.VALIDATION_CUTOFF, evaluation.VALIDATION_UNTIL)))


def validation_sample(settings: Settings, engine: Engine, embedder: Embedder) -> ValidationSample:
    """The validation sample of ``POST /weights/estimate`` for the catalogue in ``engine``: loaded from its
    saved file (a fraction of a second) when catalogue, model and code are unchanged, else built (some 12 s
    on the shipped catalogue) and saved next to the saved indexes. ``EmptyEvaluation`` when the catalogue
    has no validation query."""
    # imported here: scikit-learn takes seconds to import, and the CLI imports this module for `suggest`
    from matcher.quick_eval import build_validation_sample

    with Session(engine) as session:
        sample, _ = saved_or_built(settings, session, "validation-sample",
                                   fingerprint_of=lambda: _sample_fingerprint(session, embedder),
                                   build=lambda: build_validation_sample(session=session, embedder=embedder))
        session.commit()  # vectors the cache lacked (none, normally)
    return sample
