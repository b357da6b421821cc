"""Partner suggestions: the ranked, explained shortlist for a requester, programme and areas.

The route is a coroutine so that the common case, a question asked before under the same profile version,
is answered on the event loop from bytes already serialised: no thread, no database, no ranking. The
weight profile a request resolves to is cached briefly (``PROFILE_CACHE_TTL_S``, see ``api/caches.py``),
and the serialised answers are kept per matcher, so a rebuilt matcher starts with none.

A question that must be ranked waits for one of ``RANKING_THREADS`` slots, shared fairly between the
clients (API keys) that are waiting: see :class:`FairRankingGate`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.auth import OfficeKey, auth_responses
from api.caches import PROFILE_CHANGES, TTLCache
from api.calls import TodayDep, resolve_call
from api.deps import get_engine, get_matcher
from api.profiles import ResolvedProfile, resolve_profile
from api.schemas import problem_responses
from api.suggestions import suggestion_answer
from matcher.suggest import Matcher
from matcher.types import SuggestionCall, SuggestionRequest, SuggestionResponse

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
# Rankings one client (API key) may have running or waiting at once, per slot; one more is a 429. Fair
# order (below) already keeps a busy client from delaying the others; this bound keeps its queue finite,
# and leaves room for a key shared by a few busy users (16 connections on 2 cores answer without a 429).
CLIENT_QUEUE_PER_SLOT = 8
# Weight of the latest ranking in the running mean costs (overall, and per client).
COST_SMOOTHING = 0.2
# A client whose rankings take longer than this on average is heavy: heavy clients together hold at most
# all slots but one. Ordinary rankings of the shipped catalogue take 5-10 ms of CPU; the most expensive
# valid request (longest text, largest offset) a few seconds.
HEAVY_RANKING_S = 0.5
# A request asking for this much is heavy whoever sends it, before any of its cost is measured: a text of
# more than a couple of model inputs to embed (about 1 s per 1,000 characters on 2 cores), or a page
# deeper than this in the ranking (offset 1000 takes about 1 s).
HEAVY_TEXT_CHARS = 1000
HEAVY_DEPTH = 200
# Clients whose measured costs are remembered (idle ones are dropped past this).
REMEMBERED_CLIENTS = 1024


class AnswerCache:
    """Serialised answers of one matcher, by request and profile version (least recently used out first)."""

    def __init__(self, matcher: Matcher, *, max_size: int = ANSWER_CACHE_SIZE) -> None:
        # weak: a matcher swapped out must not stay in memory until the next suggestion replaces this cache
        self.matcher = weakref.ref(matcher)
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


class RankingQueueFull(HTTPException):
    """The client already has its share of rankings running or waiting: a 429 with ``Retry-After``."""

    def __init__(self, limit: int, retry_after_s: int) -> None:
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"This API key already has {limit} suggestion requests being ranked or waiting to be; "
            f"retry in {retry_after_s} s, or send fewer at once.",
            headers={"Retry-After": str(retry_after_s)},
        )


@dataclass
class _Ticket:
    """A request for a slot: its arrival number, the event that wakes it once given one, and what was
    decided when it was given (so that its release undoes exactly that)."""

    arrival: int
    granted: anyio.Event = field(default_factory=anyio.Event)
    heavy: bool = False  # counted among the heavy rankings
    charged_s: float = 0.0  # provisional charge, corrected when the ranking ends


@dataclass
class _Client:
    """What the gate knows of one client (API key)."""

    used_s: float  # ranking seconds charged, on the gate's virtual clock
    admitted: int = 0  # rankings running or waiting
    waiting: list[_Ticket] = field(default_factory=list)  # in arrival order
    cost_s: float = 0.0  # running mean of its rankings' durations (0: none measured yet)

    @property
    def heavy(self) -> bool:
        return self.cost_s > HEAVY_RANKING_S


class FairRankingGate:
    """Admits rankings to ``slots`` threads so that no client starves the others.

    Why: rankings run one per core, and a few expensive (but valid) requests used to fill every slot and
    queue ahead of everybody else, first come first served: validation bounds what one request costs (a
    few seconds at most), the gate bounds what one client's requests cost the others. Three rules, per
    API key; costs are seconds measured around each ranking:

    - **Bounded share of the queue.** A client may have ``per_client`` rankings running or waiting;
      one more is refused at once with a 429 and ``Retry-After`` (``RankingQueueFull``) instead of
      waiting in a queue that only grows.
    - **Fair order.** A freed slot goes to the waiting client that has used the least ranking time
      (start-time fair queuing): a client sending expensive requests gets the same share of the cores as
      one sending cheap ones, not more. A ranking is charged the running mean cost when it starts (so two
      slots freeing at once do not both go to one client) and corrected by what it took when it ends. A
      client arriving idle starts at the virtual clock (the charge of the client last given a slot):
      neither owed time for having been idle nor behind those who ranked before.
    - **Heavy rankings never hold every slot.** A ranking is heavy if its request asks for much (see
      :func:`looks_heavy`) or its client's rankings take longer than ``HEAVY_RANKING_S`` on average;
      one may start only while fewer than ``slots - 1`` (at least one) heavy rankings run. The other
      slot is kept for ordinary requests, which then wait for ordinary rankings only, however many
      heavy clients there are. (The request's own fields catch a new client's first expensive
      requests, before anything is measured; the measured cost catches what the fields do not tell.)

    Otherwise a slot is never left idle: with one client the gate is first come, first served at full
    speed. Clients are API keys, so a deployment should give each office its own key. The state is per
    process (each worker admits its own slots); answers already cached never reach the gate. Only the
    event loop touches the gate, so it needs no lock; the rankings themselves run in threads.
    """

    def __init__(self, slots: int, *, per_client: int) -> None:
        self.slots = slots
        self.per_client = per_client
        self.heavy_slots = max(1, slots - 1)
        self.free = slots
        self.heavy_running = 0
        self.clock = 0.0
        self.mean_cost_s = 0.0
        self._clients: dict[int, _Client] = {}
        self._arrivals = itertools.count()

    @asynccontextmanager
    async def slot(self, client_id: int, *, heavy: bool = False) -> AsyncIterator[None]:
        """Hold one slot for ``client_id`` while the body runs (``heavy``: the request asks for much);
        ``RankingQueueFull`` over the client's share."""
        client = self._clients.get(client_id)
        if client is None:
            self._forget_idle()
            client = self._clients[client_id] = _Client(used_s=self.clock)
        if client.admitted >= self.per_client:
            retry_after = max(1, math.ceil(max(self.mean_cost_s, client.cost_s) * client.admitted / self.slots))
            raise RankingQueueFull(self.per_client, retry_after)
        if client.admitted == 0:
            client.used_s = max(client.used_s, self.clock)
        client.admitted += 1
        ticket = _Ticket(next(self._arrivals), heavy=heavy)
        try:
            if self.free > 0 and self._may_run(client, ticket) and self._next() is None:
                self._grant(client, ticket)
            else:
                await self._wait_for_slot(client, ticket)
            started = time.perf_counter()
            try:
                yield
            finally:
                cost = time.perf_counter() - started
                client.used_s += cost - ticket.charged_s
                smoothed = client.cost_s + COST_SMOOTHING * (cost - client.cost_s)
                client.cost_s = cost if client.cost_s == 0 else smoothed
                self.mean_cost_s += COST_SMOOTHING * (cost - self.mean_cost_s)
                self._release(ticket.heavy)
        finally:
            client.admitted -= 1

    def _may_run(self, client: _Client, ticket: _Ticket) -> bool:
        heavy = ticket.heavy or client.heavy
        return not heavy or self.heavy_running < self.heavy_slots

    def _grant(self, client: _Client, ticket: _Ticket) -> None:
        """Give a free slot to ``client``'s ``ticket``, charging the client a ranking's mean cost."""
        self.free -= 1
        ticket.heavy = ticket.heavy or client.heavy
        if ticket.heavy:
            self.heavy_running += 1
        self.clock = max(self.clock, client.used_s)
        ticket.charged_s = max(self.mean_cost_s, client.cost_s)
        client.used_s += ticket.charged_s

    def _next(self) -> _Client | None:
        """The waiting client that may run and has used the least time (then the earliest arrival)."""
        candidates = [c for c in self._clients.values() if c.waiting and self._may_run(c, c.waiting[0])]
        return min(candidates, key=lambda c: (c.used_s, c.waiting[0].arrival), default=None)

    async def _wait_for_slot(self, client: _Client, ticket: _Ticket) -> None:
        """Wait until ``_hand_on`` gives ``ticket`` a slot."""
        client.waiting.append(ticket)
        try:
            await ticket.granted.wait()
        except BaseException:  # cancelled (the client went away): give up the place, or the slot given
            if ticket.granted.is_set():
                self._release(ticket.heavy)
            else:
                client.waiting.remove(ticket)
            raise

    def _release(self, heavy: bool) -> None:
        self.free += 1
        if heavy:
            self.heavy_running -= 1
        self._hand_on()

    def _hand_on(self) -> None:
        """Give free slots to the waiting requests that may have them, fairest first."""
        while self.free > 0 and (client := self._next()) is not None:
            ticket = client.waiting.pop(0)
            self._grant(client, ticket)
            ticket.granted.set()

    def _forget_idle(self) -> None:
        """Keep the clients' measured costs, but not for ever: past ``REMEMBERED_CLIENTS``, drop idle ones."""
        if len(self._clients) >= REMEMBERED_CLIENTS:
            for client_id in [cid for cid, c in self._clients.items() if c.admitted == 0]:
                del self._clients[client_id]


