"""Prepared statements run through psycopg's libpq binding, for the stream's hot path.

psycopg's ``Connection.execute`` spends more client time per statement than the server
needs to run a one-row INSERT and commit it; over a stream of one-statement
transactions that halves throughput. Here each query is prepared once per connection
(``PQprepare``) and sent with ``PQsendQueryPrepared``; parameters are turned into text
by psycopg's own adapters (``psycopg.adapt.Transformer``) and their types are inferred
by the server from the statement, so values are adapted exactly as ``execute`` would.

Sending and receiving are separate calls, so the caller can do useful work (plan the
next event) while the server runs the statement. Waiting for the answer polls the
socket, which lets other threads run in the meantime.

Several statements can go as one batch (libpq's pipeline mode, ended by one Sync): the
server runs them as one implicit transaction, committed at the Sync, or rolled back at
the first error, and answers them all at once: one round trip instead of BEGIN, each
statement and COMMIT. A batch may be sent before the answer to the one before it has
arrived: each is its own transaction (an error in one does not touch the next), run by
the server in the order sent, and their answers are read in that order.

The connection stays an ordinary psycopg connection: ``commit``, ``rollback``,
``execute`` and ``close`` keep working on it, and its transaction status is libpq's.
"""

from __future__ import annotations

import re
import select
from collections.abc import Callable, Sequence
from typing import cast

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

from hospital_sim.db.connect import Conn

OK = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK})
_PLACEHOLDER = re.compile(rb"%s")


def numbered(query: bytes) -> bytes:
    """``%s`` placeholders as ``$1, $2, ...`` (the queries here never hold a literal %)."""
    counter = iter(range(1, 1 << 16))
    return _PLACEHOLDER.sub(lambda _m: b"$%d" % next(counter), query)


