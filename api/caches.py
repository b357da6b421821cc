"""Short-lived in-process caches for what every request would otherwise read from the database: the API key
it sends and the weight profile it scores with.

An entry lives at most ``ttl_s`` seconds, and all entries of a table are dropped as soon as this process
writes that table through the ORM (a key revoked, a profile published or rolled back here: flushed, and
again when committed). On PostgreSQL such a write also announces itself to the other processes (another
uvicorn worker, a service the CLI wrote under): ``NOTIFY`` on ``CHANGES_CHANNEL`` inside the writing
transaction, so the announcement goes out when, and only if, the change commits; ``api/notify.py`` listens
and drops the same entries there within milliseconds. What is not announced (SQLite, which has no
notifications; hand-written SQL) is seen within ``ttl_s``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import event, inspect, text
from sqlmodel import Session

from seed_data.tables import ApiKey, EvidenceItem, Institution, Partnership, WeightProfileVersion

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_SESSION_INFO_KEY = "partnermatch_changed_tables"


CHANGES_CHANNEL = "partnermatch_changes"
_PROCESS = uuid.uuid4().hex


def change_origin(bind: Any) -> str:
    """Who wrote a change, as its announcement names it: this process and the engine written through (a
    listener ignores what its own app wrote: that was counted, and acted on, here)."""
    return f"{_PROCESS}:{id(getattr(bind, 'engine', bind))}"


class TableChanges:
    """Counts ORM writes (insert, update, delete) to the tables of ``models`` in this process, at flush and
    again at commit (so an entry cached between the two is dropped too); with ``attribute``, only writes that
    change that column (or insert or delete a row with a value in it).

    With a ``name``, a flush on PostgreSQL also announces the write: ``pg_notify(CHANGES_CHANNEL,
    {"change": name, "origin": ...})`` in the same transaction (PostgreSQL sends it at commit, once per
    transaction for equal payloads, and never if the transaction rolls back).

    SQLAlchemy session events are process-wide, so instances are made once, at import (see below), and
    shared by every app in the process; a count only ever grows.
    """

    def __init__(self, *models: type, attribute: str | None = None, name: str | None = None) -> None:
        self.models = models
        self.attribute = attribute
        self.name = name
        self.count = 0
        self._lock = threading.Lock()
        event.listen(Session, "after_flush", self._after_flush)
        event.listen(Session, "after_commit", self._after_commit)

    def bump(self) -> None:
        """Count one change (made here, or announced by another process): cached entries are void."""
        with self._lock:
            self.count += 1

    def _changes(self, obj: Any, *, dirty: bool) -> bool:
        if not isinstance(obj, self.models):
            return False
        if self.attribute is None:
            return True
        state = inspect(obj).attrs[self.attribute]
        if dirty:
            return bool(state.history.has_changes())
        # a row inserted or deleted with a value there (or one never loaded: it may have had one)
        return state.loaded_value is not None

    def _after_flush(self, session: Any, _context: Any) -> None:
        if not (any(self._changes(obj, dirty=False) for objs in (session.new, session.deleted) for obj in objs)
                or any(self._changes(obj, dirty=True) for obj in session.dirty)):
            return
        self.bump()
        session.info.setdefault(_SESSION_INFO_KEY, set()).add(id(self))
        connection = session.connection()
        if self.name is not None and connection.dialect.name == "postgresql":
            payload = json.dumps({"change": self.name, "origin": change_origin(connection.engine)})
            connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                               {"channel": CHANGES_CHANNEL, "payload": payload})

    def _after_commit(self, session: Any) -> None:
        changed = session.info.get(_SESSION_INFO_KEY)
        if changed and id(self) in changed:
            changed.discard(id(self))
            self.bump()


class TTLCache(Generic[K, V]):
    """A thread-safe map of at most ``max_size`` entries (least recently put out first), each valid for
    ``ttl_s`` seconds and while ``changes.count`` stays what it was when the entry was put."""

    def __init__(self, *, ttl_s: float, max_size: int, changes: TableChanges,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_size = max_size
        self.changes = changes
        self.clock = clock
        self._entries: OrderedDict[K, tuple[float, int, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value put under ``key`` if it is still valid, else ``None``."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, count, value = entry
        if count != self.changes.count or self.clock() >= expires:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return value

    def put(self, key: K, value: V, *, count: int) -> None:
        """Remember ``value`` for ``key``; ``count`` is ``changes.count`` as read *before* the value was read
        from the database, so a write between the two makes the entry invalid at once."""
        with self._lock:
            self._entries[key] = (self.clock() + self.ttl_s, count, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()


# One watcher per table for the whole process (session events are process-wide; see TableChanges).
API_KEY_CHANGES = TableChanges(ApiKey, name="apikey")
PROFILE_CHANGES = TableChanges(WeightProfileVersion, name="weightprofileversion")
# An owner profile saved or removed: every worker rebuilds its matcher (api/notify.py).
OWNER_PROFILE_CHANGES = TableChanges(Institution, attribute="profile_owner", name="institution.profile_owner")
# Evidence items or known partnerships imported or removed: every other worker rebuilds its matcher too (the
# worker that wrote them refreshed its own in place).
EVIDENCE_CHANGES = TableChanges(EvidenceItem, Partnership, name="evidence")
# What an announcement names, for the listener.
ANNOUNCED = {c.name: c for c in (API_KEY_CHANGES, PROFILE_CHANGES, OWNER_PROFILE_CHANGES, EVIDENCE_CHANGES)}