def looks_heavy(body: SuggestionRequest) -> bool:
    """Whether a request asks for an expensive ranking: a long text to embed or a deep page."""
    return len(body.text or "") > HEAVY_TEXT_CHARS or body.k + body.offset > HEAVY_DEPTH


def ranking_gate(app: FastAPI) -> FairRankingGate:
    """The process's one admission gate for rankings (suggestions, portfolios, consortia), made on first use."""
    gate: FairRankingGate | None = getattr(app.state, "ranking_gate", None)
    if gate is None:
        gate = app.state.ranking_gate = FairRankingGate(RANKING_THREADS,
                                                        per_client=CLIENT_QUEUE_PER_SLOT * RANKING_THREADS)
    return gate


def _answer_cache(app: FastAPI, matcher: Matcher) -> AnswerCache:
    cache: AnswerCache | None = getattr(app.state, "answer_cache", None)
    if cache is None or cache.matcher() is not matcher:  # a rebuilt matcher: answers of the old one are void
        cache = app.state.answer_cache = AnswerCache(matcher)
    return cache


def _programme(body: SuggestionRequest) -> str:
    """The programme a request ranks under (a request for a call has its call's once ``_resolve_call`` ran)."""
    # the request model requires programme or call, and resolving a call sets its programme
    assert body.programme is not None, "a request without programme reached ranking before its call was resolved"
    return body.programme


