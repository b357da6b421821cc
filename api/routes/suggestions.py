"""Partner suggestions: the ranked, explained shortlist for a requester, programme and areas.

The route is a coroutine so that the common case, a question asked before under the same profile version,
is answered on the event loop from bytes already serialised: no thread, no database, no ranking. The
weight profile a request resolves to is cached briefly (``PROFILE_CACHE_TTL_S``, see ``api/caches.py``),
and the serialised answers are kept per matcher, so a rebuilt matcher starts with none.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.auth import auth_responses, require_office
from api.caches import PROFILE_CHANGES, TTLCache
from api.deps import get_engine, get_matcher
from api.errors import InvalidRequest
from api.schemas import problem_responses
from matcher.suggest import Matcher, RequestError
from matcher.types import ScoringProfile, SuggestionRequest, SuggestionResponse
from matcher.weights import InvalidProfile, ProfileNotFound, format_ref, resolve_for_request, to_scoring_profile

router = APIRouter(prefix="/suggestions", tags=["suggestions"])

# A programme's published profile is re-read at most this often per process: a version published by
# another process (the CLI, another worker) is used within this time; one published here, at once.
PROFILE_CACHE_TTL_S = 5.0
PROFILE_CACHE_SIZE = 256
# Serialised answers kept per matcher (about 20 kB each).
ANSWER_CACHE_SIZE = 1024
# Rankings run at once per process, one per core: more would only share the cores (and the GIL) and serve
# every request late; fewer queue the others in arrival order, so the slowest answers are not 10x the median.
RANKING_THREADS = os.cpu_count() or 1


@dataclass(frozen=True)
class ResolvedProfile:
    """What a request needs of the weight profile version it scores with."""

    version_id: int
    programme: str
    ref: str  # "name:version"
    profile: ScoringProfile


class AnswerCache:
    """Serialised answers of one matcher, by request and profile version (least recently used out first)."""

    def __init__(self, matcher: Matcher, *, max_size: int = ANSWER_CACHE_SIZE) -> None:
        self.matcher = matcher
        self.max_size = max_size
        self._answers: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> bytes | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key: tuple[str, int], answer: bytes) -> None:
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > self.max_size:
                self._answers.popitem(last=False)


def _profile_cache(app: FastAPI) -> TTLCache[tuple[str, str | None], ResolvedProfile]:
    cache: TTLCache[tuple[str, str | None], ResolvedProfile] | None = getattr(app.state, "profile_cache", None)
    if cache is None:
        cache = app.state.profile_cache = TTLCache(ttl_s=PROFILE_CACHE_TTL_S, max_size=PROFILE_CACHE_SIZE,
                                                   changes=PROFILE_CHANGES)
    return cache


def _ranking_limiter(app: FastAPI) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter | None = getattr(app.state, "ranking_limiter", None)
    if limiter is None:  # made on the event loop, by the first request that ranks
        limiter = app.state.ranking_limiter = anyio.CapacityLimiter(RANKING_THREADS)
    return limiter


def _answer_cache(app: FastAPI, matcher: Matcher) -> AnswerCache:
    cache: AnswerCache | None = getattr(app.state, "answer_cache", None)
    if cache is None or cache.matcher is not matcher:  # a rebuilt matcher: answers of the old one are void
        cache = app.state.answer_cache = AnswerCache(matcher)
    return cache


def _resolve(request: Request, body: SuggestionRequest) -> ResolvedProfile:
    """The version ``body`` scores with, read from the database (in the thread pool) and cached."""
    count = PROFILE_CHANGES.count  # read before the row: a publish flushed meanwhile voids the entry
    with Session(get_engine(request)) as session:
        try:
            version = resolve_for_request(body.programme, body.profile, session=session)
        except (ProfileNotFound, InvalidProfile) as exc:
            raise InvalidRequest("programme" if body.profile is None else "profile", str(exc)) from exc
        assert version.id is not None
        resolved = ResolvedProfile(version.id, version.programme, format_ref(version), to_scoring_profile(version))
    _profile_cache(request.app).put((body.programme, body.profile), resolved, count=count)
    return resolved


def _answer(matcher: Matcher, body: SuggestionRequest, resolved: ResolvedProfile) -> bytes:
    """Rank (in the thread pool) and serialise."""
    try:
        response: SuggestionResponse = matcher.suggest(body, resolved.profile)
    except RequestError as exc:
        raise InvalidRequest(exc.field, str(exc)) from exc
    notes = response.notes  # the matcher's answer is cached and shared: build a new list, never append
    if resolved.programme != body.programme:
        notes = [*notes, f"Scored with {resolved.ref}, a profile made for {resolved.programme}."]
    answer = response.model_copy(update={"profile_version_id": resolved.version_id, "notes": notes})
    # Serialised here, once, by pydantic's Rust core: returning the model would make FastAPI validate it
    # again against the response model, which costs more than ranking a cached answer.
    return answer.model_dump_json().encode("utf-8")


@router.post("", response_model=SuggestionResponse, dependencies=[Depends(require_office)],
             responses={**problem_responses(422, 503), **auth_responses()})
async def create_suggestions(body: SuggestionRequest, request: Request) -> Response:
    """Rank eligible partners for an institution or a project idea, with each score explained."""
    matcher = get_matcher(request)
    resolved = _profile_cache(request.app).get((body.programme, body.profile))
    if resolved is None:
        resolved = await run_in_threadpool(_resolve, request, body)
    answers = _answer_cache(request.app, matcher)
    key = (body.model_dump_json(), resolved.version_id)
    answer = answers.get(key)
    if answer is None:
        answer = await anyio.to_thread.run_sync(_answer, matcher, body, resolved, limiter=_ranking_limiter(request.app))
        answers.put(key, answer)
    return Response(answer, media_type="application/json")
