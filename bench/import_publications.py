"""Throughput of an office's publication import: a 5,000-record RIS file read, planned, written.

The RIS file is synthetic BENCHMARK INPUT, written to a temporary folder and deleted afterwards, never shipped
as data: each record takes the title, objective (as abstract), keywords and start year of a Horizon Europe project
in the shipped catalogue (``seed_data/data/projects.jsonl.gz``), a made-up DOI under the 10.5555 test prefix for
four records in five (the rest have none, as in real exports), and a note that says it is benchmark input. One
record in fifty repeats an earlier one (same DOI, or same title without DOI) so that merging has work to do.

Stages, each timed and reported in records per second:

- parse: ``seed_data.publications.read_publications`` (rispy and the record checks);
- plan: ``seed_data.evidence_import.plan_publications`` (parse again, merge duplicates, ids, texts, compare with
  the database);
- apply+commit: ``apply_plan`` and the commit, into a throw-away SQLite database made as ``partnermatch db init``
  makes one (migrations, then a catalogue load: the test suite's mini catalogue, or ``--catalogue DIR``);
- re-plan: the same file planned again, every record now unchanged.

With ``--until-suggestions`` (it needs the shipped catalogue: ``--catalogue seed_data/data``), the time until the
import shows in suggestions, as the API does it: the matching index is built first (the shipped vectors
seeded, as ``db init`` does), then after the import ``matcher.engine.load_refresh`` embeds the new texts and
refreshes the institution in place; a full rebuild of the index afterwards (every vector cached by then) is the
baseline the refresh replaces. It checks that the institution's vector and its suggestions changed.

    .venv/bin/python bench/import_publications.py [--records 5000] [--catalogue seed_data/data]
    .venv/bin/python bench/import_publications.py --catalogue seed_data/data --until-suggestions

Exits 1 if a stage measured nothing (no records, or no time).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from api.db import make_engine, migrate  # noqa: E402
from seed_data import files  # noqa: E402
from seed_data.crud import EVIDENCE_ITEMS_FILE, PARTNERSHIPS_FILE, load_catalogue  # noqa: E402
from seed_data.evidence_import import apply_plan, plan_publications  # noqa: E402
from seed_data.files import DATA_DIR  # noqa: E402
from seed_data.publications import read_publications  # noqa: E402
from seed_data.tables import utc_now  # noqa: E402

logger = logging.getLogger("bench.import_publications")

INSTITUTION = "pic-953676162"  # Nazarbayev University: in the mini catalogue and in the shipped one
NOTE = "partnermatch benchmark input: synthetic record built from a CORDIS project text, not a publication"
DUPLICATE_EVERY = 50
NO_DOI_EVERY = 5


def _projects(path: Path) -> Iterator[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            project = json.loads(line)
            if project.get("title") and project.get("objective") and project.get("start_date"):
                yield project


def benchmark_ris(n: int, projects_file: Path) -> str:
    """``n`` RIS records of benchmark input (see the module docstring)."""
    records: list[str] = []
    source = _projects(projects_file)
    for number in range(1, n + 1):
        if number % DUPLICATE_EVERY == 0:
            records.append(records[number // 2 - 1])  # a repeat of an earlier record
            continue
        project = next(source)
        lines = ["TY  - JOUR", f"TI  - {project['title']}", f"PY  - {str(project['start_date'])[:4]}",
                 "T2  - partnermatch benchmark input", f"AB  - {' '.join(str(project['objective']).split())}"]
        lines += [f"KW  - {keyword}" for keyword in project.get("keywords") or []]  # type: ignore[attr-defined]
        if number % NO_DOI_EVERY:
            lines.append(f"DO  - 10.5555/partnermatch-bench.{number}")
        lines += [f"N1  - {NOTE}", "ER  - "]
        records.append("\n".join(lines))
    return "\n\n".join(records) + "\n"


def _catalogue(folder: Path) -> Path:
    """The test suite's mini catalogue (three real universities, two real projects) in ``folder``."""
    from tests.factories import write_mini_catalogue

    write_mini_catalogue(folder)
    for name in (EVIDENCE_ITEMS_FILE, PARTNERSHIPS_FILE):
        if not (folder / name).exists():
            files.write_jsonl_gz(folder / name, [])
    return folder


def _rate(label: str, records: int, seconds: float, results: dict[str, float]) -> None:
    rate = records / seconds if seconds > 0 else 0.0
    results[label] = rate
    logger.info("%-14s %6d records in %7.3f s = %9.0f records/s", label, records, seconds, rate)


def _matching_index(engine: Engine, catalogue: Path) -> tuple[Any, Any]:
    """The embedder and the matching index of the loaded catalogue, the shipped vectors seeded first."""
    from embeddings.cache import EmbeddingCache
    from embeddings.st import SentenceTransformerEmbedder
    from embeddings.store import seed_cache_from_file
    from matcher.engine import load_index

    embedder = SentenceTransformerEmbedder()
    with Session(engine) as session:
        seed_cache_from_file(catalogue / "vectors.npz", session=session, cache=EmbeddingCache(),
                             model_id=embedder.model_id)
        session.commit()
        started = time.perf_counter()
        index = load_index(session=session, embedder=embedder)
        session.commit()
    logger.info("%-14s the shipped catalogue's matching index in %.1f s", "index", time.perf_counter() - started)
    return embedder, index


