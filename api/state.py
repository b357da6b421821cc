"""What the service builds at start-up and keeps on ``app.state``: the institution search index and the
matcher. Routes that change the catalogue call ``build_matcher`` again to swap in a fresh matcher.

Both indexes are saved to files (``api/index_store.py``) under a fingerprint of the catalogue columns they
are built from, the embedding model and the code that builds them; a start on an unchanged catalogue
loads them instead of reading and rebuilding. The fingerprint is computed by the database from the rows
themselves (``seed_data/fingerprint.py``), so any write, by whatever path (``db init``, ``import``, an
owner profile saved through the API or by hand), changes it and the saved index is rebuilt.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api import index_store
from api.db import database_problem
from embeddings.st import LazyEmbedder, load_embedder
from matcher.engine import INSTITUTION_COLUMNS, CatalogueIndex, EmbeddingStats, catalogue_fingerprint, load_refresh
from matcher.engine import load_index as load_matching_index
from matcher.suggest import Matcher
from seed_data.fingerprint import UnsupportedDialect, table_digests
from seed_data.search import SEARCH_COLUMNS, InstitutionIndex, read_search_rows, search_fingerprint

logger = logging.getLogger(__name__)

# One matcher rebuild at a time, process-wide (the profile route's and the change listener's): a rebuild that
# starts after a profile was saved sees it, so the last one to finish is never older than another.
REBUILD_LOCK = threading.Lock()


def _saved_path(app: FastAPI, kind: str) -> Path | None:
    directory = index_store.cache_dir(app.state.settings)
    if directory is None:
        return None
    return index_store.index_path(directory, kind, app.state.engine.url)


def build_indexes(app: FastAPI) -> None:
    """Start-up: the search index, then the matcher. The saved files are read in a thread while the
    database computes the fingerprints (read ahead, compared after), and one scan of the institution table
    serves both fingerprints."""
    search_path, matcher_path = _saved_path(app, "search"), _saved_path(app, "matcher")
    if search_path is None or matcher_path is None:
        build_search_index(app)
        build_matcher(app)
        return
    digests: list[str | None] = [None, None]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-read") as pool:
        reads = {"search": pool.submit(index_store.read, search_path),
                 "matcher": pool.submit(index_store.read, matcher_path)}
        try:
            with Session(app.state.engine) as session:
                digests = list(table_digests(session, "institution", [SEARCH_COLUMNS, INSTITUTION_COLUMNS],
                                             order_by=["id"]))
        except (SQLAlchemyError, UnsupportedDialect) as exc:  # build_search_index says what is missing
            logger.debug("no institution digests: %s", exc)
        # each taken out of ``reads`` where it is used, so a stale index read ahead is freed before the fresh
        # one is built
        build_search_index(app, institutions_digest=digests[0], read_ahead=reads)
        build_matcher(app, institutions_digest=digests[1], read_ahead=reads)


def build_search_index(app: FastAPI, *, institutions_digest: str | None = None,
                       read_ahead: dict[str, Future[tuple[str, Any] | None]] | None = None) -> None:
    """Put the index on ``app.state`` (loaded from its saved file when the catalogue is unchanged, else
    built and saved); on a database without the catalogue, leave it out and say why.

    ``institutions_digest``: the digest of the search columns, when the caller computed it already;
    ``read_ahead``: the saved files, by kind, when the caller started reading them already.
    """
    problem = database_problem(app.state.engine)  # schema not migrated, or a catalogue load not completed
    if problem is not None:
        app.state.index_problem = problem
        logger.error("not serving the catalogue: %s", problem)
        return
    started = time.perf_counter()
    try:
        with Session(app.state.engine) as session:
            def build() -> dict[str, Any]:
                return {"index": InstitutionIndex(read_search_rows(session=session)),
                        "built_at": dt.datetime.now(dt.UTC)}

            saved, origin = index_store.saved_or_built(
                app.state.settings, session, "search",
                fingerprint_of=lambda: search_fingerprint(session, institutions_digest=institutions_digest),
                current_fingerprint=lambda: search_fingerprint(session),
                build=build, worth_saving=lambda saved: bool(saved["index"].rows), read_ahead=read_ahead)
            index, built_at = saved["index"], saved["built_at"]
    except SQLAlchemyError as exc:
        app.state.index_problem = (
            "The database has no readable catalogue: run `partnermatch db init` and restart the service."
        )
        logger.error("could not build the institution index: %s", exc)
        return
    app.state.index = index
    app.state.index_built_at = built_at
    if not index.rows:
        app.state.index_problem = (
            "The catalogue is empty: run `partnermatch db init` and restart the service."
        )
        logger.warning("the database holds no institutions")
    logger.info("institution index: %d institutions, %s in %.1f s", len(index.rows), origin,
                time.perf_counter() - started)


def refreeze() -> float:
    """Collect all cyclic garbage, frozen or not, then freeze what is left out of the cyclic GC.

    Long-lived objects (the indexes: some 1.5 million; torch: some 10^5) are frozen so that the collector
    skips them, instead of stopping a request for a second each time it runs a full collection. But a frozen
    object is never examined again: one that later becomes garbage inside a reference cycle stays in memory
    for good. So everything is unfrozen and collected first (a fraction of a second, once per rebuild or
    model load), and garbage from before, such as cycles of a request in flight during the last freeze, goes.
    Returns the seconds it took (the collection holds the GIL: requests wait that long).
    """
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _release_free_heap()
    return time.perf_counter() - started


def _release_free_heap() -> None:
    """Hand the C heap's free memory back to the system (glibc only). glibc keeps what a freed index used in
    the heap of the thread that allocated it, and each rebuild runs in whichever thread is free; without
    this the resident size creeps up across rebuilds though nothing stays reachable."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to do
        return
    libc.malloc_trim(0)


