"""A 500 leaves a keep-alive connection usable (issue 13, finding 6): a real uvicorn server on loopback and a raw
``http.client`` connection, as a client library that reuses connections would send the requests."""

from __future__ import annotations

import http.client
import json
import logging
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from tests.api.live_server import live_server


class _Body(BaseModel):
    text: str


def _explode() -> None:
    raise RuntimeError("secret internal state")


def _explode_with_body(body: _Body) -> None:
    raise RuntimeError(f"secret internal state: {body.text}")


def _exchange(conn: http.client.HTTPConnection, method: str, path: str,
              body: bytes | None = None) -> http.client.HTTPResponse:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response


@pytest.mark.parametrize("failing", [("GET", "/explode", None),
                                     ("POST", "/explode-with-body", json.dumps({"text": "x" * 10_000}).encode())])
def test_the_request_after_a_500_is_answered_on_the_same_connection(
    app: FastAPI, caplog: pytest.LogCaptureFixture, failing: tuple[str, str, bytes | None]
) -> None:
    app.add_api_route("/explode", _explode)
    app.add_api_route("/explode-with-body", _explode_with_body, methods=["POST"])
    method, path, body = failing
    with live_server(app) as url, caplog.at_level(logging.ERROR, logger="api.errors"):
        conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=30)
        try:
            assert _exchange(conn, "GET", "/areas").status == 200
            sock = conn.sock
            failed = _exchange(conn, method, path, body)
            assert failed.status == 500
            assert failed.getheader("Content-Type") == "application/problem+json"
            assert failed.getheader("Connection") != "close" and not failed.will_close
            # the same socket carries the next request; a reset connection raises here instead
            after = _exchange(conn, "GET", "/areas")
            assert after.status == 200
            assert conn.sock is sock
        finally:
            conn.close()
    assert f"unhandled error answering {method} {path}" in caplog.text  # logged once, with the traceback
    assert caplog.text.count("secret internal state") >= 1
