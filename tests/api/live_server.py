"""A real uvicorn server on loopback for tests that need real connections (keep-alive, a browser)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

# Ports tried, in order, for the server (on 127.0.0.1 only).
PORTS = range(18100, 18200)
START_TIMEOUT_S = 120  # the lifespan builds the matcher of the mini catalogue first


def free_port() -> int:
    """A port of ``PORTS`` that nothing listens on now."""
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


def any_free_port() -> int:
    """A loopback port the system has just found free (for a server started in another process)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def partnermatch_command() -> list[str]:
    """How to run the ``partnermatch`` CLI of this environment as a process."""
    script = Path(sys.executable).parent / "partnermatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` (its lifespan included) with uvicorn in a thread; yields the base URL, stops on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