def _freeze_once_loaded(embedder: LazyEmbedder) -> None:
    """Wait for the model (encoding one word: it also warms it up), then freeze what loading it made
    out of the cyclic GC too, as the indexes are (see build_matcher)."""
    try:
        embedder.encode_queries(["warm-up"])
    except RuntimeError as exc:  # the first request that needs the model reports it
        logger.warning("the embedding model did not load: %s", exc)
        return
    refreeze()
    logger.info("embedding model loaded")


def build_matcher(app: FastAPI, *, institutions_digest: str | None = None,
                  read_ahead: dict[str, Future[tuple[str, Any] | None]] | None = None) -> None:
    """Load the embedder (unless given) and the matching index: from its saved file when the catalogue,
    model and code are unchanged, else read and built (vectors missing from the cache are embedded and
    stored, so the next start embeds nothing) and saved for the next start.

    ``institutions_digest``: the digest of the matcher's institution columns, when the caller computed it
    already, and ``read_ahead`` the saved files being read, by kind (both at start-up); routes that changed the
    catalogue call this without them.
    """
    if app.state.index is None:
        return
    started = time.perf_counter()
    stats = EmbeddingStats()
    with Session(app.state.engine) as session:
        if app.state.embedder is None:
            app.state.embedder = load_embedder(app.state.settings.embedding_model, session=session)
        model_id = app.state.embedder.model_id

        def build() -> CatalogueIndex:
            built = load_matching_index(session=session, embedder=app.state.embedder, stats=stats)
            session.commit()  # the vectors embedded, stored for the next build
            return built

        index, origin = index_store.saved_or_built(
            app.state.settings, session, "matcher",
            fingerprint_of=lambda: catalogue_fingerprint(session, model_id=model_id,
                                                         institutions_digest=institutions_digest),
            current_fingerprint=lambda: catalogue_fingerprint(session, model_id=model_id),
            build=build, read_ahead=read_ahead)
        if origin != "built":
            logger.info("embeddings: 0 cached, 0 embedded (none looked up: the saved index holds the vectors)")
    first = app.state.matcher is None
    app.state.matcher = Matcher(index, app.state.embedder)
    if first and isinstance(app.state.embedder, LazyEmbedder):
        # only now: importing torch in a thread while the index is built would slow both (the GIL)
        app.state.embedder.start()
        threading.Thread(target=_freeze_once_loaded, args=(app.state.embedder,), name="embedder-freeze",
                         daemon=True).start()
    # The indexes live as long as this matcher: out of the cyclic GC with them (see refreeze). Nothing here
    # forms cycles, so a matcher swapped out is freed by reference counting; the lifespan unfreezes.
    collected_s = refreeze()
    logger.info("matching index: %s, %s; embeddings %d cached, %d embedded; %.1f s (garbage collection %.2f s)",
                index.stats, origin, stats.hits, stats.misses, time.perf_counter() - started, collected_s)


def rebuild_matcher(app: FastAPI) -> None:
    """Build a fresh matcher and swap it in, after any rebuild under way; a failure is logged (nobody waits
    for the answer) and the previous matcher keeps answering."""
    try:
        with REBUILD_LOCK:
            build_matcher(app)
    except Exception:
        logger.exception("rebuilding the matcher after a profile change failed; the previous one still answers")


def refresh_matcher(app: FastAPI, institution_ids: list[str]) -> str:
    """Swap in a matcher whose index differs from the current one only in the evidence of ``institution_ids``
    (their vectors, flags and area strengths, and the known-partnership edges): no full rebuild. Texts the
    cache lacks are embedded first (the new matcher answers from then on). An institution the index does not
    hold (new since the start) falls back to a full rebuild. Returns "updated", or "unchanged" without a
    matcher."""
    with REBUILD_LOCK:
        current = app.state.matcher
        if current is None:
            return "unchanged"
        new = [i for i in institution_ids if i not in current.index.row_of]
        if new:
            logger.info("institutions %s are new since the index was built: rebuilding it", new)
            build_matcher(app)
            return "updated"
        started = time.perf_counter()
        stats = EmbeddingStats()
        with Session(app.state.engine) as session:
            index = load_refresh(current.index, institution_ids, session=session, embedder=current.embedder,
                                 stats=stats)
            session.commit()  # the vectors embedded, cached
        app.state.matcher = Matcher(index, current.embedder)
        collected_s = refreeze()
    logger.info("matcher refreshed for %s: %d embedded, %d cached; %.2f s (garbage collection %.2f s)",
                institution_ids, stats.misses, stats.hits, time.perf_counter() - started, collected_s)
    return "updated"


def refresh_matcher_logged(app: FastAPI, institution_ids: list[str]) -> None:
    """:func:`refresh_matcher` in the background: a failure is logged and the previous matcher answers on."""
    try:
        refresh_matcher(app, institution_ids)
    except Exception:
        logger.exception("refreshing the matcher for %s failed; the previous one still answers", institution_ids)
