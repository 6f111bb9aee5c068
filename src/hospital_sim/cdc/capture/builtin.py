"""``cdc capture``: stream decoded changes from a logical slot into a JSON-lines change log.

Why SQL polling, and why peek + advance
---------------------------------------
psycopg 3 has no client for the streaming replication protocol, so we poll
``pg_logical_slot_peek_binary_changes`` over an ordinary connection: every 50 ms when
idle, at once again when a batch came back full, which keeps commit-to-written latency
well under the 500 ms target at 1,000 events/s.

``pg_logical_slot_get_binary_changes`` would consume and confirm in one step: changes
lost if we died between receiving the result and writing it (at-most-once). Instead each
round is *peek, write, flush + fsync, then* ``pg_replication_slot_advance``: the slot
only forgets what is on disk. A crash between the write and the advance means the next
peek returns those transactions again; the last event written (its ``txId`` and
``lsn``) is remembered, and on resuming into the same file read back from it, so the
repeat is skipped rather than written twice. The cost is one more round trip per poll
and a fast-forward pass over the same WAL in the advance, which is small next to
decoding.

Each peek is bounded by ``upto_lsn``, the WAL flush position read just before it. When
the batch is not full, every transaction committed before that position has been seen,
so the slot is advanced to it even if nothing was published (traffic on other tables or
databases): an idle capture still lets the server recycle WAL. A full batch (the server
stops after whole transactions) is confirmed up to its last commit.

Decoding only sees WAL the server has flushed. On a source running with
``synchronous_commit = off``, a commit becomes visible to us when the WAL writer flushes
it (``wal_writer_delay``, 200 ms by default), which adds up to that much latency.

See :mod:`hospital_sim.cdc.capture.slots` for how ``--snapshot`` gets a baseline that is
consistent with the slot's start.

This module stays near 560 lines because :class:`Capture` is one run (slot, snapshot, poll
loop, resume marker, stop conditions) whose steps read and write the same state; what both
capture engines share (opening and syncing the change log) is in
:mod:`hospital_sim.cdc.capture.sink`.
"""

from __future__ import annotations

import json
import logging
import os
import select
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psycopg

from hospital_sim.cdc.capture.envelope import (
    change_events,
    snapshot_event,
    transaction_begin,
    transaction_end,
)
from hospital_sim.cdc.capture.pgoutput import Decoder, RowChange
from hospital_sim.cdc.capture.sink import change_log, flush
from hospital_sim.cdc.capture.slots import (
    check_usable,
    create_slot,
    create_slot_with_baseline,
    get_slot,
    require_logical,
)
from hospital_sim.cdc.lsn import format_lsn, parse_lsn, percentile
from hospital_sim.config import Settings
from hospital_sim.db.connect import Conn, Target, connect
from hospital_sim.db.lifecycle import require_schema
from hospital_sim.db.schema import missing_tables
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import UserError

__all__ = ["Capture", "CaptureResult", "capture_changes", "lsn_value"]

log = logging.getLogger(__name__)

Marker = tuple[int | None, int | None]
"""(txId, lsn) of the last change event written."""
Decoded = tuple[RowChange, int | None]
"""A change and the end LSN of the transaction committed before its own (or None)."""

_PEEK = (
    "SELECT (lsn - '0/0'::pg_lsn)::int8, data FROM pg_logical_slot_peek_binary_changes("
    "%s, %s::pg_lsn, %s, 'proto_version', '1', 'publication_names', %s)"
)
_FLUSH = "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::int8"
# The insert position, not pg_current_wal_lsn(): with synchronous_commit=off a commit the
# client already saw may still sit in the WAL buffers, below the write position.
_CURRENT = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8"
_MAX_LATENCIES = 2_000_000
_SNAPSHOT_EVERY = 1.0


def lsn_value(text: str) -> int:
    """Parse an LSN given by the user (``0/16B3748``) or raise a one-line UserError."""
    try:
        return parse_lsn(text)
    except ValueError as exc:
        raise UserError(f"--until-lsn: {exc}") from None