def _until_suggestions(engine: Engine, embedder: Any, index: Any, results: dict[str, float]) -> bool:
    """Refresh the institution in place after the import, as the API does; then a full rebuild as the baseline.
    False (logged) if the refresh changed nothing a suggestion reads."""
    from matcher.engine import EmbeddingStats, load_index, load_refresh
    from matcher.suggest import Matcher
    from matcher.types import ScoringProfile, SuggestionRequest

    request = SuggestionRequest(requester_id=INSTITUTION, programme="horizon-europe", areas=["ai"], k=10)
    profile = ScoringProfile.model_validate({"weights": {"thematic": 0.4, "area_fit": 0.2, "complementarity": 0.1,
                                                         "track_record": 0.2, "network": 0.1}})
    before = Matcher(index, embedder).suggest(request, profile)
    stats = EmbeddingStats()
    with Session(engine) as session:
        started = time.perf_counter()
        refreshed = load_refresh(index, [INSTITUTION], session=session, embedder=embedder, stats=stats)
        session.commit()
        seconds = time.perf_counter() - started
    _rate("refresh", stats.misses, seconds, results)
    logger.info("%14s %d texts embedded, %d cached: the import shows in suggestions %.1f s after the commit", "",
                stats.misses, stats.hits, seconds)
    with Session(engine) as session:  # the same refresh again, every text cached: what it costs besides embedding
        started = time.perf_counter()
        load_refresh(index, [INSTITUTION], session=session, embedder=embedder)
        cached_s = time.perf_counter() - started
    logger.info("%14s the same refresh with every text cached: %.2f s", "", cached_s)
    after = Matcher(refreshed, embedder).suggest(request, profile)
    row = index.row_of[INSTITUTION]
    if (refreshed.vectors[row] == index.vectors[row]).all() or after.data == before.data:
        logger.error("the refresh changed neither the institution's vector nor its suggestions")
        return False
    with Session(engine) as session:
        started = time.perf_counter()
        load_index(session=session, embedder=embedder)
        seconds = time.perf_counter() - started
    _rate("full rebuild", index.n, seconds, results)
    logger.info("%14s baseline: a full rebuild of the index (every vector cached) takes %.1f s", "", seconds)
    return True


def main() -> int:
    """Run the benchmark; print one line per stage; 1 if a stage measured nothing."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--catalogue", type=Path, default=None,
                        help="Catalogue folder to load (default: the test suite's mini catalogue).")
    parser.add_argument("--projects", type=Path, default=DATA_DIR / "projects.jsonl.gz",
                        help="Where the benchmark input's texts come from.")
    parser.add_argument("--until-suggestions", action="store_true",
                        help="Also time the matcher refresh until the import shows in suggestions.")
    args = parser.parse_args()
    if args.until_suggestions and args.catalogue is None:
        parser.error("--until-suggestions needs --catalogue seed_data/data (the institution's neighbours matter)")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    for noisy in ("seed_data", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="partnermatch-bench-import-") as tmp:
        folder = Path(tmp)
        ris = benchmark_ris(args.records, args.projects).encode("utf-8")
        (folder / "benchmark_input.ris").write_bytes(ris)
        logger.info("benchmark input: %d RIS records, %.1f MB (synthetic, deleted afterwards)", args.records,
                    len(ris) / 1e6)

        started = time.perf_counter()
        parsed = read_publications(ris, fmt="ris")
        _rate("parse", len(parsed), time.perf_counter() - started, results)

        engine = make_engine(f"sqlite:///{folder / 'bench.sqlite3'}")
        migrate(engine)
        catalogue = args.catalogue or _catalogue(folder / "catalogue")
        with Session(engine) as session:
            load_catalogue(session=session, data_dir=catalogue)
        matching = _matching_index(engine, catalogue) if args.until_suggestions else None
        with Session(engine) as session:
            started = time.perf_counter()
            plan = plan_publications(session=session, institution_id=INSTITUTION, data=ris,
                                     filename="benchmark_input.ris", fmt=None, allowed=None)
            _rate("plan", plan.read, time.perf_counter() - started, results)
            logger.info("%14s counts: %s", "", plan.counts())
            started = time.perf_counter()
            apply_plan(session=session, plan=plan, key_id=None, now=utc_now())
            session.commit()
            _rate("apply+commit", plan.added, time.perf_counter() - started, results)
        if matching is not None and not _until_suggestions(engine, *matching, results):
            return 1
        with Session(engine) as session:
            started = time.perf_counter()
            again = plan_publications(session=session, institution_id=INSTITUTION, data=ris,
                                      filename="benchmark_input.ris", fmt=None, allowed=None)
            _rate("re-plan", again.read, time.perf_counter() - started, results)
            if again.unchanged != plan.added:
                logger.error("re-import not idempotent: %s", again.counts())
                return 1
        engine.dispose()
    if len(results) < 4 + 2 * args.until_suggestions or not all(results.values()):
        logger.error("a stage measured nothing")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
