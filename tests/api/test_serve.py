"""``partnermatch serve``: the worker processes' socket and the logging configuration uvicorn applies (the
workers sharing connections: test_workers.py)."""

from __future__ import annotations

import logging
import logging.config
import pickle
import socket
from multiprocessing.reduction import ForkingPickler

import uvicorn

from api.cli import WorkerSocket, serve_log_config


def test_the_workers_socket_is_declared_tcp_so_asyncio_sets_nodelay() -> None:
    """uvicorn #3149: with protocol 0, asyncio leaves Nagle on and keep-alive responses wait ~40 ms."""
    config = uvicorn.Config("api.main:app_factory", factory=True, host="127.0.0.1", port=0, workers=2)
    bound = config.bind_socket()
    assert bound.proto == 0  # if uvicorn fixes this, WorkerSocket need not declare the protocol
    bound.close()
    parent = WorkerSocket.bound_to("127.0.0.1", 0)
    listener = pickle.loads(ForkingPickler.dumps(parent))  # as uvicorn sends it to each worker
    try:
        assert listener is not parent and listener.fileno() != parent.fileno()
        assert (listener.proto, listener.getsockname()) == (socket.IPPROTO_TCP, parent.getsockname())
        listener.listen()  # as asyncio's create_server does in each worker
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP  # what asyncio checks before setting TCP_NODELAY
    finally:
        listener.close()
        parent.close()


def test_access_lines_bypass_rich() -> None:
    config = serve_log_config(logging.INFO)
    assert config["loggers"]["uvicorn.access"] == {"handlers": ["access"], "propagate": False}
    assert config["handlers"]["access"]["class"] == "logging.StreamHandler"
    assert config["root"] == {"level": "INFO", "handlers": ["rich"]}