def _reader_gone(out: TextIO) -> bool:
    """Whether ``out`` is a pipe whose reader has closed it (poll reports an error)."""
    try:
        fd = out.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode) or not hasattr(select, "poll"):
            return False
    except (OSError, ValueError, AttributeError):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))


@dataclass
class CaptureResult:
    """What a capture run wrote and why it stopped."""

    slot: str
    start_lsn: str
    confirmed_lsn: str
    stopped_by: str
    snapshot_rows: int = 0
    events: int = 0
    transactions: int = 0
    by_table_op: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies_ms: list[int] = field(default_factory=list, repr=False)
    """Commit-to-written latency of each transaction (same clock: capture on the server's
    machine or NTP-synchronised)."""

    def latency_ms(self, pct: float) -> int | None:
        return percentile(sorted(self.latencies_ms), pct)

    def lines(self) -> list[str]:
        out = [
            f"capture of slot {self.slot} stopped by {self.stopped_by}: {self.snapshot_rows} "
            f"snapshot rows, {self.events} change events in {self.transactions} transactions",
            f"  from {self.start_lsn} to {self.confirmed_lsn} (confirmed)",
        ]
        if self.latencies_ms:
            out.append(
                f"  commit-to-written latency per transaction: p50 {self.latency_ms(50)} ms, "
                f"p99 {self.latency_ms(99)} ms"
            )
        return out


