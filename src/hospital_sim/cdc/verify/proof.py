"""The event-level proof: a pipeline's change log against a reference change log.

The reference is a log of the same database taken by hospital-sim's own capture, started
before the workload: it holds every committed change once, in commit order, each with its
transaction id (``source.txId``) and its position in the WAL (``source.lsn``). Debezium's
PostgreSQL connector stamps its events with the same two numbers (``source.lsn`` is the
position of the change's own WAL record, as in ``pg_logical_slot_peek_binary_changes``),
so an event is identified by ``(lsn, op, txId)``: the op tells apart the ``d`` and ``c``
a primary-key update becomes, both at one LSN. Rows of one multi-row WAL record (``COPY``
writes many rows per record) share an LSN, so there the table and key tell them apart.

Every change event (``c``, ``u``, ``d``, ``t``) of the log is matched with the reference:

- **lost**: a reference event in the window (below) that the log does not have;
- **duplicated**: a log event matched a second time (at-least-once redelivery);
- **reordered**: per table and key, an event that comes before one the reference
  committed earlier;
- **altered**: a matched event whose table, key, ``before`` or ``after`` values differ
  (compared as canonical values, so Debezium's epoch encodings and ours agree);
- **unexpected**: a log event that is not in the reference.

The window: when the log starts with a snapshot (``op r``, all stamped with the snapshot's
LSN), the reference transactions that committed at or after that LSN must be in the log as
change events, and the snapshot must hold every row the reference had before it, once,
with the same values. Without a snapshot, the window starts at the first reference
transaction the log has; reference events before it are counted, not judged.

Only hashes of the row images are kept per reference event, so memory grows by about a
hundred bytes per event; the images of the first altered examples are read again from the
reference file to name the differing columns.

What the proof reports (counts, examples, the verdict's text and JSON) is in
:mod:`~hospital_sim.cdc.verify.proof_report`. This module stays near 680 lines because the
matching is one algorithm over shared state: the reference index, the per-key order and
the pending duplicates are read and written by the same pass, and cut apart they would
need the whole state passed between modules.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from hospital_sim.cdc.schema_types import TABLE_NAMES
from hospital_sim.cdc.values import UNAVAILABLE, UNAVAILABLE_PLACEHOLDER
from hospital_sim.cdc.verify.events import ChangeEvent, ChangeLogError, ChangeLogParser
from hospital_sim.cdc.verify.proof_report import (
    ABSENT,
    KINDS,
    EventExample,
    ProofReport,
    SnapshotProof,
    TableProof,
)
from hospital_sim.errors import UserError

__all__ = ["KINDS", "EventExample", "ProofReport", "SnapshotProof", "TableProof", "prove_events"]

_OP_CODE: Final = {"c": 1, "u": 2, "d": 3, "t": 4}
_OPS: Final = "?cudt"
_NO_KEY: Final = -(1 << 63)


def _image_hash(row: Mapping[str, Any] | None) -> int:
    """One number per row image, whatever the order of its columns."""
    if row is None:
        return 0
    try:
        return hash(frozenset(row.items()))
    except TypeError:  # an unmodelled column decoded to a list or dict
        return hash(repr(sorted((k, repr(v)) for k, v in row.items())))


def _placeholders(row: Mapping[str, Any] | None) -> int:
    """Values Debezium did not send (an unchanged TOASTed column), decoded or not."""
    if row is None:
        return 0
    return sum(1 for v in row.values() if v is UNAVAILABLE or v == UNAVAILABLE_PLACEHOLDER)


def _same_sent(want: Mapping[str, Any] | None, got: Mapping[str, Any] | None) -> bool:
    """Two decoded images alike in every column both of them sent."""
    if want is None or got is None:
        return want is got
    if set(want) != set(got):
        return False
    return all(
        a is UNAVAILABLE or b is UNAVAILABLE or _same_value(a, b)
        for a, b in ((want[c], got[c]) for c in want)
    )


def _same_value(a: Any, b: Any) -> bool:
    if type(a) is type(b):
        return bool(a == b)
    # A NUMERIC column the user added: our capture writes its text, Debezium a decimal.
    for number, text in ((a, b), (b, a)):
        if isinstance(number, Decimal) and isinstance(text, str):
            try:
                return Decimal(text) == number
            except ArithmeticError:
                return False
    return False


def _column_diffs(
    want: Mapping[str, Any] | None, got: Mapping[str, Any] | None
) -> tuple[tuple[str, Any, Any], ...]:
    if want is None or got is None:
        return (("(row)", want, got),) if want is not got else ()
    diffs = []
    for column in (*want, *(c for c in got if c not in want)):
        a, b = want.get(column), got.get(column)
        if a != b or type(a) is not type(b):
            diffs.append((column, ABSENT if column not in want else a, b))
    return tuple(diffs)


class _Lines:
    """Lines of a log that can be read again by number: a file, or lines kept in memory."""

    def __init__(self, path: str | Path | None, lines: list[str] | None = None) -> None:
        self.path = None if path is None or str(path) == "-" else Path(path)
        self.kept = lines

    @property
    def rereadable(self) -> bool:
        return self.path is not None or self.kept is not None

    def events(self, numbers: set[int]) -> dict[int, ChangeEvent]:
        """The fully decoded events on lines ``numbers``."""
        if not numbers:
            return {}
        parser = ChangeLogParser()
        found: dict[int, ChangeEvent] = {}
        last = max(numbers)
        for line_no, line in enumerate(self._lines(), 1):
            if line_no in numbers:
                event = parser.parse_line(line, line_no)
                if event is not None:
                    found[line_no] = event
            if line_no >= last:
                break
        return found

    def _lines(self) -> Iterator[str]:
        if self.kept is not None:
            yield from self.kept
            return
        assert self.path is not None
        with open(self.path, encoding="utf-8") as fh:
            yield from fh


class _Reference:
    """The reference's change events, kept as arrays of numbers.

    Row images are kept as hashes of the values as the JSON has them; when two logs encode
    a value differently, the lines are decoded again and compared as canonical values.
    """

    def __init__(self) -> None:
        self.tables: list[str] = []
        self.table_code: dict[str, int] = {}
        self.table = array("H")
        self.key = array("q")
        self.op = array("b")
        self.lsn = array("q")
        self.txn = array("l")
        """Index of the event's transaction in ``tx_ids``."""
        self.after = array("q")
        self.before = array("q")
        self.decoded = bytearray()
        """1 where ``after``/``before`` hash canonical values (a line parsed in full)."""
        self.holes = bytearray()
        """1 where the event has unavailable placeholders (values not sent)."""
        self.line = array("q")
        self.position: dict[int, int] = {}
        """(lsn << 3 | op code) -> index of the first event there."""
        self.shared: dict[tuple[int, int, int], int] = {}
        """(position, table code, key) -> index, for positions several events share."""
        self.shared_positions: set[int] = set()
        self.tx_ids = array("q")
        self.tx_commit = array("q")
        """Commit record LSN of each transaction, or its highest change LSN if unknown."""
        self.snapshot: dict[tuple[str, int], tuple[int, bool, int]] = {}
        """(table, id) -> (image hash, decoded, line) of the reference's snapshot reads."""
        self.snapshot_lsn: int | None = None
        self.duplicates = 0

    def code(self, table: str) -> int:
        code = self.table_code.get(table)
        if code is None:
            code = self.table_code[table] = len(self.tables)
            self.tables.append(table)
        return code

    def add(self, event: ChangeEvent) -> None:
        if event.op == "r":
            if event.key is not None:
                self.snapshot[(event.table, event.key)] = (
                    _image_hash(event.after),
                    event.decoded,
                    event.line_no,
                )
            if self.snapshot_lsn is None:
                self.snapshot_lsn = event.lsn
            return
        lsn, tx_id = event.lsn, event.tx_id
        if lsn is None or tx_id is None:
            raise ChangeLogError(
                event.line_no,
                "a reference event needs source.lsn and source.txId; use a log written by "
                "'hospital-sim cdc capture' as the reference",
            )
        position = lsn << 3 | _OP_CODE[event.op]
        key = _NO_KEY if event.key is None else event.key
        first = self.position.get(position)
        if first is not None:
            code = self.code(event.table)
            if (self.table[first], self.key[first]) == (code, key) or (
                position,
                code,
                key,
            ) in self.shared:
                self.duplicates += 1  # a resumed reference repeating itself
                return
            if position not in self.shared_positions:
                self.shared_positions.add(position)
                self.shared[(position, self.table[first], self.key[first])] = first
            self.shared[(position, code, key)] = len(self.key)
        # The reference is in commit order: a transaction's events are contiguous.
        txn = len(self.tx_ids) - 1
        if txn < 0 or self.tx_ids[txn] != tx_id:
            txn += 1
            self.tx_ids.append(tx_id)
            self.tx_commit.append(event.commit_lsn if event.commit_lsn is not None else lsn)
        elif event.commit_lsn is None and lsn > self.tx_commit[txn]:
            self.tx_commit[txn] = lsn
        if first is None:
            self.position[position] = len(self.key)
        self.table.append(self.code(event.table))
        self.key.append(key)
        self.op.append(_OP_CODE[event.op])
        self.lsn.append(lsn)
        self.txn.append(txn)
        self.after.append(_image_hash(event.after))
        self.before.append(_image_hash(event.before))
        self.decoded.append(1 if event.decoded else 0)
        self.holes.append(1 if _placeholders(event.after) else 0)
        self.line.append(event.line_no)

    def find(self, event: ChangeEvent) -> int | None:
        """Index of the reference event at ``event``'s position (None if there is none)."""
        assert event.lsn is not None
        position = event.lsn << 3 | _OP_CODE[event.op]
        index = self.position.get(position)
        if index is None or position not in self.shared_positions:
            return index  # one event there: a different table or key is an alteration
        code = self.table_code.get(event.table, -1)
        return self.shared.get((position, code, _NO_KEY if event.key is None else event.key))

    def __len__(self) -> int:
        return len(self.key)


