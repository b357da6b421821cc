"""Errors as RFC 9457 problem details (``application/problem+json``), rendered in one place.

Route code raises domain exceptions (``NotFound``, ``CatalogueUnavailable``, ``Unauthorized``) instead of building
responses; ``install`` registers the handlers that turn those, request-validation errors, every
``HTTPException`` and any unexpected exception into a problem document with ``type``, ``title``,
``status``, ``detail`` and ``instance``. An unexpected exception is logged with its traceback and
answered with a 500 whose body says nothing about the code.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from matcher.evaluation import EmptyEvaluation

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


class Conflict(Exception):
    """The request contradicts the resource's state (e.g. removing a row of the shipped catalogue): a 409."""


class FileProblems(ValueError):
    """An uploaded file with problems, all of them listed (each naming record, field and value): a 422 with
    one ``errors`` entry per problem; nothing was written."""

    def __init__(self, file: str, problems: list[str]) -> None:
        super().__init__(f"{file}: {len(problems)} problem(s), nothing imported")
        self.problems = problems


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


# A 422 shows what was wrong with the input, not the input itself: a text of megabytes gets a small answer.
MAX_ECHO_CHARS = 200


def _echo(value: Any) -> Any:
    """``value`` as a 422 may show it: strings cut to ``MAX_ECHO_CHARS``, with lone surrogates written as
    escapes (they cannot be UTF-8); numbers JSON cannot hold (NaN, infinities) and other objects as text; a
    container whose JSON would be longer than ``MAX_ECHO_CHARS`` as the start of that text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + "…"
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        items: Any = {_echo(str(key)): _echo(item) for key, item in list(value.items())[:MAX_ECHO_CHARS]}
    elif isinstance(value, list | tuple):
        items = [_echo(item) for item in value[:MAX_ECHO_CHARS]]
    else:
        return _echo(str(value))  # e.g. the exception pydantic puts in ``ctx``
    text = json.dumps(items, ensure_ascii=False)
    return items if len(text) <= MAX_ECHO_CHARS else _echo(text)


def _shown(key: str, value: Any) -> Any:
    if key == "loc":  # a list however long, each part (a dict key may be long) through ``_echo``
        return [_echo(part) for part in value]
    if key == "msg":  # pydantic's message or ours, whole
        return str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return _echo(value)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Every part of an error that can hold request input (``input``, a dict key in ``loc``, ``ctx``) is shown
    # through ``_echo``, so the body is JSON, UTF-8 and small whatever was sent.
    return [{key: _shown(key, value) for key, value in error.items()} for error in exc.errors()]


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


def _on_conflict(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, status.HTTP_409_CONFLICT, str(exc))


def _on_file_problems(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FileProblems)
    errors = [{"loc": ["body", "file"], "msg": _shown("msg", p), "type": "value_error"} for p in exc.problems]
    return problem(request, status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc), errors=errors)


def _on_unprocessable(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


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


def unexpected_error(request: Request, exc: Exception, *, close: bool = False) -> JSONResponse:
    """Log ``exc`` with its traceback and answer a 500 problem document that says nothing about the code;
    ``close`` adds ``Connection: close``, for a server about to drop the connection."""
    logger.error("unhandled error answering %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        request,
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "The server failed to answer this request; the error has been logged.",
        headers={"Connection": "close"} if close else None,
    )


def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's last resort (an error in middleware outside api.middleware.UnexpectedErrors): it raises the
    # exception again once this is sent, and the server closes the connection, so the response says so.
    return unexpected_error(request, exc, close=True)


def install(app: FastAPI) -> None:
    """Register every problem-details handler on ``app``."""
    app.add_exception_handler(NotFound, _on_not_found)
    app.add_exception_handler(InvalidRequest, _on_invalid)
    app.add_exception_handler(CatalogueUnavailable, _on_unavailable)
    app.add_exception_handler(EmptyEvaluation, _on_unprocessable)  # an evaluation of nothing
    app.add_exception_handler(Unauthorized, _on_unauthorized)
    app.add_exception_handler(Forbidden, _on_forbidden)
    app.add_exception_handler(Conflict, _on_conflict)
    app.add_exception_handler(FileProblems, _on_file_problems)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
