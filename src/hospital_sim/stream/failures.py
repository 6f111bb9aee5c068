"""What the stream does about errors: classify them by SQLSTATE (never by message text),
and log each kind at most once per interval, however many workers hit it."""

from __future__ import annotations

import logging
import threading
import time
from typing import Literal, Protocol

import psycopg

from hospital_sim.db.connect import Conn

log = logging.getLogger(__name__)

RETRYABLE = frozenset({"40001", "40P01"})  # serialization failure, deadlock

# admin_shutdown, crash_shutdown, cannot_connect_now: the server went away.
SERVER_GONE = frozenset({"57P01", "57P02", "57P03"})


class Flag(Protocol):
    """A stop flag: threading.Event, or multiprocessing's Event across processes."""

    def is_set(self) -> bool: ...
    def set(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...


ErrorKind = Literal["retry", "connection", "other"]
"""What to do about an error: retry the transaction, reconnect, or give up on it."""


def classify(exc: psycopg.Error, conn: Conn | None = None) -> ErrorKind:
    """What to do about an error, from its SQLSTATE (and the connection's state)."""
    state = exc.sqlstate
    if state in RETRYABLE:
        return "retry"
    if state in SERVER_GONE or (state is not None and state.startswith("08")):
        return "connection"
    if state is None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return "connection"  # libpq-side: socket closed, server crashed, timeout
    if conn is not None and (conn.broken or conn.closed):
        return "connection"
    return "other"


class ErrorLog:
    """Logs each SQLSTATE class at most once per ``interval``, with the count suppressed."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def report(self, key: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            hidden = self._suppressed.pop(key, 0)
        more = f" ({hidden} more like it in the last {self.interval:.0f} s)" if hidden else ""
        log.warning("%s%s", message, more)