@dataclass(slots=True)
class _Sample:
    kind: str
    index: int | None
    event: ChangeEvent


@dataclass(slots=True)
class _Pending:
    """A matched event whose values must be compared decoded: (reference index, log event)."""

    index: int
    event: ChangeEvent
    holes: bool = False
    """Either image has placeholders: compare only the values both sent."""


class _Proof:
    def __init__(self, reference: _Reference, *, sample_size: int, log_rereadable: bool) -> None:
        self.ref = reference
        self.sample_size = sample_size
        self.log_rereadable = log_rereadable
        self.matched = bytearray(len(reference))
        self.tables: dict[str, TableProof] = {}
        self.snapshot_rows: dict[tuple[str, int], list[Any]] = {}
        """(table, id) -> [count, image hash, first line, decoded]."""
        self.snapshot_lsn: int | None = None
        self.last_index: dict[tuple[int, int], int] = {}
        self.first_txn: int | None = None
        self.samples: list[_Sample] = []
        self.sample_counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.pending: list[_Pending] = []
        self.log_events = 0
        self.placeholders = 0
        self.parser = ChangeLogParser()

    def table(self, name: str) -> TableProof:
        proof = self.tables.get(name)
        if proof is None:
            proof = self.tables[name] = TableProof(name)
        return proof

    def sample(self, kind: str, index: int | None, event: ChangeEvent) -> None:
        if self.sample_counts[kind] < self.sample_size:
            self.sample_counts[kind] += 1
            self.samples.append(_Sample(kind, index, event))

    def add(self, event: ChangeEvent, line: str) -> None:
        self.log_events += 1
        if event.op == "r":
            self._snapshot_row(event, line)
            return
        ref = self.ref
        proof = self.table(event.table)
        proof.events += 1
        holes = _placeholders(event.after)
        self.placeholders += holes
        index = None if event.lsn is None else ref.find(event)
        if index is None or ref.tx_ids[ref.txn[index]] != event.tx_id:
            proof.unexpected += 1
            self.sample("unexpected", None, event)
            return
        if self.matched[index]:
            proof.duplicated += 1
            self.sample("duplicated", index, event)
            return
        self.matched[index] = 1
        txn = ref.txn[index]
        if self.first_txn is None or txn < self.first_txn:
            self.first_txn = txn
        key = _NO_KEY if event.key is None else event.key
        if ref.tables[ref.table[index]] != event.table or ref.key[index] != key:
            proof.altered += 1
            self.sample("altered", index, self._decoded(event, line))
        elif (
            ref.after[index] != _image_hash(event.after)
            or ref.before[index] != _image_hash(event.before)
            or ref.decoded[index] != event.decoded
        ):
            if holes or ref.holes[index]:  # a value not sent is not a value altered
                self.pending.append(_Pending(index, self._decoded(event, line), holes=True))
            elif ref.decoded[index] and event.decoded:
                proof.altered += 1
                self.sample("altered", index, event)
            else:  # encoded differently, perhaps alike: decide on canonical values
                self.pending.append(_Pending(index, self._decoded(event, line)))
        per_key = (ref.table[index], key)
        last = self.last_index.get(per_key)
        if last is not None and index < last:
            proof.reordered += 1
            self.sample("reordered", index, event)
        else:
            self.last_index[per_key] = index

    def _decoded(self, event: ChangeEvent, line: str) -> ChangeEvent:
        if event.decoded:
            return event
        full = self.parser.parse_line(line, event.line_no)
        assert full is not None
        return full

    def _snapshot_row(self, event: ChangeEvent, line: str) -> None:
        if self.snapshot_lsn is None:
            self.snapshot_lsn = event.lsn
        assert event.key is not None
        row = (event.table, event.key)
        seen = self.snapshot_rows.get(row)
        if seen is None:
            if not self.log_rereadable:
                event = self._decoded(event, line)
            self.snapshot_rows[row] = [
                1,
                _image_hash(event.after),
                event.line_no,
                event.decoded,
            ]
        else:
            seen[0] += 1
            self.sample("duplicated", None, event)


