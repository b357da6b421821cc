"""What the service builds at start-up and keeps on ``app.state``: the institution search index and the
matcher. Routes that change the catalogue call ``build_matcher`` again to swap in a fresh matcher."""

from __future__ import annotations

import datetime as dt
import logging
import time

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from embeddings.st import LazyEmbedder, load_embedder
from matcher.engine import EmbeddingStats
from matcher.engine import load_index as load_matching_index
from matcher.suggest import Matcher
from seed_data.search import InstitutionIndex, read_search_rows

logger = logging.getLogger(__name__)


def load_index(engine: Engine) -> InstitutionIndex:
    """The search index over every institution in the database (reads only the columns search needs)."""
    with Session(engine) as session:
        return InstitutionIndex(read_search_rows(session=session))


def build_search_index(app: FastAPI) -> None:
    """Put the index on ``app.state``; on a database without the catalogue, leave it out and say why."""
    started = time.perf_counter()
    try:
        index = load_index(app.state.engine)
    except SQLAlchemyError as exc:
        app.state.index_problem = (
            "The database has no readable catalogue: run `partnermatch db init` and restart the service."
        )
        logger.error("could not build the institution index: %s", exc)
        return
    app.state.index = index
    app.state.index_built_at = dt.datetime.now(dt.UTC)
    if not index.rows:
        app.state.index_problem = (
            "The catalogue is empty: run `partnermatch db init` and restart the service."
        )
        logger.warning("the database holds no institutions")
    logger.info(
        "institution index: %d institutions in %.1f s", len(index.rows), time.perf_counter() - started
    )


def build_matcher(app: FastAPI) -> None:
    """Load the embedder (unless given) and the matching index; vectors missing from the cache are embedded
    and stored, so the next start embeds nothing."""
    if app.state.index is None:
        return
    started = time.perf_counter()
    stats = EmbeddingStats()
    with Session(app.state.engine) as session:
        if app.state.embedder is None:
            app.state.embedder = load_embedder(app.state.settings.embedding_model, session=session)
        index = load_matching_index(session=session, embedder=app.state.embedder, stats=stats)
        session.commit()
    app.state.matcher = Matcher(index, app.state.embedder)
    if isinstance(app.state.embedder, LazyEmbedder):
        # only now: importing torch in a thread while the index is built would slow both (the GIL)
        app.state.embedder.start()
    app.state.embedding_stats = stats
    logger.info("matching index: %s; embeddings %d cached, %d embedded; %.1f s", index.stats, stats.hits,
                stats.misses, time.perf_counter() - started)
