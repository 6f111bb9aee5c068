"""One worker's connection and transactions: retries, reconnection, in-doubt commits.

A transaction is sent as one pipeline (BEGIN, every statement, the first one returning
``pg_current_xact_id()``), then COMMIT: two round trips whatever its size. When the
connection drops during COMMIT the outcome is unknown; after reconnecting we ask the
server with ``pg_xact_status(xid)``, so every event is counted exactly once.
Errors are classified by SQLSTATE, never by message text.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import psycopg
from psycopg import conninfo as pg_conninfo

from hospital_sim.operations import Event, Statement
from hospital_sim.stats import Stats, sqlstate_class

log = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[object, ...]]
T = TypeVar("T")

RETRYABLE = frozenset({"40001", "40P01"})  # serialization failure, deadlock
# admin_shutdown, crash_shutdown, cannot_connect_now: the server went away.
SERVER_GONE = frozenset({"57P01", "57P02", "57P03"})
XID_SUFFIX = b" RETURNING pg_current_xact_id()::text"
IN_PROGRESS_WAIT = 0.05
STARTING_UP_POLL = 0.4
# psycopg's pipeline costs about two plain round trips to set up, so short transactions
# are sent statement by statement and longer ones in one pipeline.
PIPELINE_FROM = 3  # the old backend may still be finishing its commit


class Stopped(Exception):
    """Stop was requested while waiting for the server."""


Kind = Literal["retry", "connection", "other"]


def classify(exc: psycopg.Error, conn: Conn | None = None) -> Kind:
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


@dataclass
class TxnResult:
    status: Literal["committed", "failed", "abandoned", "unresolved"]
    stale: set[int] = field(default_factory=set)  # statements (by index) that found no row
    latency: float = 0.0


@dataclass(frozen=True)
class Backoff:
    base: float = 0.1
    cap: float = 10.0


class Session:
    """A worker's connection: sends transactions and survives the server going away."""

    def __init__(
        self,
        conninfo: str,
        *,
        stats: Stats,
        stop: threading.Event,
        errors: ErrorLog,
        backoff: Backoff = Backoff(),
        name: str = "hospital-sim stream",
        connect_timeout: int = 2,  # libpq minimum: a hung handshake costs 2 s, not more
    ) -> None:
        self.conninfo = conninfo
        self.stats = stats
        self.stop = stop
        self.errors = errors
        self.backoff = backoff
        self.name = name
        self.connect_timeout = connect_timeout
        self.conn: Conn | None = None
        self._jitter = random.Random()  # timing only: never the seeded data rng
        self._probe_addr = _probe_address(conninfo)

    # -- connection ----------------------------------------------------------------------
    def connection(self) -> Conn:
        """The open connection, reconnecting with backoff; raises Stopped on stop."""
        if self.conn is not None and not self.conn.closed:
            return self.conn
        lost = self.conn is not None
        delay = self.backoff.base
        while True:
            if self.stop.is_set():
                raise Stopped
            try:
                self.conn = psycopg.connect(
                    self.conninfo,
                    autocommit=False,
                    connect_timeout=self.connect_timeout,
                    application_name=self.name,
                )
            except psycopg.OperationalError as exc:
                log.debug("%s: connect failed (%s)", self.name, _first_line(exc))
                self.errors.report(
                    f"connect:{sqlstate_class(exc.sqlstate)}",
                    f"cannot reach the server ({_first_line(exc)}); retrying with backoff",
                )
                pause = delay * self._jitter.uniform(0.5, 1.0)
                delay = min(delay * 2, self.backoff.cap)
                if self._accepting():
                    # The server answers TCP but refused us: it is starting up or
                    # recovering (libpq gives no SQLSTATE for that at connect time). It will
                    # accept in moments, so poll at a modest, steady pace instead of
                    # backing off past the moment it does.
                    pause = min(pause, STARTING_UP_POLL * self._jitter.uniform(0.8, 1.2))
                self._wait_for_server(pause)
                continue
            if lost:
                self.stats.reconnects += 1
                log.info("%s reconnected", self.name)
            return self.conn

    def _wait_for_server(self, pause: float) -> None:
        """Sleep ``pause`` s, but wake early when the server starts accepting again.

        The backoff keeps a down server from being hammered; the cheap TCP probe every
        0.2 s is what lets us resume within a second of it coming back, even at a 10 s cap.
        """
        end = time.monotonic() + pause
        refusing = not self._accepting()
        while (left := end - time.monotonic()) > 0:
            if self.stop.wait(min(0.2, left)):
                raise Stopped
            if refusing and self._accepting():
                return

    def _accepting(self) -> bool:
        if self._probe_addr is None:
            return False
        try:
            with socket.create_connection(self._probe_addr, timeout=0.2):
                return True
        except OSError:
            return False

    def drop(self) -> None:
        """Close a broken connection quietly; the next use reconnects (and counts it)."""
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()

    def call(self, fn: Callable[[Conn], T]) -> T:
        """Run ``fn(conn)`` (an idempotent helper such as reserving ids) across reconnects."""
        while True:
            conn = self.connection()
            try:
                return fn(conn)
            except psycopg.Error as exc:
                self._rollback(conn)
                if classify(exc, conn) != "connection":
                    raise
                self.drop()

    def close(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self._rollback(self.conn)
            self.conn.close()

    # -- transactions --------------------------------------------------------------------
    def run(self, events: list[Event]) -> TxnResult:
        """Commit the events' statements in one transaction, retrying what is safe to retry."""
        statements = [s for e in events for s in e.statements]
        while True:
            try:
                conn = self.connection()
            except Stopped:
                return TxnResult("abandoned")
            started = time.perf_counter()
            try:
                xid, stale = self._send(conn, statements)
            except psycopg.Error as exc:
                if (result := self._failed(conn, exc)) is not None:
                    return result
                continue  # nothing was committed: send the same statements again
            try:
                conn.commit()
            except psycopg.Error as exc:
                kind = classify(exc, conn)
                if kind == "connection":
                    resolved = self._resolve(xid)
                    if resolved == "committed":
                        return TxnResult("committed", stale, time.perf_counter() - started)
                    if resolved == "unresolved":
                        return TxnResult("unresolved")
                    continue  # aborted: replay
                if (result := self._failed(conn, exc)) is not None:
                    return result
                continue
            return TxnResult("committed", stale, time.perf_counter() - started)

    def _send(self, conn: Conn, statements: list[Statement]) -> tuple[str, set[int]]:
        if len(statements) < PIPELINE_FROM:
            return self._send_plain(conn, statements)
        cursors = []
        with conn.pipeline():
            for i, st in enumerate(statements):
                cur = conn.cursor()
                cur.execute(st.query + XID_SUFFIX if i == 0 else st.query, st.params)
                cursors.append(cur)
        row = cursors[0].fetchone()
        assert row is not None
        stale = {
            i
            for i, (st, cur) in enumerate(zip(statements, cursors, strict=True))
            if st.kind == "UPDATE" and cur.rowcount == 0
        }
        return str(row[0]), stale

    def _send_plain(self, conn: Conn, statements: list[Statement]) -> tuple[str, set[int]]:
        xid = ""
        stale: set[int] = set()
        for i, st in enumerate(statements):
            cur = conn.execute(st.query + XID_SUFFIX if i == 0 else st.query, st.params)
            if i == 0:
                row = cur.fetchone()
                assert row is not None
                xid = str(row[0])
            if st.kind == "UPDATE" and cur.rowcount == 0:
                stale.add(i)
        return xid, stale

    def _failed(self, conn: Conn, exc: psycopg.Error) -> TxnResult | None:
        """Handle an error before COMMIT; None means "send again"."""
        kind = classify(exc, conn)
        if kind == "connection":
            self.drop()
            return None
        self._rollback(conn)
        if kind == "retry":
            self.stats.retries[exc.sqlstate or "?"] += 1
            # Let the transaction we collided with finish before trying again.
            if self.stop.wait(self._jitter.uniform(0.001, 0.01)):
                return TxnResult("abandoned")
            return None
        cls = sqlstate_class(exc.sqlstate)
        self.stats.errors[cls] += 1
        self.errors.report(
            f"sql:{cls}", f"transaction failed, SQLSTATE {exc.sqlstate}: {_first_line(exc)}"
        )
        return TxnResult("failed")

    def _rollback(self, conn: Conn) -> None:
        try:
            conn.rollback()
        except psycopg.Error:
            self.drop()

    def _resolve(self, xid: str) -> Literal["committed", "aborted", "unresolved"]:
        """Ask the server whether transaction ``xid`` committed, reconnecting as needed."""
        self.drop()
        while True:
            try:
                conn = self.connection()
            except Stopped:
                # One last look: stop was asked, but an unknown outcome would skew counts.
                last = self._one_shot()
                if last is None:
                    self.stats.in_doubt["unresolved"] += 1
                    return "unresolved"
                conn = last
            try:
                row = conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()
                conn.rollback()
            except psycopg.Error as exc:
                if classify(exc, conn) != "connection":
                    raise
                self.drop()
                continue
            status = None if row is None else row[0]
            if status == "in progress":
                time.sleep(IN_PROGRESS_WAIT)
                continue
            outcome: Literal["committed", "aborted"] = (
                "committed" if status == "committed" else "aborted"
            )
            self.stats.in_doubt[outcome] += 1
            log.info("commit of xid %s was in doubt: %s", xid, outcome)
            return outcome

    def _one_shot(self) -> Conn | None:
        try:
            self.conn = psycopg.connect(
                self.conninfo, autocommit=False, connect_timeout=2, application_name=self.name
            )
            return self.conn
        except psycopg.OperationalError:
            return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _probe_address(conninfo: str) -> tuple[str, int] | None:
    """(host, port) to probe with TCP, or None for Unix sockets and unusual setups."""
    try:
        params = pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return None
    host = str(params.get("hostaddr") or params.get("host") or "").split(",")[0]
    port = str(params.get("port") or "5432").split(",")[0]
    if not host or host.startswith("/") or not port.isdigit():
        return None
    return host, int(port)