def _in_snapshot(ref: _Reference, snapshot_lsn: int) -> Iterator[int]:
    """Reference transactions committed before the snapshot LSN (in the snapshot)."""
    for txn, commit in enumerate(ref.tx_commit):
        if commit < snapshot_lsn:
            yield txn


def _expected_snapshot(
    ref: _Reference, snapshot_lsn: int
) -> dict[tuple[str, int], tuple[int, bool, int]]:
    """The rows (image hash, decoded, line) the reference had at the log's snapshot."""
    state = dict(ref.snapshot)
    before = set(_in_snapshot(ref, snapshot_lsn))
    if not before:
        return state
    for i in range(len(ref)):
        if ref.txn[i] not in before:
            continue
        table, op = ref.tables[ref.table[i]], ref.op[i]
        if op == _OP_CODE["t"]:
            for row in [k for k in state if k[0] == table]:
                del state[row]
        elif op == _OP_CODE["d"]:
            state.pop((table, ref.key[i]), None)
        else:
            state[(table, ref.key[i])] = (ref.after[i], bool(ref.decoded[i]), ref.line[i])
    return state


def prove_events(
    log_lines: Iterable[str],
    reference_lines: Iterable[str],
    *,
    reference_path: str | Path | None = None,
    log_path: str | Path | None = None,
    allow_redelivery: bool = False,
    sample_size: int = 10,
) -> ProofReport:
    """Match every change event of ``log_lines`` with ``reference_lines``.

    ``reference_path`` and ``log_path``, when given, are read again for the few lines whose
    values must be decoded (otherwise the reference lines are kept in memory). Raises
    :class:`ChangeLogError` (a UserError) for an unusable line.
    """
    if reference_path is None or str(reference_path) == "-":
        reference_lines = list(reference_lines)
        reference = _Lines(None, reference_lines)
    else:
        reference = _Lines(reference_path)
    log = _Lines(log_path)
    ref = _Reference()
    ref_parser = ChangeLogParser()
    try:
        for line_no, line in enumerate(reference_lines, 1):
            event = ref_parser.parse_line_raw(line, line_no)
            if event is not None:
                ref.add(event)
    except ChangeLogError as exc:
        raise UserError(f"reference {exc}") from None
    if not ref.table and not ref.snapshot:
        # Every log would match it: a proof against nothing would pass and prove nothing.
        named = f" {reference_path}" if reference_path is not None else ""
        raise UserError(
            f"the reference change log{named} holds no events (no change, no snapshot row), "
            "so there is nothing to prove against; write it with 'cdc capture' started "
            "before the workload"
        )
    proof = _Proof(ref, sample_size=sample_size, log_rereadable=log.rereadable)
    log_parser = ChangeLogParser()
    for line_no, line in enumerate(log_lines, 1):
        event = log_parser.parse_line_raw(line, line_no)
        if event is not None:
            proof.add(event, line)
    return _report(proof, ref, reference, log, allow_redelivery, sample_size)