def _quote_ident(name: str) -> str:
    # publication_names is parsed as a list of SQL identifiers.
    return '"' + name.replace('"', '""') + '"'


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def read_marker(path: Path) -> Marker | None:
    """(txId, lsn) of the last complete line of an existing change log; drop a torn tail."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    with open(path, "rb+") as fh:
        fh.seek(max(0, size - (1 << 16)))
        tail = fh.read()
        if not tail.endswith(b"\n"):
            # A write cut short by a crash: that transaction will be peeked again.
            cut = tail.rfind(b"\n")
            fh.truncate(size - len(tail) + cut + 1 if cut >= 0 else size - len(tail))
            tail = tail[: cut + 1] if cut >= 0 else b""
    lines = tail.splitlines()
    source: dict[str, Any] = {}
    for line in reversed(lines):  # the last change event: END markers have no source
        try:
            source = json.loads(line).get("source") or {}
        except ValueError:
            raise UserError(
                f"{path}: the last line is not JSON; capture appends only to its own change logs"
            ) from None
        if source:
            break
    if not source:
        return None
    tx, lsn = source.get("txId"), source.get("lsn")
    return (tx if isinstance(tx, int) else None, lsn if isinstance(lsn, int) else None)


class Capture:
    """One capture run. Thread-safe controls: :meth:`stop`, :meth:`stop_at`; :attr:`ready`."""

    def __init__(
        self,
        settings: Settings,
        *,
        output: str | Path | TextIO = "-",
        slot: str | None = None,
        snapshot: bool | None = None,
        idle_timeout: float | None = None,
        until_lsn: str | None = None,
        until_current: bool = False,
        batch_changes: int = 5000,
        poll_interval: float = 0.05,
        fsync: bool = True,
        transaction_metadata: bool = False,
    ) -> None:
        if batch_changes < 1 or poll_interval <= 0:
            raise UserError("batch_changes must be >= 1 and poll_interval > 0")
        if idle_timeout is not None and idle_timeout <= 0:
            raise UserError(f"--idle-timeout {idle_timeout} must be > 0 seconds")
        self.settings = settings
        self.slot = slot or settings.cdc_slot
        self.publication = settings.cdc_publication
        self.output = output
        self.snapshot = snapshot
        self.idle_timeout = idle_timeout
        self._until: int | None = lsn_value(until_lsn) if until_lsn else None
        self._until_current = until_current
        self.batch_changes = batch_changes
        self.poll_interval = poll_interval
        self.fsync = fsync
        self.transaction_metadata = transaction_metadata
        """Write Debezium's BEGIN/END markers around each transaction, with its counts."""
        self.ready = threading.Event()
        """Set once the slot exists (and the snapshot, if any, is written)."""
        self._stop = threading.Event()
        self._stop_reason = "stop"
        self._lock = threading.Lock()
        self._marker: Marker | None = None
        self._last_written: Marker | None = None
        self._previous_commit: int | None = None
        self._nudge_at: float | None = 0.0
        self._chunked = True
        self._db = ""

    # -- controls ------------------------------------------------------------------------
    def stop(self, reason: str = "stop") -> None:
        """Stop after the current batch."""
        self._stop_reason = reason
        self._stop.set()

    def stop_at(self, lsn: str | int) -> None:
        """Stop once everything committed before ``lsn`` is written."""
        with self._lock:
            self._until = parse_lsn(lsn) if isinstance(lsn, str) else lsn

    # -- run -----------------------------------------------------------------------------
    def run(self) -> CaptureResult:
        target = prepare_target(self.settings)
        self._db = target.dbname
        conn = connect(target, deadline=self.settings.connect_timeout)
        try:
            require_logical(conn, target)  # before the change log is opened
            with self._sink() as out:
                result = self._start(conn, target, out)
                self.ready.set()
                self._loop(conn, target, out, result)
        finally:
            self.ready.set()  # never leave a waiter hanging, even on failure
            conn.close()
        return result

    @contextmanager
    def _sink(self) -> Iterator[TextIO]:
        def read_resume_marker(path: Path) -> None:
            self._marker = read_marker(path)

        with change_log(self.output, read_resume_marker) as out:
            yield out

    def _start(self, conn: Conn, target: Target, out: TextIO) -> CaptureResult:
        require_schema(missing_tables(conn))
        self._check_publication(conn)
        existing = get_slot(conn, self.slot)
        result = CaptureResult(self.slot, "", "", "")
        if existing is not None:
            check_usable(existing, target.dbname)
            if self.snapshot:
                raise UserError(
                    f"slot {self.slot} already exists, so its start is fixed and --snapshot "
                    "cannot apply; use --no-snapshot to resume it, or drop it (cdc teardown)"
                )
            start = existing.confirmed_flush_lsn or "0/0"
            log.info("resuming replication slot %s at %s", self.slot, start)
        elif self.snapshot is False:
            start = create_slot(conn, self.slot)
        else:
            start = self._snapshot(target, out, result)
        result.start_lsn = result.confirmed_lsn = start
        if self._until_current:
            row = conn.execute(_CURRENT).fetchone()
            assert row is not None
            self.stop_at(int(str(row[0])))
        return result

    def _check_publication(self, conn: Conn) -> None:
        found = conn.execute(
            "SELECT 1 FROM pg_publication WHERE pubname = %s", (self.publication,)
        ).fetchone()
        if found is None:
            raise UserError(
                f"publication {self.publication} does not exist; run 'hospital-sim cdc setup' "
                "(or set CDC_PUBLICATION to an existing one)"
            )

    def _snapshot(self, target: Target, out: TextIO, result: CaptureResult) -> str:
        now = _now_ms()
        # Each read is written when the next one arrives, so the last of a table and the
        # last of all can be marked as Debezium marks them.
        held: list[dict[str, Any]] = []

        def write(marker: str | None) -> None:
            if held:
                event = held.pop()
                if marker is not None and event["source"]["snapshot"] == "true":
                    event["source"]["snapshot"] = marker
                out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")

        def sink(lsn: str, table: str, row: dict[str, Any]) -> None:
            event = snapshot_event(table, row, db=self._db, lsn=parse_lsn(lsn), ts_ms=now)
            if not result.snapshot_rows:
                event["source"]["snapshot"] = "first"
            elif held and held[0]["source"]["table"] != table:
                event["source"]["snapshot"] = "first_in_data_collection"
            if held:
                write("last_in_data_collection" if held[0]["source"]["table"] != table else None)
            held.append(event)
            result.snapshot_rows += 1
            result.by_table_op[(table, "r")] += 1

        lsn = create_slot_with_baseline(target, self.slot, sink, publication=self.publication)
        write("last")
        self._flush(out)
        log.info("snapshot of %d rows written at %s", result.snapshot_rows, lsn)
        return lsn

    def _flush(self, out: TextIO) -> None:
        flush(out, self.fsync)

    def _loop(self, conn: Conn, target: Target, out: TextIO, result: CaptureResult) -> None:
        try:
            self._poll(conn, target, out, result)
        finally:
            self._conn_in_use.close()

    def _poll(self, conn: Conn, target: Target, out: TextIO, result: CaptureResult) -> None:
        self._conn_in_use = conn
        confirmed = parse_lsn(result.confirmed_lsn)
        last_activity = time.monotonic()
        while True:
            if self._stop.is_set():
                result.stopped_by = self._stop_reason
                return
            if _reader_gone(out):
                result.stopped_by = "output closed"
                return
            try:
                upto, written, full, last_lsn = self._round(conn, out, result)
                confirm = last_lsn if full else upto
                if confirm is not None and confirm > confirmed:
                    self._advance(conn, confirm)
                    confirmed = confirm
                    result.confirmed_lsn = format_lsn(confirmed)
                if written:  # only while changes flow: an idle capture writes no WAL
                    self._nudge(conn)
            except BrokenPipeError:
                # The reader went away ('| head'): what it did not read is not confirmed.
                result.stopped_by = "output closed"
                return
            except psycopg.OperationalError:
                if self._stop.is_set():
                    continue
                # What was written but not confirmed will be peeked again: skip it then.
                log.warning("capture lost its connection; reconnecting")
                self._marker = self._last_written
                conn.close()
                conn = self._conn_in_use = connect(target, deadline=self.settings.connect_timeout)
                continue
            now = time.monotonic()
            if written:
                last_activity = now
            with self._lock:
                until = self._until
            if until is not None and confirmed >= until and not full:
                result.stopped_by = "until-current" if self._until_current else "until-lsn"
                return
            if self.idle_timeout is not None and now - last_activity >= self.idle_timeout:
                result.stopped_by = "idle-timeout"
                return
            if not full:
                self._stop.wait(self.poll_interval)

    def _advance(self, conn: Conn, lsn: int) -> None:
        conn.execute(
            "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (self.slot, format_lsn(lsn))
        )

    def _nudge(self, conn: Conn) -> None:
        """Log a running-transactions record about once a second (PostgreSQL 16+).

        Every peek decodes again from the slot's restart_lsn, which only moves at such
        records; the server writes one every 15 s, so at 1,000 events/s each 50 ms poll
        would re-read up to 15 s of WAL. One record a second caps that at about a second.
        Needs superuser (or EXECUTE granted); without it we simply do without.
        """
        now = time.monotonic()
        if self._nudge_at is None or now < self._nudge_at:
            return
        self._nudge_at = now + _SNAPSHOT_EVERY
        try:
            conn.execute("SELECT pg_log_standby_snapshot()")
        except (psycopg.errors.UndefinedFunction, psycopg.errors.InsufficientPrivilege):
            self._nudge_at = None  # PostgreSQL < 16, or not allowed

    def _round(
        self, conn: Conn, out: TextIO, result: CaptureResult
    ) -> tuple[int, int, bool, int | None]:
        """One peek: returns (upto LSN, events written, batch full, LSN of the last row)."""
        row = conn.execute(_FLUSH).fetchone()
        assert row is not None
        upto = int(str(row[0]))
        with self._lock:
            until = self._until
        if until is not None:
            upto = min(upto, until)  # nothing committed after the stop position
        try:
            changes, rows, last_lsn = self._peek(conn, upto)
        except psycopg.errors.UndefinedObject as exc:
            raise UserError(
                f"capture stopped: {str(exc).splitlines()[0]}; run 'hospital-sim cdc setup' "
                "and start the capture again"
            ) from None
        written = self._write(out, changes, result)
        if written:
            self._flush(out)
        return upto, written, rows >= self.batch_changes, last_lsn

    def _peek(self, conn: Conn, upto: int) -> tuple[list[Decoded], int, int | None]:
        decoder = Decoder()  # Relation messages are sent again by every peek
        changes: list[Decoded] = []
        rows = 0
        last_lsn = None
        previous = self._previous_commit
        params = (self.slot, format_lsn(upto), self.batch_changes, _quote_ident(self.publication))
        with conn.cursor(binary=True) as cur:
            for lsn, data in self._stream(cur, params):
                rows += 1
                last_lsn = int(str(lsn))
                assert isinstance(data, bytes)
                changes.extend((c, previous) for c in decoder.decode(data, last_lsn))
                if data[:1] == b"C":  # a Commit's row LSN is the transaction's end
                    previous = last_lsn
        self._previous_commit = previous
        return changes, rows, last_lsn

    def _stream(
        self, cur: psycopg.Cursor[tuple[object, ...]], params: tuple[object, ...]
    ) -> Iterator[tuple[object, ...]]:
        # Streamed so a huge transaction (a bulk seed) never sits whole in our memory;
        # chunks of rows need libpq 17, single rows work everywhere.
        if self._chunked:
            try:
                yield from cur.stream(_PEEK, params, size=1000)
                return
            except psycopg.NotSupportedError:
                self._chunked = False
        yield from cur.stream(_PEEK, params)

    def _skip_written(self, changes: list[Decoded]) -> list[Decoded]:
        """Drop the changes up to the last one already written (a resumed, unconfirmed tail)."""
        marker, self._marker = self._marker, None
        if marker is None:
            return changes
        for i in range(len(changes) - 1, -1, -1):
            if (changes[i][0].xid, changes[i][0].lsn) == marker:
                log.info("skipping %d changes already in the change log", i + 1)
                return changes[i + 1 :]
        return changes

    def _write(self, out: TextIO, changes: list[Decoded], result: CaptureResult) -> int:
        changes = self._skip_written(changes)
        if not changes:
            return 0
        now = _now_ms()
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        lines: list[str] = []
        latencies = result.latencies_ms
        last_xid = None
        txn = _Transaction(now) if self.transaction_metadata else None
        for change, previous in changes:
            if change.xid != last_xid and txn is not None:
                txn.end(lines, dumps)
                txn.begin(change, lines, dumps)
            for event in change_events(change, db=self._db, ts_ms=now):
                # Debezium's order key: (last commit LSN, this change's LSN), as decimal
                # strings. Change LSNs of concurrent transactions interleave; this pair
                # never goes back.
                prior = None if previous is None else str(previous)
                event["source"]["sequence"] = dumps([prior, str(change.lsn)])
                if txn is not None:
                    event["transaction"] = txn.add(change)
                lines.append(dumps(event))
                result.by_table_op[(change.table, event["op"])] += 1
            if change.xid == last_xid:
                continue
            result.transactions += 1
            last_xid = change.xid
            # Once per transaction: a bulk load's thousands of rows share one commit.
            commit_ms = change.commit_ts_ms
            if commit_ms is not None and len(latencies) < _MAX_LATENCIES:
                latencies.append(now - commit_ms)
        if txn is not None:
            txn.end(lines, dumps)
        lines.append("")
        out.write("\n".join(lines))
        result.events += len(changes)
        self._last_written = (changes[-1][0].xid, changes[-1][0].lsn)
        return len(changes)


