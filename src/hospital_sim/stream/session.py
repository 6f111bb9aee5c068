"""One worker's connection and transactions: retries, reconnection, in-doubt commits.

An event of one statement that carries a probe is sent alone and committed by the server
when it ends: one round trip. Several statements led by an INSERT that carries a probe
go as one batch, which the server commits as one implicit transaction when the batch
ends: one round trip too. Anything else is BEGIN, its statements (the first one
returning ``pg_current_xact_id()``) and COMMIT. Each statement is prepared once per
connection and sent through psycopg's libpq binding (``conn.pgconn``): that keeps the
client's cost per event close to pgbench's, so the server, not Python, sets the pace.

:meth:`Session.start` sends a transaction up to its last message and returns a
:class:`Flight`; :meth:`Session.finish` reads the answer. In between the worker does its
own work while the server commits. :meth:`Session.queue` sends the next transaction
before that answer, when it goes without BEGIN and COMMIT: the server starts on it the
moment the one before commits, instead of waiting for the client's next message. When
one of them must be sent again, the ones queued behind it are settled first, then
everything that must go again is sent in the order it was planned, one at a time.
When the connection drops before the answer arrives,
the outcome is unknown: after reconnecting, the statement's probe (once the server process
that ran it is done) or ``pg_xact_status(xid)`` tells, so every event is counted exactly
once. Errors are classified by SQLSTATE (:mod:`hospital_sim.stream.failures`), never by
message text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Set
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg import conninfo as pg_conninfo

from hospital_sim.db.connect import Conn
from hospital_sim.stream.failures import ErrorLog, Flag, classify
from hospital_sim.stream.operations import Event, Statement
from hospital_sim.stream.prepared import PreparedConnection, rowcount
from hospital_sim.stream.stats import COMMITTED, Outcome, Resolution, Stats, sqlstate_class

log = logging.getLogger(__name__)

T = TypeVar("T")

XID_SUFFIX = b" RETURNING pg_current_xact_id()::text"
IN_PROGRESS_WAIT = 0.05  # the old backend may still be finishing its commit
STARTING_UP_POLL = 0.4
NONE_STALE: frozenset[int] = frozenset()


class Stopped(Exception):
    """Stop was requested while waiting for the server."""


@dataclass(slots=True)
class TxnResult:
    status: Outcome
    stale: Set[int] = NONE_STALE  # statements (by index) that found no row
    latency: float = 0.0


@dataclass(slots=True)
class Flight:
    """A transaction whose last message is sent and whose answer is not read yet.

    A single probed statement, or a batch led by a probed INSERT, goes alone (``backend``
    is set: once that server process is done, the first statement's probe tells whether a
    lost answer was a commit); otherwise BEGIN and the
    statements have run and COMMIT is on its way (``xid`` tells). A send that failed
    keeps its error, since the message may have left: :meth:`Session.finish` handles it
    like a lost answer. ``result`` is set when it ended before anything was sent.
    """

    statements: list[Statement]
    started: float = 0.0  # perf_counter when it was sent: the start of its latency
    conn: Conn | None = None
    wire: PreparedConnection | None = None
    backend: Backend | None = None
    xid: str | None = None
    stale: Set[int] = NONE_STALE
    error: psycopg.Error | None = None
    result: TxnResult | None = None

    @property
    def waiting(self) -> bool:
        """Whether the server is working on it now, so the client can do its own work."""
        return self.result is None and self.error is None


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
        stop: Flag,
        errors: ErrorLog,
        backoff: Backoff = Backoff(),
        name: str = "hospital-sim stream",
        connect_timeout: int = 2,  # libpq minimum: a hung handshake costs 2 s, not more
        autocommit: bool = False,
    ) -> None:
        self.conninfo = conninfo
        self.stats = stats
        self.stop = stop
        self.errors = errors
        self.backoff = backoff
        self.name = name
        self.connect_timeout = connect_timeout
        self.autocommit = autocommit
        self.conn: Conn | None = None
        self._jitter = random.Random()  # timing only: never the seeded data rng
        self._probe_addr = _probe_address(conninfo)
        self._prepared: PreparedConnection | None = None
        self._backend: Backend | None = None  # this connection's server process
        self._queued: deque[Flight] = deque()  # sent batches, oldest first, not read yet

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
                    autocommit=self.autocommit,
                    connect_timeout=self.connect_timeout,
                    application_name=self.name,
                )
                self._backend = _backend_of(self.conn)
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
    def start(self, events: list[Event]) -> Flight:
        """Send the events' statements, as one transaction, up to its last message;
        :meth:`finish` reads the answer (and retries what is safe to retry).

        Between the two the server works on it and the caller may do its own work (count
        the previous transaction, plan the next one).
        """
        assert not self._queued, "the transactions in flight are finished first"
        flight = self._send(_statements(events))
        if flight.backend is not None and flight.waiting:
            self._queued.append(flight)
        return flight

    def queue(self, events: list[Event]) -> Flight | None:
        """Send the events' transaction behind those in flight, before their answers
        arrive; None when it cannot go that way (it needs BEGIN and COMMIT, or the
        connection in flight is not healthy): send it with :meth:`start` once they are
        finished."""
        statements = _statements(events)
        if not self._queued or not _probed(statements):
            return None
        last = self._queued[-1]
        wire = last.wire
        if last.conn is not self.conn or last.conn is None or last.conn.closed or wire is None:
            return None
        batch = [(st.query, st.params) for st in statements]
        if not wire.preparable(batch):
            return None
        flight = Flight(statements, time.perf_counter(), last.conn, wire, backend=last.backend)
        try:
            wire.send_batch(batch)
        except psycopg.Error as exc:
            flight.error = exc  # it may have left: finish() resolves it like a lost answer
        self._queued.append(flight)
        return flight

    def finish(self, flight: Flight) -> TxnResult:
        """The transaction's result: its answer, or its outcome resolved after a lost
        connection. What did not commit and may be retried is sent again, and waited for.

        Flights are finished in the order they were sent. When one must be sent again,
        those queued behind it are settled first (their answers read, or their outcomes
        resolved), so that what goes again goes in the order it was planned."""
        queued = self._queued
        if queued and queued[0] is flight:
            queued.popleft()
        elif flight.result is not None:
            return flight.result  # settled while finishing one sent before it
        else:
            assert all(f is not flight for f in queued), "finished in the order they were sent"
        result = flight.result if flight.result is not None else self._answer(flight)
        if result is not None:
            return result
        again: list[Flight] = []  # queued behind it, and to be sent again after it
        while queued:
            later = queued.popleft()
            later.result = later.result if later.result is not None else self._answer(later)
            if later.result is None:
                again.append(later)
        result = self._again(flight)
        for later in again:
            later.result = self._again(later)
        return result

    def _again(self, flight: Flight) -> TxnResult:
        """Send ``flight``'s statements again, alone, until they end."""
        while True:
            flight = self._send(flight.statements)
            result = flight.result if flight.result is not None else self._answer(flight)
            if result is not None:
                return result

    def _send(self, statements: list[Statement]) -> Flight:
        """A single probed statement goes alone, committed on its own (no BEGIN, no
        COMMIT): one round trip. So does a batch led by a probed INSERT, committed as one
        implicit transaction. Anything else runs in BEGIN ... COMMIT."""
        if not _probed(statements):
            return self._send_block(statements)
        try:
            conn = self.connection()
        except Stopped:
            return Flight(statements, result=TxnResult(Outcome.ABANDONED))
        backend = self._backend
        if backend is None:  # our server process is not visible: resolve by xid
            return self._send_block(statements)
        wire = self.wire(conn)
        flight = Flight(statements, time.perf_counter(), conn, wire, backend=backend)
        try:
            wire.send_batch([(st.query, st.params) for st in statements])
        except psycopg.Error as exc:
            flight.error = exc  # it may have left: finish() resolves it like a lost answer
        return flight

    def _send_block(self, statements: list[Statement]) -> Flight:
        """BEGIN and the statements (each answered), then COMMIT sent."""
        while True:
            try:
                conn = self.connection()
            except Stopped:
                return Flight(statements, result=TxnResult(Outcome.ABANDONED))
            started = time.perf_counter()
            wire = self.wire(conn)
            try:
                xid, stale = self._begin(wire, statements)
            except psycopg.Error as exc:
                if (result := self._failed(conn, exc)) is not None:
                    return Flight(statements, result=result)
                continue  # nothing was committed: send the same statements again
            flight = Flight(statements, started, conn, wire, xid=xid, stale=stale)
            try:
                wire.send_command(b"COMMIT")
            except psycopg.Error as exc:
                flight.error = exc  # it may have left: finish() resolves it by its xid
            return flight

    def _answer(self, flight: Flight) -> TxnResult | None:
        """Read the answer of a sent transaction; None means "send it again"."""
        wire = flight.wire
        assert wire is not None
        if flight.error is not None:
            return self._lost(flight, flight.error)
        statements = flight.statements
        try:
            if flight.backend is None:  # BEGIN ... COMMIT: the UPDATEs were told before
                if wire.receive().command_status != b"COMMIT":
                    # The server rolled the transaction back instead.
                    raise psycopg.errors.InFailedSqlTransaction("COMMIT ended in ROLLBACK")
                stale = flight.stale
            else:
                answers = wire.receive_batch(len(statements))
                stale = {
                    i
                    for i, (st, result) in enumerate(zip(statements, answers, strict=True))
                    if st.kind == "UPDATE" and rowcount(result) == 0
                } or NONE_STALE
        except psycopg.Error as exc:
            return self._lost(flight, exc)
        return TxnResult(COMMITTED, stale, time.perf_counter() - flight.started)

    def _lost(self, flight: Flight, exc: psycopg.Error) -> TxnResult | None:
        """Handle an error after the last message was sent; None means "send it again"."""
        assert flight.conn is not None
        if classify(exc, flight.conn) != "connection":
            # A batch ends its own transaction: there is nothing to roll back, and the
            # batches queued behind it are still to be read.
            return self._failed(flight.conn, exc, ended=flight.backend is not None)
        if flight.backend is not None:
            resolved = self._resolve_by_probe(flight.statements[0], flight.backend, flight.conn)
        elif flight.xid is None:  # nothing written: nothing to resolve, it counts as done
            resolved = Resolution.COMMITTED
        else:
            resolved = self._resolve(flight.xid)
        return _settled(resolved, flight.stale, flight.started)

    def wire(self, conn: Conn) -> PreparedConnection:
        """The prepared statements of ``conn`` (a new connection starts with none)."""
        if self._prepared is None or self._prepared.conn is not conn:
            self._prepared = PreparedConnection(conn)
        return self._prepared

    @staticmethod
    def _begin(
        wire: PreparedConnection, statements: list[Statement]
    ) -> tuple[str | None, set[int]]:
        """BEGIN and every statement; returns the transaction id (None if nothing was
        written) and the UPDATEs that found no row."""
        wire.command(b"BEGIN")
        xid: str | None = None
        stale: set[int] = set()
        for i, st in enumerate(statements):
            if xid is None:
                result = wire.execute(st.query + XID_SUFFIX, st.params)
                if result.ntuples:
                    xid = _text(result.get_value(0, 0))
            else:
                result = wire.execute(st.query, st.params)
            if st.kind == "UPDATE" and rowcount(result) == 0:
                stale.add(i)
        return xid, stale

    def _failed(self, conn: Conn, exc: psycopg.Error, *, ended: bool = False) -> TxnResult | None:
        """Handle an error before COMMIT (or of a batch, which ``ended`` by itself);
        None means "send again"."""
        kind = classify(exc, conn)
        if kind == "connection":
            self.drop()
            return None
        if not ended:
            self._rollback(conn)
        if kind == "retry":
            self.stats.retries[exc.sqlstate or "?"] += 1
            # Let the transaction we collided with finish before trying again.
            if self.stop.wait(self._jitter.uniform(0.001, 0.01)):
                return TxnResult(Outcome.ABANDONED)
            return None
        cls = sqlstate_class(exc.sqlstate)
        self.stats.errors[cls] += 1
        self.errors.report(
            f"sql:{cls}", f"transaction failed, SQLSTATE {exc.sqlstate}: {_first_line(exc)}"
        )
        return TxnResult(Outcome.FAILED)

    def _rollback(self, conn: Conn) -> None:
        try:
            conn.rollback()
        except psycopg.Error:
            self.drop()

    def resolve(self, xid: str) -> Resolution:
        """Whether transaction ``xid``, whose commit's answer was lost, committed (counted
        in ``stats.in_doubt``)."""
        return self._resolve(xid)

    def _resolve(self, xid: str) -> Resolution:
        """Ask the server whether transaction ``xid`` committed, reconnecting as needed."""

        def look(conn: Conn) -> Resolution | None:
            row = conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()
            status = None if row is None else row[0]
            if status == "in progress":  # the old backend is still finishing its commit
                return None
            return Resolution.COMMITTED if status == "committed" else Resolution.ABORTED

        return self._in_doubt(look, f"commit of xid {xid}", self.conn)

    def _resolve_by_probe(self, st: Statement, backend: Backend, lost: Conn | None) -> Resolution:
        """Whether ``st`` committed, read from the rows once its server process is done."""
        assert st.probe is not None
        probe = st.probe
        waited_since = time.monotonic()

        def look(conn: Conn) -> Resolution | None:
            # The old process may still be finishing the statement (a cut network is
            # noticed late): its outcome is only final once it is idle or gone.
            row = conn.execute(BACKEND_BUSY, (backend.pid, backend.started)).fetchone()
            if row is not None and row[0]:
                if time.monotonic() - waited_since > TERMINATE_AFTER:
                    self._terminate(conn, backend)
                return None
            found = conn.execute(probe, st.probe_params).fetchone() is not None
            return Resolution.COMMITTED if found else Resolution.ABORTED

        return self._in_doubt(look, f"{st.kind} on {st.table}", lost)

    def _in_doubt(
        self, look: Callable[[Conn], Resolution | None], what: str, lost: Conn | None
    ) -> Resolution:
        """Reconnect (unless the ``lost`` connection was replaced already, for a
        transaction sent before this one) and ``look`` until it tells the outcome (None:
        not final yet)."""
        if self.conn is lost:
            self.drop()
        while True:
            try:
                conn = self.connection()
            except Stopped:
                # One last look: stop was asked, but an unknown outcome would skew counts.
                last = self._one_shot()
                if last is None:
                    self.stats.in_doubt[Resolution.UNRESOLVED] += 1
                    return Resolution.UNRESOLVED
                conn = last
            try:
                outcome = look(conn)
                conn.rollback()
            except psycopg.Error as exc:
                if classify(exc, conn) != "connection":
                    raise
                self.drop()
                continue
            if outcome is None:
                time.sleep(IN_PROGRESS_WAIT)
                continue
            self.stats.in_doubt[outcome] += 1
            log.info("%s was in doubt: %s", what, outcome)
            return outcome

    def _terminate(self, conn: Conn, backend: Backend) -> None:
        """Ask the server to end our old process; interrupts are held during a commit, so
        this never splits one, it only ends a wait."""
        try:
            conn.execute("SELECT pg_terminate_backend(%s)", (backend.pid,))
            conn.rollback()
        except psycopg.Error as exc:
            if classify(exc, conn) == "connection":
                raise
            self._rollback(conn)  # not allowed to: keep waiting for it

    def _one_shot(self) -> Conn | None:
        try:
            self.conn = psycopg.connect(
                self.conninfo, autocommit=False, connect_timeout=2, application_name=self.name
            )
            return self.conn
        except psycopg.OperationalError:
            return None