def _resolve_pending(proof: _Proof, ref: _Reference, reference: _Lines) -> None:
    """Compare as canonical values the matched events whose encodings differ."""
    images = reference.events({ref.line[p.index] for p in proof.pending})
    for p in proof.pending:
        i, event = p.index, p.event
        if p.holes:
            image = images[ref.line[i]]
            if not (
                _same_sent(image.after, event.after) and _same_sent(image.before, event.before)
            ):
                proof.table(event.table).altered += 1
                proof.sample("altered", i, event)
            continue
        if ref.decoded[i]:
            want_after, want_before = ref.after[i], ref.before[i]
        else:
            image = images[ref.line[i]]
            want_after, want_before = _image_hash(image.after), _image_hash(image.before)
        if (want_after, want_before) != (
            _image_hash(event.after),
            _image_hash(event.before),
        ) and not (
            ref.line[i] in images
            and _same_sent(images[ref.line[i]].after, event.after)
            and _same_sent(images[ref.line[i]].before, event.before)
        ):
            proof.table(event.table).altered += 1
            proof.sample("altered", i, event)


def _report(
    proof: _Proof,
    ref: _Reference,
    reference: _Lines,
    log: _Lines,
    allow_redelivery: bool,
    sample_size: int,
) -> ProofReport:
    _resolve_pending(proof, ref, reference)
    notes: list[str] = []
    snapshot: list[SnapshotProof] = []
    lost_samples: list[tuple[int, int]] = []
    if proof.snapshot_lsn is not None:
        window = set(range(len(ref.tx_ids))) - set(_in_snapshot(ref, proof.snapshot_lsn))
        if ref.snapshot_lsn is not None and ref.snapshot_lsn > proof.snapshot_lsn:
            notes.append(
                "the reference starts after the log's snapshot, so the snapshot rows are "
                "counted but not checked; start the reference capture first"
            )
        else:
            snapshot = _check_snapshot(proof, ref, reference, log, sample_size)
    else:
        first_window_txn = proof.first_txn if proof.first_txn is not None else 0
        window = set(range(first_window_txn, len(ref.tx_ids)))
    before_window = 0
    for i in range(len(ref)):
        table = proof.table(ref.tables[ref.table[i]])
        if ref.txn[i] not in window:
            before_window += 0 if proof.snapshot_lsn is not None else 1
            if proof.matched[i]:
                table.matched += 1
            continue
        table.reference += 1
        if proof.matched[i]:
            table.matched += 1
        else:
            table.lost += 1
            if len(lost_samples) < sample_size:
                lost_samples.append((i, ref.txn[i]))
    examples = _examples(proof, ref, lost_samples, reference)
    order = {name: n for n, name in enumerate(TABLE_NAMES)}
    tables = sorted(proof.tables.values(), key=lambda t: (order.get(t.table, 99), t.table))
    if proof.log_events and not proof.matched.count(1) and len(ref):
        notes.append(
            "no change event of the log is in the reference: is the reference a capture of "
            "the same database, started before the pipeline's first change?"
        )
    if ref.duplicates:
        notes.append(f"the reference repeats {ref.duplicates} events; each is counted once")
    notes += _truncate_notes(ref, proof, window)
    if proof.placeholders:
        notes.append(
            f"{proof.placeholders} values of the log are {UNAVAILABLE_PLACEHOLDER}: an unchanged "
            "TOASTed column the connector did not send (REPLICA IDENTITY DEFAULT); counted as not "
            "sent, not as altered. A consumer must carry the previous value forward, not store "
            "the placeholder; REPLICA IDENTITY FULL on the table makes the connector send it"
        )
    return ProofReport(
        tables=tables,
        snapshot=snapshot,
        examples=examples,
        allow_redelivery=allow_redelivery,
        log_events=proof.log_events,
        reference_events=len(ref) + len(ref.snapshot),
        snapshot_lsn=proof.snapshot_lsn,
        before_window=before_window,
        placeholders=proof.placeholders,
        notes=notes,
    )