class _Transaction:
    """Debezium's transaction metadata for the transaction being written."""

    def __init__(self, ts_ms: int) -> None:
        self.ts_ms = ts_ms
        self.id: str | None = None
        self.counts: dict[str, int] = {}
        self.total = 0

    def begin(self, change: RowChange, lines: list[str], dumps: Any) -> None:
        commit = change.commit_lsn if change.commit_lsn is not None else change.lsn
        self.id = f"{change.xid}:{commit}"
        self.counts, self.total = {}, 0
        lines.append(dumps(transaction_begin(self.id, ts_ms=self.ts_ms)))

    def add(self, change: RowChange) -> dict[str, Any]:
        name = f"{change.schema}.{change.table}"
        self.counts[name] = self.counts.get(name, 0) + 1
        self.total += 1
        return {
            "id": self.id,
            "total_order": self.total,
            "data_collection_order": self.counts[name],
        }

    def end(self, lines: list[str], dumps: Any) -> None:
        if self.id is not None:
            lines.append(dumps(transaction_end(self.id, self.counts, ts_ms=self.ts_ms)))
            self.id = None


def capture_changes(settings: Settings, **options: Any) -> CaptureResult:
    """Run a capture until it stops (idle, LSN reached); see :class:`Capture` for options."""
    return Capture(settings, **options).run()