class PreparedConnection:
    """One connection's prepared statements; make a new one for every new connection.

    One query at a time: ``send`` (or ``send_command``), then ``receive``; or batches,
    several in flight: ``send_batch`` each, then ``receive_batch`` each, in order.
    """

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self.encoding = conn.info.encoding
        self._tx = Transformer(conn)
        self._names: dict[bytes, bytes] = {}
        self._formats: dict[int, list[PyFormat]] = {}
        self._wait = _readable_waiter(self.pgconn.socket)
        self.batches = 0  # batches sent whose answers are not read yet

    def execute(self, query: bytes, params: tuple[object, ...]) -> pq.abc.PGresult:
        """Run ``query`` (with ``%s`` placeholders) with ``params``; raise psycopg errors."""
        self.send(query, params)
        return self.receive()

    def command(self, command: bytes) -> pq.abc.PGresult:
        """Run a parameterless command (BEGIN, COMMIT) and return its result."""
        self.send_command(command)
        return self.receive()

    def send(self, query: bytes, params: tuple[object, ...]) -> None:
        name = self._name(query)
        pgconn = self.pgconn
        pgconn.send_query_prepared(name, self._values(params))
        if pgconn.flush():  # part of a long message is still to go
            self._flush()

    def send_batch(self, statements: Sequence[tuple[bytes, tuple[object, ...]]]) -> None:
        """Send ``(query, params)`` pairs as one implicit transaction; read the answers
        with :meth:`receive_batch`. Batches sent before are still answered first."""
        pgconn = self.pgconn
        if not self.batches:  # statements are prepared outside a pipeline
            names = [self._name(query) for query, _ in statements]
            pgconn.enter_pipeline_mode()
        else:
            names = [self._names[query] for query, _ in statements]
        for name, (_, params) in zip(names, statements, strict=True):
            pgconn.send_query_prepared(name, self._values(params))
        pgconn.pipeline_sync()
        self.batches += 1
        self._flush()

    def preparable(self, statements: Sequence[tuple[bytes, tuple[object, ...]]]) -> bool:
        """Whether these statements can be sent behind a batch in flight: each is
        prepared already (preparing one waits for its own answer)."""
        return all(query in self._names for query, _ in statements)

    def _name(self, query: bytes) -> bytes:
        name = self._names.get(query)
        if name is None:
            name = b"hsim_%d" % len(self._names)
            self._check(self.pgconn.prepare(name, numbered(query)))
            self._names[query] = name
        return name

    def _values(self, params: tuple[object, ...]) -> list[bytes]:
        formats = self._formats.get(len(params))
        if formats is None:
            formats = self._formats[len(params)] = [PyFormat.TEXT] * len(params)
        # None is sent as NULL: libpq takes a null pointer for it (the stub says bytes only).
        return cast("list[bytes]", self._tx.dump_sequence(params, formats))

    def send_command(self, command: bytes) -> None:
        self.pgconn.send_query(command)
        self._flush()

    def receive(self) -> pq.abc.PGresult:
        """The answer to what was sent, waiting for it; raises psycopg errors."""
        pgconn = self.pgconn
        last: pq.abc.PGresult | None = None
        while True:
            while pgconn.is_busy():
                self._wait()  # releases the GIL while the server works
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                break
            last = result
        if last is None:
            raise psycopg.OperationalError("the server sent no result")
        return self._check(last)

    def receive_batch(self, count: int) -> list[pq.abc.PGresult]:
        """The answers to the ``count`` statements of a batch, once the server has
        committed them; raises the first statement's error (the batch was rolled back)."""
        pgconn = self.pgconn
        results: list[pq.abc.PGresult] = []
        error: pq.abc.PGresult | None = None
        try:
            for _ in range(count):
                result = self._next_result()
                if result is None or self._next_result() is not None:
                    raise psycopg.OperationalError("the server's answers are out of step")
                if error is None and result.status not in OK:
                    error = result  # later statements come back PIPELINE_ABORTED
                results.append(result)
            # The end of the batch; an error raised by its commit (a deferred constraint)
            # comes before it.
            sync = None
            for _ in range(3):
                result = self._next_result()
                if result is None:
                    continue
                if result.status == pq.ExecStatus.PIPELINE_SYNC:
                    sync = result
                    break
                if error is None:
                    error = result
        finally:
            self.batches -= 1
            if not self.batches and pgconn.status == pq.ConnStatus.OK and pgconn.pipeline_status:
                pgconn.exit_pipeline_mode()
        if error is not None:
            self._check(error)
        if sync is None:
            raise psycopg.OperationalError("the server sent no end of the batch")
        return results

    def _next_result(self) -> pq.abc.PGresult | None:
        pgconn = self.pgconn
        while pgconn.is_busy():
            self._wait()
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None and pgconn.status == pq.ConnStatus.BAD:
            self._check_lost()
        return result

    def _check_lost(self) -> None:
        message = self.pgconn.get_error_message(self.encoding).strip()
        raise psycopg.OperationalError(message or "connection to the server was lost")

    def _flush(self) -> None:
        # A non-blocking connection may keep part of a long message; small ones go at once.
        while self.pgconn.flush():
            select.select([], [self.pgconn.socket], [])

    def _check(self, result: pq.abc.PGresult) -> pq.abc.PGresult:
        if result.status in OK:
            return result
        sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
        if sqlstate is None and self.pgconn.status == pq.ConnStatus.BAD:
            # libpq's own failure (socket closed, server crashed): there is no SQLSTATE.
            self._check_lost()
        raise psycopg.errors.error_from_result(result, encoding=self.encoding)


def _readable_waiter(fd: int) -> Callable[[], object]:
    """A call that blocks until ``fd`` is readable (poll where there is one, else select)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return poller.poll
    return lambda: select.select([fd], [], [])


def rowcount(result: pq.abc.PGresult) -> int:
    """Rows the statement inserted, updated or returned."""
    count = result.command_tuples
    return 0 if count is None else count
