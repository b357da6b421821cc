"""Short-lived in-process caches for what every request would otherwise read from the database: the API key
it sends and the weight profile it scores with.

An entry lives at most ``ttl_s`` seconds, and all entries of a table are dropped as soon as this process
writes that table through the ORM (a key revoked, a profile published or rolled back here: flushed, and
again when committed). A change made by another process (the CLI, another uvicorn worker, hand-written
SQL) is seen within ``ttl_s``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlmodel import Session

from seed_data.tables import ApiKey, WeightProfileVersion

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_SESSION_INFO_KEY = "partnermatch_changed_tables"


class TableChanges:
    """Counts ORM writes (insert, update, delete) to the tables of ``models`` in this process, at flush and
    again at commit (so an entry cached between the two is dropped too).

    SQLAlchemy session events are process-wide, so instances are made once, at import (see below), and
    shared by every app in the process; a count only ever grows.
    """

    def __init__(self, *models: type) -> None:
        self.models = models
        self.count = 0
        event.listen(Session, "after_flush", self._after_flush)
        event.listen(Session, "after_commit", self._after_commit)

    def _after_flush(self, session: Any, _context: Any) -> None:
        if any(isinstance(obj, self.models) for objs in (session.new, session.dirty, session.deleted) for obj in objs):
            self.count += 1
            session.info.setdefault(_SESSION_INFO_KEY, set()).add(id(self))

    def _after_commit(self, session: Any) -> None:
        changed = session.info.get(_SESSION_INFO_KEY)
        if changed and id(self) in changed:
            changed.discard(id(self))
            self.count += 1


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
API_KEY_CHANGES = TableChanges(ApiKey)
PROFILE_CHANGES = TableChanges(WeightProfileVersion)