def _resolve_call(request: Request, body: SuggestionRequest, today: dt.date
                  ) -> tuple[SuggestionRequest, SuggestionCall | None]:
    """A request naming a call made ready to rank (in the thread pool): the call read from the database, its
    text the idea and its programme the programme (``api/calls.py``)."""
    with Session(get_engine(request)) as session:
        return resolve_call(session, body, today=today)


def _resolve(request: Request, body: SuggestionRequest) -> ResolvedProfile:
    """The version ``body`` scores with, read from the database (in the thread pool) and cached."""
    count = PROFILE_CHANGES.count  # read before the row: a publish flushed meanwhile voids the entry
    programme = _programme(body)
    with Session(get_engine(request)) as session:
        resolved = resolve_profile(programme, body.profile, session=session)
    _profile_cache(request.app).put((programme, body.profile), resolved, count=count)
    return resolved


def _answer(matcher: Matcher, body: SuggestionRequest, resolved: ResolvedProfile,
            call: SuggestionCall | None = None) -> bytes:
    """Rank (in the thread pool) and serialise the answer (``api.suggestions``)."""
    # Serialised here, once, by pydantic's Rust core: returning the model would make FastAPI validate it
    # again against the response model, which costs more than ranking a cached answer.
    return suggestion_answer(matcher, body, resolved, call).model_dump_json().encode("utf-8")


def queue_full_responses() -> dict[int | str, dict[str, Any]]:
    """The 429 a gated route declares: the key has its share of rankings running or waiting."""
    responses = problem_responses(429)
    responses[429]["description"] = ("This API key already has its share of rankings running or waiting; "
                                      "retry after `Retry-After` seconds.")
    responses[429]["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                                 "schema": {"type": "integer"}}}
    return responses


@router.post("", response_model=SuggestionResponse,
             responses={**problem_responses(422, 503), **queue_full_responses(), **auth_responses()})
async def create_suggestions(body: SuggestionRequest, request: Request, api_key: OfficeKey,
                             today: TodayDep) -> Response:
    """Rank eligible partners for an institution, a project idea or an open call, with each score explained.

    A request naming a `call` (GET /calls) uses the call's title and text as its idea, after any `text` given,
    and the call's programme (given both, the programmes must agree); the answer echoes the call. A question
    asked before is answered from the cache; a new one is ranked when the key's fair turn comes (a 429 with
    ``Retry-After`` if the key already has its share of rankings running or waiting)."""
    matcher = get_matcher(request)
    call: SuggestionCall | None = None
    if body.call is not None:
        body, call = await run_in_threadpool(_resolve_call, request, body, today)
    resolved = _profile_cache(request.app).get((_programme(body), body.profile))
    if resolved is None:
        resolved = await run_in_threadpool(_resolve, request, body)
    answers = _answer_cache(request.app, matcher)
    # the request as ranked (for a call: its text, programme and topic) and the echoed call with its status today
    key = (body.model_dump_json() + (call.model_dump_json() if call else ""), resolved.version_id)
    answer = answers.get(key)
    if answer is None:
        assert api_key.id is not None
        async with ranking_gate(request.app).slot(api_key.id, heavy=looks_heavy(body)):
            answer = await anyio.to_thread.run_sync(_answer, matcher, body, resolved, call)
        answers.put(key, answer)
    return Response(answer, media_type="application/json")
