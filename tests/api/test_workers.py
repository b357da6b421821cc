"""``partnermatch serve --workers 2``: new connections are spread over the workers.

Issue 13, finding 12: the workers shared one listening socket, and each worker's event loop, once woken,
accepts every connection waiting; the same worker woke first every time, so all connections (kept alive by
the clients) landed on it and the other worker idled. Each worker now listens on its own socket
(``SO_REUSEPORT``) and the kernel spreads new connections over them.

Which worker holds a connection is read from ``/proc`` (the socket's inode among the worker's open files),
so the service is observed as it runs, with nothing added to it for the test.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from api.db import make_engine, migrate
from embeddings.st import SentenceTransformerEmbedder, load_embedder
from matcher.engine import load_index
from tests.api.live_server import any_free_port, partnermatch_command

from .conftest import fill

START_TIMEOUT_S = 180
N_CONNECTIONS = 32
pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads connections from Linux's /proc")


class Served:
    """A ``serve --workers 2`` process and the lines it logs."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process, self.port = process, port
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def worker_pids(self) -> list[int]:
        return [int(pid) for line in self.lines for pid in re.findall(r"Started server process \[(\d+)\]", line)]

    def wait_started(self, n_workers: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while sum("Application startup complete" in line for line in self.lines) < n_workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the workers did not start:\n" + "".join(self.lines[-40:]))
            time.sleep(0.2)


@pytest.fixture
def served(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'pm.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    fill(engine)
    with Session(engine) as session:  # the model remembered and every vector cached, as `db init` leaves them
        load_embedder(None, session=session)
        load_index(session=session, embedder=embedder)
        session.commit()
    engine.dispose()
    port = any_free_port()
    env = {**os.environ, "PARTNERMATCH_DATABASE_URL": url, "HF_HUB_OFFLINE": "1", "PARTNERMATCH_INDEX_CACHE": "false"}
    env.pop("DATABASE_URL", None)
    command = [*partnermatch_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
               "--no-access-log"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield Served(process, port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _established(port: int) -> dict[int, int]:
    """Server-side sockets of connections to ``port`` on 127.0.0.1: inode -> the client's port."""
    sockets = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = (int(address.split(":")[1], 16) for address in fields[1:3])
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            sockets[int(fields[9])] = remote_port
    return sockets


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def test_connections_are_spread_over_the_workers(served: Served) -> None:
    served.wait_started(2)
    workers = served.worker_pids()
    assert len(workers) == 2
    clients = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(N_CONNECTIONS)]
    try:
        for client in clients:  # one request on each: answered, so accepted by a worker
            client.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            assert client.recv(65536).startswith(b"HTTP/1.1 ")
        server_side = _established(served.port)
        ours = {client.getsockname()[1] for client in clients}
        held = Counter({pid: sum(server_side.get(inode) in ours for inode in _socket_inodes(pid)) for pid in workers})
    finally:
        for client in clients:
            client.close()
    assert sum(held.values()) == N_CONNECTIONS
    # Spread by a hash of each connection: all 32 on one worker would happen once in 2^31 runs.
    assert min(held.values()) > 0, f"connections per worker: {dict(held)}"