@dataclass(frozen=True)
class Backend:
    """A server process, told apart from a later one that reuses its pid."""

    pid: int
    started: dt.datetime


BACKEND_START = (
    "SELECT pg_backend_pid(), backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
)
BACKEND_BUSY = (
    "SELECT state IS DISTINCT FROM 'idle' FROM pg_stat_activity"
    " WHERE pid = %s AND backend_start = %s"
)
TERMINATE_AFTER = 5.0  # seconds an old process may keep a statement in doubt


def _backend_of(conn: Conn) -> Backend | None:
    row = conn.execute(BACKEND_START).fetchone()
    conn.rollback()
    if row is None or not isinstance(row[1], dt.datetime):
        return None  # not visible to us: one-statement transactions are resolved by xid
    return Backend(int(str(row[0])), row[1])


BATCH_LIMIT = 64
"""Most statements sent as one batch: their answers, a few dozen bytes each, always fit in
the socket's buffer while the batch is still being sent."""


def _statements(events: list[Event]) -> list[Statement]:
    if len(events) == 1:
        return events[0].statements
    return [st for event in events for st in event.statements]


def _probed(statements: list[Statement]) -> bool:
    """Whether these statements can go without BEGIN and COMMIT, their outcome told by the
    first one's probe when the answer is lost: one probed statement, or a batch led by a
    probed INSERT (a later statement of the batch cannot make its row vanish, while it
    could change the values an UPDATE's probe looks for)."""
    first = statements[0]
    if first.probe is None:
        return False
    return len(statements) == 1 or (first.kind == "INSERT" and len(statements) <= BATCH_LIMIT)


def _settled(resolved: Resolution, stale: Set[int], started: float) -> TxnResult | None:
    """The result of a transaction whose outcome was in doubt; None: replay it."""
    if resolved is Resolution.COMMITTED:
        return TxnResult(Outcome.COMMITTED, stale, time.perf_counter() - started)
    if resolved is Resolution.UNRESOLVED:
        return TxnResult(Outcome.UNRESOLVED)
    return None


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode()


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