def _truncate_notes(ref: _Reference, proof: _Proof, window: set[int]) -> list[str]:
    """The cause of a lost TRUNCATE: Debezium's default skips them."""
    lost = sorted(
        {
            ref.tables[ref.table[i]]
            for i in range(len(ref))
            if ref.op[i] == _OP_CODE["t"] and ref.txn[i] in window and not proof.matched[i]
        }
    )
    return [
        f"TRUNCATE of {table} not in the log: Debezium skips truncates unless "
        "skipped.operations=none"
        for table in lost
    ]


def _check_snapshot(
    proof: _Proof, ref: _Reference, reference: _Lines, log: _Lines, sample_size: int
) -> list[SnapshotProof]:
    assert proof.snapshot_lsn is not None
    lsn = proof.snapshot_lsn
    expected = _expected_snapshot(ref, lsn)
    tables: dict[str, SnapshotProof] = {}

    def table(name: str) -> SnapshotProof:
        found = tables.get(name)
        if found is None:
            found = tables[name] = SnapshotProof(name)
        return found

    undecided: list[tuple[str, int]] = []
    for (name, key), (image, decoded, _line) in expected.items():
        snap = table(name)
        snap.expected += 1
        seen = proof.snapshot_rows.get((name, key))
        if seen is None:
            snap.lost += 1
            if proof.sample_counts["lost"] < sample_size:
                proof.sample_counts["lost"] += 1
                proof.samples.append(_Sample("lost", None, _row_event(name, key, None, lsn)))
        elif seen[1] == image and seen[3] == decoded:
            continue
        elif decoded and seen[3]:
            snap.altered += 1
            proof.sample("altered", None, _row_event(name, key, seen[2], lsn))
        else:
            undecided.append((name, key))
    if undecided:
        # Encoded differently: decode both lines and compare canonical values.
        theirs = log.events(
            {
                proof.snapshot_rows[k][2]
                for k in undecided
                if log.rereadable or not proof.snapshot_rows[k][3]
            }
        )
        ours = reference.events(
            {expected[k][2] for k in undecided if reference.rereadable or not expected[k][1]}
        )
        for k in undecided:
            row = proof.snapshot_rows[k]
            want, got = ours.get(expected[k][2]), theirs.get(row[2])
            if want is not None and got is not None:
                # Both read again: compared as the change events are, so a NUMERIC
                # column's text (ours) and decimal (Debezium's, whose JDBC snapshot drops
                # trailing zeros) are the same number.
                if not _same_sent(want.after, got.after):
                    table(k[0]).altered += 1
                    proof.sample("altered", None, _row_event(k[0], k[1], row[2], lsn))
                continue
            want_hash = expected[k][0]
            if not expected[k][1]:
                want_hash = _image_hash(None if want is None else want.after)
            got_hash = row[1] if row[3] else _image_hash(None if got is None else got.after)
            if want_hash != got_hash:
                table(k[0]).altered += 1
                proof.sample("altered", None, _row_event(k[0], k[1], row[2], lsn))
    for (name, key), (count, _image, line, _decoded) in proof.snapshot_rows.items():
        snap = table(name)
        snap.rows += count
        snap.duplicated += count - 1
        if (name, key) not in expected:
            snap.unexpected += 1
            proof.sample("unexpected", None, _row_event(name, key, line, lsn))
    order = {name: n for n, name in enumerate(TABLE_NAMES)}
    return sorted(tables.values(), key=lambda s: (order.get(s.table, 99), s.table))


