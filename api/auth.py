"""API keys with roles: creation (plaintext shown once, only its hash stored), revocation, and the
``require_role`` dependencies that guard routes.

A key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. No key, or an unknown or
revoked one, is a 401 problem with a ``WWW-Authenticate`` challenge; a valid key whose role is too low
is a 403. Roles are ordered ``office < officer < admin``: each may do what the ones before it may.

A validated key is remembered for ``KEY_CACHE_TTL_S`` seconds by the process that validated it, so most
requests read no key from the database: a key revoked by another process (the CLI, another worker) stops
working within that time; one revoked by the service itself, at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.caches import API_KEY_CHANGES, TTLCache
from api.errors import CatalogueUnavailable, Forbidden, NotFound, Unauthorized
from api.schemas import problem_responses
from seed_data.tables import AUTHOR_MAX_LENGTH, ApiKey, ApiKeyRole, utc_now

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
KEY_BYTES = 32  # 256 random bits: guessing is hopeless, which is also why a fast hash is enough
PREFIX_LENGTH = 8  # shown in listings and used to find the row; 48 bits, so rows rarely share one
# A key is 43 characters (token_urlsafe of 32 bytes); anything much longer is not a key and is not hashed.
MAX_KEY_LENGTH = 256
ROLE_RANK: dict[str, int] = {ApiKeyRole.office: 0, ApiKeyRole.officer: 1, ApiKeyRole.admin: 2}
# A validated key is remembered this long (per process) so that requests skip the database; a key revoked
# by another process (`partnermatch keys revoke`, another worker) stops working within this time, one
# revoked by this process at once (see api/caches.py).
KEY_CACHE_TTL_S = 5.0
KEY_CACHE_SIZE = 1024  # keys remembered at most (the least recently validated go first)

_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                           description="An API key (`partnermatch keys create NAME --role office`).")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def hash_key(plaintext: str) -> str:
    """sha256 hex of a key. Keys are 32 random bytes, so there is no dictionary to try: a slow password
    hash (bcrypt, argon2) would protect nothing more and would slow every request."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_api_key(*, session: Session, name: str, role: ApiKeyRole | str) -> tuple[ApiKey, str]:
    """A new key for ``role``: the stored row (hash and prefix only) and the plaintext, which is
    returned this once and never stored. ``ValueError`` for an unknown role or a bad name."""
    roles = [r.value for r in ApiKeyRole]
    if str(role) not in roles:
        raise ValueError(f"unknown role {role!r}; allowed: {roles}")
    if not name.strip() or len(name) > AUTHOR_MAX_LENGTH:
        raise ValueError(f"a key name must be 1 to {AUTHOR_MAX_LENGTH} characters, got {len(name)}")
    plaintext = secrets.token_urlsafe(KEY_BYTES)
    row = ApiKey(name=name, role=str(role), prefix=plaintext[:PREFIX_LENGTH], key_hash=hash_key(plaintext))
    session.add(row)
    session.flush()
    logger.info("API key %d (%s…) created for %r with role %s", row.id, row.prefix, name, role)
    return row, plaintext


def list_api_keys(*, session: Session) -> list[ApiKey]:
    """Every key, revoked ones included, by id."""
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.id))).all())


