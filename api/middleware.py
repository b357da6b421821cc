"""ASGI middleware every response passes through: security headers, a bound on request bodies, and unexpected
errors answered as a problem document on a connection that stays usable.

Starlette answers an exception that no handler takes with the app's 500 handler and then raises it again,
for the server to log; uvicorn then closes the connection under a keep-alive client, whose next request on
it is reset. ``UnexpectedErrors`` answers the exception itself (logged once, by ``api.errors``), so the
exception ends there. Only an exception raised after the response started still reaches the server, which
must then cut the connection: the response is incomplete.

``BodyLimit`` answers a body over ``MAX_BODY_BYTES`` (``MAX_UPLOAD_BYTES`` for the evidence upload routes) with a
413 problem document, whether its
``Content-Length`` says so or it arrives in chunks. (FastAPI's own ``max_body_size`` answers a declared
oversize body in plain text, replacing any response, so it is not used.)
"""

from __future__ import annotations

import re

from fastapi import FastAPI, HTTPException, status
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem, unexpected_error

# Bodies larger than this are 413s before anything parses them. The largest valid body, a 500-item shortlist
# with 2,000-character notes sent \u-escaped (Cyrillic, as Python's json writes it), is about 6 MB.
MAX_BODY_BYTES = 8 * 1024 * 1024
# Evidence uploads (POST /institutions/{id}/publications, /projects, /partnerships) carry the files offices
# export: a 5,000-record RIS export with abstracts is some 12 MB.
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
UPLOAD_PATH = re.compile(r"^/institutions/[^/]+/(publications|projects|partnerships)$")

# The console loads its scripts and styles from this origin only and draws charts as inline SVG; its
# favicon is a data: URL. No page may frame it (clickjacking), and no plugin or <base> may be used.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's /docs (Swagger UI) and /redoc pages load their scripts, styles, fonts and icons from CDNs and
# start them with an inline script: those pages (which show only the OpenAPI document) may do so.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Links to institution websites open other origins: they learn nothing of the console's URLs.
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Add the security headers (and the content security policy for the path) to every HTTP response."""

    def __init__(self, app: ASGIApp, *, docs_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_CONTENT_SECURITY_POLICY if scope["path"] in self.docs_paths else CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Answer a request whose body is over ``max_bytes`` with a 413 problem document (and close the connection,
    as the rest of the body is not read)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes if scope["method"] == "POST" and UPLOAD_PATH.match(scope["path"]) \
            else self.max_bytes
        detail = f"The request body is larger than the {limit} bytes allowed."
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = problem(Request(scope), status.HTTP_413_CONTENT_TOO_LARGE, detail,
                               headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException raised while it reads the body on to the handlers
                    # (api.errors), which render it as a problem document.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail,
                                        headers={"Connection": "close"})
            return message

        await self.app(scope, limited_receive, send)


class UnexpectedErrors:
    """Answer an exception no handler took with the 500 problem document, instead of letting it reach the
    server (which would close a keep-alive connection); re-raise it only once the response has started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:
            if started:
                raise
            response = unexpected_error(Request(scope), exc)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Add the middleware to ``app``: security headers outermost, so that every response gets them."""
    app.add_middleware(BodyLimit)
    app.add_middleware(UnexpectedErrors)
    docs_paths = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.add_middleware(SecurityHeaders, docs_paths=frozenset(path for path in docs_paths if path))
