"""Errors as RFC 9457 problem details (``application/problem+json``), rendered in one place.

Route code raises domain exceptions (``NotFound``, ``CatalogueUnavailable``, ``Unauthorized``) instead of building
responses; ``install`` registers the handlers that turn those, request-validation errors, every
``HTTPException`` and any unexpected exception into a problem document with ``type``, ``title``,
``status``, ``detail`` and ``instance``. An unexpected exception is logged with its traceback and
answered with a 500 whose body says nothing about the code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# "about:blank" says the problem has no meaning beyond its HTTP status (RFC 9457 section 4.2.1), so the
# title is the status phrase.
PROBLEM_TYPE = "about:blank"


class NotFound(LookupError):
    """No ``resource`` has ``key`` as its ``key_name`` (an institution id, an area or programme key)."""

    def __init__(self, resource: str, key: str, *, key_name: str = "id") -> None:
        super().__init__(f"No {resource} with {key_name} {key!r}.")
        self.resource = resource
        self.key = key


class InvalidRequest(ValueError):
    """Well-formed input that names something unknown (a programme, area or institution): a 422."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CatalogueUnavailable(RuntimeError):
    """The catalogue (database or search index) is not loaded, so the request cannot be answered yet."""


class Unauthorized(Exception):
    """No API key, or one that is unknown or revoked: a 401 with a ``WWW-Authenticate`` challenge.

    ``error`` is the RFC 6750 error code for a key that was sent but is not valid (``invalid_token``);
    a request that sent none gets the bare challenge.
    """

    def __init__(self, detail: str, *, error: str | None = None) -> None:
        super().__init__(detail)
        self.error = error


class Forbidden(Exception):
    """A valid API key whose role may not do this: a 403."""


def problem(
    request: Request,
    status_code: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem-details response for ``request``; ``extra`` adds extension members (e.g. ``errors``)."""
    body = {
        "type": PROBLEM_TYPE,
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status_code, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _where(loc: Sequence[Any]) -> str:
    """``("query", "limit")`` -> "query parameter 'limit'"; ``("body", "a", 0)`` -> "body field 'a.0'"."""
    if not loc:
        return "request"
    source, *path = loc
    name = ".".join(str(part) for part in path)
    kinds = {"query": "query parameter", "path": "path parameter", "header": "header", "cookie": "cookie"}
    if not name:
        return str(source)
    return f"{kinds.get(str(source), f'{source} field')} '{name}'"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # pydantic may put exception objects in ``ctx``; render them as their message so the body is JSON.
    return [
        {key: jsonable_encoder(value, custom_encoder={Exception: str}) for key, value in error.items()}
        for error in exc.errors()
    ]


def _on_not_found(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, status.HTTP_404_NOT_FOUND, str(exc))


def _on_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidRequest)
    errors = [{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]
    return problem(request, status.HTTP_422_UNPROCESSABLE_CONTENT, f"body field '{exc.field}': {exc}",
                   errors=errors)


# The challenge names Bearer, the standard scheme we accept; the X-API-Key header carries the same key.
AUTH_REALM = "partnermatch"


def _on_unauthorized(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Unauthorized)
    challenge = f'Bearer realm="{AUTH_REALM}"' + (f', error="{exc.error}"' if exc.error else "")
    return problem(request, status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": challenge})


def _on_forbidden(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, status.HTTP_403_FORBIDDEN, str(exc))


def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))


def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    detail = "; ".join(f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors)
    return problem(
        request, status.HTTP_422_UNPROCESSABLE_CONTENT, detail or "Invalid request.", errors=errors
    )


def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == status.HTTP_404_NOT_FOUND and detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"No resource at {request.url.path}."  # routing 404: say what was not found
    return problem(request, exc.status_code, detail, headers=exc.headers)


def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error answering %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        request,
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "The server failed to answer this request; the error has been logged.",
    )


def install(app: FastAPI) -> None:
    """Register every problem-details handler on ``app``."""
    app.add_exception_handler(NotFound, _on_not_found)
    app.add_exception_handler(InvalidRequest, _on_invalid)
    app.add_exception_handler(CatalogueUnavailable, _on_unavailable)
    app.add_exception_handler(Unauthorized, _on_unauthorized)
    app.add_exception_handler(Forbidden, _on_forbidden)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