def _row_event(table: str, key: int, line: int | None, lsn: int | None) -> ChangeEvent:
    return ChangeEvent(table, "r", key, None, None, lsn, None, None, None, line or 0)


def _examples(
    proof: _Proof,
    ref: _Reference,
    lost: list[tuple[int, int]],
    reference: _Lines,
) -> dict[str, list[EventExample]]:
    wanted = {
        ref.line[s.index] for s in proof.samples if s.kind == "altered" and s.index is not None
    }
    images = reference.events(wanted)
    out: dict[str, list[EventExample]] = {k: [] for k in KINDS}
    for i, txn in lost:
        out["lost"].append(
            EventExample(
                "lost",
                ref.tables[ref.table[i]],
                None if ref.key[i] == _NO_KEY else ref.key[i],
                _OPS[ref.op[i]],
                ref.lsn[i],
                ref.tx_ids[txn],
                None,
                ref.line[i],
            )
        )
    for s in proof.samples:
        e = s.event
        snapshot = e.op == "r"
        ref_line = None if s.index is None else ref.line[s.index]
        columns: tuple[tuple[str, Any, Any], ...] = ()
        if s.kind == "altered" and ref_line in images and e.decoded:
            want = images[ref_line]
            columns = _column_diffs(want.after, e.after) or _column_diffs(want.before, e.before)
        out[s.kind].append(
            EventExample(
                s.kind,
                e.table,
                e.key,
                e.op,
                e.lsn,
                e.tx_id,
                e.line_no if e.line_no else None,
                ref_line,
                columns,
                snapshot,
            )
        )
    return out