def revoke_api_key(key_id: int, *, session: Session) -> ApiKey:
    """Revoke a key from now on (revoking twice keeps the first time); ``NotFound`` for an unknown id."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("API key", str(key_id))
    if row.revoked is None:
        row.revoked = utc_now()
        session.add(row)
        session.flush()
        logger.info("API key %d (%s…, %r) revoked", row.id, row.prefix, row.name)
    return row


def authenticate(session: Session, plaintext: str) -> ApiKey | None:
    """The live key whose hash matches ``plaintext``; ``None`` for an unknown or revoked key.

    Rows are found by the key's public prefix and then compared by hash in constant time, so the
    response time says nothing about how close a guess was.
    """
    if not plaintext or len(plaintext) > MAX_KEY_LENGTH:
        return None
    presented = hash_key(plaintext)
    candidates = session.exec(select(ApiKey).where(col(ApiKey.prefix) == plaintext[:PREFIX_LENGTH])).all()
    for row in candidates:
        if hmac.compare_digest(row.key_hash, presented):
            if row.revoked is not None:
                logger.info("revoked API key %d (%s…) was used", row.id, row.prefix)
                return None
            return row
    return None


def _key_cache(app: Any) -> TTLCache[str, dict[str, Any]]:
    """The app's cache of recently validated keys (made on first use), by hash."""
    cache: TTLCache[str, dict[str, Any]] | None = getattr(app.state, "key_cache", None)
    if cache is None:
        cache = app.state.key_cache = TTLCache(ttl_s=KEY_CACHE_TTL_S, max_size=KEY_CACHE_SIZE,
                                               changes=API_KEY_CHANGES)
    return cache


def _authenticate_in_database(app: Any, plaintext: str, key_hash: str) -> ApiKey | None:
    """:func:`authenticate` in a session of its own; a live key is cached for the next requests."""
    engine = app.state.engine
    if engine is None:
        raise CatalogueUnavailable("The database is not connected yet.")
    count = API_KEY_CHANGES.count  # read before the row: a revocation flushed meanwhile voids the entry
    try:
        with Session(engine) as session:
            key = authenticate(session, plaintext)
    except SQLAlchemyError as exc:
        logger.error("could not read the API keys: %s", exc)
        raise CatalogueUnavailable("The database has no readable API keys: run `partnermatch db init` and "
                                   "restart the service.") from exc
    if key is not None:
        _key_cache(app).put(key_hash, key.model_dump(), count=count)
    return key


def require_role(role: ApiKeyRole) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency returning the request's API key if its role is at least ``role``.

    It is a coroutine: a key validated in the last ``KEY_CACHE_TTL_S`` seconds is checked without the
    database and without a thread; otherwise the database is read in the thread pool.
    """

    async def dependency(
        request: Request,
        header_key: Annotated[str | None, Security(_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> ApiKey:
        plaintext = header_key or (bearer.credentials if bearer is not None else None)
        if not plaintext:
            raise Unauthorized(f"This needs an API key with role {role.value!r} or higher: send it in the "
                               f"{API_KEY_HEADER} header or as 'Authorization: Bearer <key>'.")
        key: ApiKey | None = None
        if len(plaintext) <= MAX_KEY_LENGTH:
            # a dict lookup by the sha256 of the key: its timing says nothing about how close a guess was
            key_hash = hash_key(plaintext)
            cached = _key_cache(request.app).get(key_hash)
            if cached is not None:
                key = ApiKey(**cached)  # a fresh object per request: routes may not share one
            else:
                key = await run_in_threadpool(_authenticate_in_database, request.app, plaintext, key_hash)
        if key is None:
            raise Unauthorized("The API key is not valid or has been revoked.", error="invalid_token")
        if ROLE_RANK.get(key.role, -1) < ROLE_RANK[role]:  # a role unknown here (a hand-edited row) may do nothing
            raise Forbidden(f"This needs an API key with role {role.value!r} or higher; this key "
                            f"({key.prefix}…) has role {key.role!r}.")
        return key

    dependency.__name__ = f"require_{role.value}"
    return dependency


def auth_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the 401 and 403 problem documents of a guarded route."""
    responses = problem_responses(401, 403)
    responses[401]["description"] = "No API key, or an unknown or revoked one."
    responses[403]["description"] = "The key's role may not do this."
    return responses


# One callable per role, so a request that needs the same role twice authenticates once.
require_office = require_role(ApiKeyRole.office)
require_officer = require_role(ApiKeyRole.officer)
require_admin = require_role(ApiKeyRole.admin)
OfficeKey = Annotated[ApiKey, Depends(require_office)]
OfficerKey = Annotated[ApiKey, Depends(require_officer)]
AdminKey = Annotated[ApiKey, Depends(require_admin)]
