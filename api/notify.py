"""Changes made by other processes, heard through PostgreSQL ``LISTEN``.

Every write the service caches or builds from announces itself on PostgreSQL (``api/caches.py``:
``NOTIFY`` in the writing transaction): a key created or revoked, a weight profile changed, published or
rolled back, an owner profile saved or removed, by another uvicorn worker or by the CLI. Each app on
PostgreSQL runs one :class:`ChangeListener`: a thread on its own autocommit connection that counts each
announced change (so the key and profile caches drop their entries) and, for an owner profile, has the
matcher rebuilt in a second thread, as the worker that saved it does. A lost connection is retried with
growing pauses; once back, everything is treated as changed, since announcements made meanwhile are lost.

SQLite has no notifications: there the caches' TTL bounds how long another process's change goes unseen.
"""

from __future__ import annotations

import json
import logging
import threading

import psycopg
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy import Engine

from api.caches import ANNOUNCED, CHANGES_CHANNEL, EVIDENCE_CHANGES, OWNER_PROFILE_CHANGES, change_origin
from api.state import rebuild_matcher

logger = logging.getLogger(__name__)

# How often the listening thread looks up from its connection to see whether it should stop.
POLL_S = 0.25
# Pauses before reconnecting after the connection was lost: doubling from the first to the last.
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 30.0
# How long the lifespan waits for the first LISTEN before building the indexes without it.
CONNECT_WAIT_S = 5.0


def listener_conninfo(engine: Engine) -> str:
    """The libpq URI of ``engine``'s database (the listener holds a plain psycopg connection of its own,
    outside the engine's pool, for as long as the app runs)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class ChangeListener:
    """Hears the changes other processes announce on ``CHANGES_CHANNEL`` and applies them to ``app``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.conninfo = listener_conninfo(app.state.engine)
        self.origin = change_origin(app.state.engine)
        self.listening = threading.Event()  # set while LISTEN is in force
        self.connections = 0  # made so far (more than one: it was lost and made again)
        self._stop = threading.Event()
        self._rebuild = threading.Event()
        self._threads = [threading.Thread(target=self._listen, name="change-listener", daemon=True),
                         threading.Thread(target=self._rebuild_when_asked, name="change-rebuild", daemon=True)]

    def start(self, *, wait_s: float = CONNECT_WAIT_S) -> ChangeListener:
        """Start both threads; return once listening (or after ``wait_s``: it keeps trying meanwhile)."""
        for thread in self._threads:
            thread.start()
        if not self.listening.wait(wait_s):
            logger.warning("not listening for changes yet: other workers' changes are seen within the caches' TTL")
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop listening; a rebuild under way is left to finish (its thread is a daemon)."""
        self._stop.set()
        self._rebuild.set()  # wakes the rebuild thread, which sees the stop
        for thread in self._threads:
            thread.join(timeout_s)

    def handle(self, payload: str) -> None:
        """Apply one announcement: ``{"change": name, "origin": writer}``."""
        try:
            change = json.loads(payload)
            name, origin = change["change"], change["origin"]
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed change notification %r", payload)
            return
        if origin == self.origin:
            return  # written through this app: counted, and acted on, when it was written
        watcher = ANNOUNCED.get(name)
        if watcher is None:
            logger.warning("ignored a notification of an unknown change %r", name)
            return
        watcher.bump()
        if watcher is OWNER_PROFILE_CHANGES or watcher is EVIDENCE_CHANGES:
            self._rebuild.set()
        logger.debug("change announced by another process: %s", name)

    def _everything_changed(self) -> None:
        for watcher in ANNOUNCED.values():
            watcher.bump()
        self._rebuild.set()

    def _listen(self) -> None:
        pause, lost = RECONNECT_FIRST_S, False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as connection:
                    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANGES_CHANNEL)))
                    self.connections += 1
                    if lost:
                        logger.info("listening for changes again; anything changed meanwhile is reloaded")
                        self._everything_changed()
                    self.listening.set()
                    pause = RECONNECT_FIRST_S
                    while not self._stop.is_set():
                        for notification in connection.notifies(timeout=POLL_S):
                            self.handle(notification.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                lost = True
                logger.warning("listening for changes failed (%s); retrying in %.1f s", exc, pause)
                self._stop.wait(pause)
                pause = min(2 * pause, RECONNECT_MAX_S)
        self.listening.clear()

    def _rebuild_when_asked(self) -> None:
        # Requests that arrive during a rebuild make one more after it: rebuilds run one at a time, and the
        # next one reads every profile saved up to its start.
        while True:
            self._rebuild.wait()
            if self._stop.is_set():
                return
            self._rebuild.clear()
            rebuild_matcher(self.app)


def start_listener(app: FastAPI) -> ChangeListener | None:
    """A started listener for ``app``'s database, or ``None`` where there are no notifications (SQLite)."""
    if app.state.engine.dialect.name != "postgresql":
        return None
    return ChangeListener(app).start()
