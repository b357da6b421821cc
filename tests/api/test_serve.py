"""``partnermatch serve``: the worker processes' socket and the logging configuration uvicorn applies."""

from __future__ import annotations

import logging
import logging.config
import socket

import uvicorn

from api.cli import as_tcp, serve_log_config


def test_the_workers_socket_is_declared_tcp_so_asyncio_sets_nodelay() -> None:
    """uvicorn #3149: with protocol 0, asyncio leaves Nagle on and keep-alive responses wait ~40 ms."""
    config = uvicorn.Config("api.main:app_factory", factory=True, host="127.0.0.1", port=0, workers=2)
    bound = config.bind_socket()
    assert bound.proto == 0  # if uvicorn fixes this, as_tcp is no longer needed
    address = bound.getsockname()
    listener = as_tcp(bound)
    try:
        assert (listener.proto, listener.getsockname()) == (socket.IPPROTO_TCP, address)
        listener.listen()  # as asyncio's create_server does in each worker
        with socket.create_connection(address):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP  # what asyncio checks before setting TCP_NODELAY
    finally:
        listener.close()


def test_access_lines_bypass_rich() -> None:
    config = serve_log_config(logging.INFO)
    assert config["loggers"]["uvicorn.access"] == {"handlers": ["access"], "propagate": False}
    assert config["handlers"]["access"]["class"] == "logging.StreamHandler"
    assert config["root"] == {"level": "INFO", "handlers": ["rich"]}
