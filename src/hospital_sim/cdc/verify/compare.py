"""Compare replayed tables with the expected rows, and report the difference.

A :class:`VerifyReport` says per table how many rows matched, are missing (expected but
not replayed), extra (replayed but not expected) or differing (with column-level diffs
for a sample), together with the replay's duplicates, LSN order violations, unavailable
placeholders and commit-to-capture lag.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from hospital_sim.cdc.lsn import format_lsn
from hospital_sim.cdc.schema_types import PRIMARY_KEY, TABLE_NAMES
from hospital_sim.cdc.values import UNAVAILABLE, UNAVAILABLE_PLACEHOLDER
from hospital_sim.cdc.verify.events import ParseStats, TransactionEnd
from hospital_sim.cdc.verify.psql_csv import load_expected_csv_dir
from hospital_sim.cdc.verify.replay import (
    Duplicate,
    LagStats,
    LostEvent,
    OrderViolation,
    ReplayResult,
)

__all__ = [
    "ABSENT",
    "ColumnDiff",
    "TableReport",
    "VerifyReport",
    "compare",
    "load_expected_csv_dir",
]

Expected = Mapping[str, Iterable[Mapping[str, Any]]]


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Final = _Absent()
"""Stands for a column one side of a differing row does not have at all."""


@dataclass(frozen=True, slots=True)
class ColumnDiff:
    id: int
    column: str
    expected: Any
    got: Any


@dataclass(frozen=True, slots=True)
class TransactionMismatch:
    """A transaction whose END marker counts differ from the change events in the log."""

    id: str
    table: str
    expected: int
    got: int
    line_no: int


@dataclass(slots=True)
class TableReport:
    table: str
    expected_rows: int = 0
    replayed_rows: int = 0
    matched: int = 0
    missing: int = 0
    extra: int = 0
    differing: int = 0
    events: int = 0
    duplicates: int = 0
    order_violations: int = 0
    placeholders: int = 0
    unresolved_placeholders: int = 0
    sub_millisecond: int = 0
    """Differing rows whose only differences are timestamps cut to the millisecond."""
    truncates: int = 0
    """TRUNCATE (``op t``) events of the table in the log."""
    lost_events: int = 0
    """Change events the log shows were lost although the final row matches: an update or
    delete of a row nothing produced, or fewer events than a transaction's END marker."""
    missing_ids: list[int] = field(default_factory=list)
    extra_ids: list[int] = field(default_factory=list)
    diffs: list[ColumnDiff] = field(default_factory=list)
    """Column-level diffs of a sample of the differing rows."""

    @property
    def identical(self) -> bool:
        return not (
            self.missing
            or self.extra
            or self.differing
            or self.duplicates
            or self.order_violations
            or self.lost_events
        )


_SHOWN_CHARS: Final = 200
"""How much of one value a report shows: a 200 MB value is not echoed whole."""


def _clip(text: str) -> str:
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}... ({len(text)} characters)"


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, bytes):
        return _clip(base64.b64encode(value).decode("ascii"))
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if value is UNAVAILABLE:
        return UNAVAILABLE_PLACEHOLDER
    if value is ABSENT:
        return "<absent>"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return repr(value)


def _shown(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if value is UNAVAILABLE:
        return UNAVAILABLE_PLACEHOLDER
    if value is ABSENT:
        return "<absent>"
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} characters)"
    return _clip(repr(value))


_COUNT_FIELDS: Final = (
    "expected_rows",
    "replayed_rows",
    "matched",
    "missing",
    "extra",
    "differing",
    "events",
    "duplicates",
    "order_violations",
    "placeholders",
    "unresolved_placeholders",
    "sub_millisecond",
    "lost_events",
)
_TABLE_COLUMNS: Final = (
    ("table", "table"),
    ("expected_rows", "expected"),
    ("replayed_rows", "replayed"),
    ("matched", "matched"),
    ("missing", "missing"),
    ("extra", "extra"),
    ("differing", "differing"),
    ("events", "events"),
    ("lost_events", "lost"),
    ("duplicates", "dups"),
    ("order_violations", "order"),
    ("placeholders", "placeholders"),
)


@dataclass(slots=True)
class VerifyReport:
    """The outcome of a verify: per-table counts plus what the replay noticed."""

    tables: list[TableReport]
    lag: LagStats = field(default_factory=LagStats)
    events: int = 0
    tombstones: int = 0
    skipped: int = 0
    duplicate_samples: list[Duplicate] = field(default_factory=list)
    order_violation_samples: list[OrderViolation] = field(default_factory=list)
    allow_redelivery: bool = False
    """Duplicates (at-least-once redelivery) are still counted and shown, but accepted."""
    lost_samples: list[LostEvent] = field(default_factory=list)
    transactions_checked: int = 0
    """Transactions whose END marker's event counts were checked."""
    transaction_mismatches: list[TransactionMismatch] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """True only when no table has a missing, extra, differing, duplicate or late event.

        With ``allow_redelivery``, duplicate events alone do not make it false.
        """
        if self.allow_redelivery:
            return not self.transaction_mismatches and all(
                not (t.missing or t.extra or t.differing or t.order_violations or t.lost_events)
                for t in self.tables
            )
        return not self.transaction_mismatches and all(t.identical for t in self.tables)

    def _total(self, name: str) -> int:
        return sum(int(getattr(t, name)) for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (for ``--json``)."""
        counts = _COUNT_FIELDS
        return {
            "identical": self.identical,
            "allow_redelivery": self.allow_redelivery,
            "events": self.events,
            "tombstones": self.tombstones,
            "skipped": self.skipped,
            "totals": {name: self._total(name) for name in counts},
            "lag_ms": {
                "count": self.lag.count,
                "p50": self.lag.p50_ms,
                "p99": self.lag.p99_ms,
                "max": self.lag.max_ms,
            },
            "tables": {
                t.table: {
                    **{name: getattr(t, name) for name in counts},
                    "identical": t.identical,
                    "missing_ids": list(t.missing_ids),
                    "extra_ids": list(t.extra_ids),
                    "diffs": [
                        {
                            "id": d.id,
                            "column": d.column,
                            "expected": _jsonable(d.expected),
                            "got": _jsonable(d.got),
                        }
                        for d in t.diffs
                    ],
                }
                for t in self.tables
            },
            "notes": [n for n in self.notes() if n],
            "transactions_checked": self.transactions_checked,
            "transaction_mismatches": [
                {
                    "id": m.id,
                    "table": m.table,
                    "expected": m.expected,
                    "got": m.got,
                    "line": m.line_no,
                }
                for m in self.transaction_mismatches
            ],
            "lost_events": [
                {"table": e.table, "id": e.key, "op": e.op, "lsn": e.lsn, "line": e.line_no}
                for e in self.lost_samples
            ],
            "duplicates": [
                {"table": d.table, "id": d.key, "op": d.op, "lsn": d.lsn, "line": d.line_no}
                for d in self.duplicate_samples
            ],
            "order_violations": [
                {
                    "table": v.table,
                    "line": v.line_no,
                    "lsn": v.lsn,
                    "previous_lsn": v.previous_lsn,
                    "previous_line": v.previous_line_no,
                }
                for v in self.order_violation_samples
            ],
        }

    def render_table(self) -> str:
        """A plain-text table for a terminal, followed by the details of each fault."""
        header = tuple(label for _, label in _TABLE_COLUMNS)
        rows = [tuple(getattr(t, name) for name, _ in _TABLE_COLUMNS) for t in self.tables]
        total = ("total", *(sum(int(r[i]) for r in rows) for i in range(1, len(header))))
        cells = [tuple(str(c) for c in r) for r in (header, *rows, total)]
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

        def line(r: tuple[str, ...]) -> str:
            first = r[0].ljust(widths[0])
            return "  ".join([first, *(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))])

        out = [line(cells[0]), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in cells[1:-1]]
        out += ["  ".join("-" * w for w in widths), line(cells[-1]), ""]
        out.append(f"events: {self.events}, tombstones skipped: {self.tombstones}")
        if self.lag.count:
            out.append(
                f"commit-to-capture lag: p50 {self.lag.p50_ms} ms, p99 {self.lag.p99_ms} ms, "
                f"max {self.lag.max_ms} ms over {self.lag.count} change events"
            )
        out += self._details()
        out += self.notes()
        out.append("")
        out.append(self.verdict())
        return "\n".join(out)

    def verdict(self) -> str:
        """The last line of the report: IDENTICAL or NOT IDENTICAL with the counts."""
        if not self.identical:
            return f"NOT IDENTICAL: {self._summary()}"
        duplicates = self._total("duplicates")
        if duplicates:
            return f"IDENTICAL (redelivery allowed: {duplicates} duplicate events)"
        return "IDENTICAL"

    def notes(self) -> list[str]:
        """What the counts mean beyond themselves (shown under the details)."""
        notes = [*self._truncate_notes(), *self._placeholder_notes()]
        cut = self._total("sub_millisecond")
        if cut:
            notes.append(
                f"{cut} differing rows differ only in timestamps cut to the millisecond: the "
                "change log encodes timestamps in milliseconds (Debezium time.precision.mode="
                "connect), so the encoding, not the pipeline, lost the microseconds; set "
                "time.precision.mode=adaptive (Debezium's default) or adaptive_time_microseconds "
                "on the connector"
            )
        return ["", *notes] if notes else []

    def _truncate_notes(self) -> list[str]:
        # An emptied source table whose rows outlive it in the replay, with no 't' event:
        # the TRUNCATE never reached the log (Debezium drops it by default).
        return [
            f"TRUNCATE of {t.table} not in the log: the source table is empty, the replay "
            f"keeps {t.extra} of its rows and the log has no 't' event for it; Debezium skips "
            "truncates unless skipped.operations=none"
            for t in self.tables
            if t.extra and not t.expected_rows and not t.truncates
        ]

    def _placeholder_notes(self) -> list[str]:
        carried = self._total("placeholders") - self._total("unresolved_placeholders")
        if carried <= 0:
            return []
        tables = ", ".join(t.table for t in self.tables if t.placeholders)
        return [
            f"{carried} unchanged TOASTed values arrived as {UNAVAILABLE_PLACEHOLDER} ({tables}) "
            "and were carried forward from the row's previous image: the log is complete for a "
            "consumer that does the same, but one that stores the placeholder as data holds "
            "wrong values; REPLICA IDENTITY FULL on those tables (cdc setup --replica-identity "
            "full) makes the connector send the whole value"
        ]

    def _summary(self) -> str:
        parts = []
        mismatched = len({m.id for m in self.transaction_mismatches})
        if mismatched:
            parts.append(
                f"{mismatched} transaction{'s' if mismatched > 1 else ''} with other event "
                "counts than their END marker"
            )
        for name, one, many in (
            ("lost_events", "lost event", "lost events"),
            ("missing", "missing row", "missing rows"),
            ("extra", "extra row", "extra rows"),
            ("differing", "differing row", "differing rows"),
            ("duplicates", "duplicate event", "duplicate events"),
            ("order_violations", "LSN order violation", "LSN order violations"),
        ):
            count = self._total(name)
            if count:
                parts.append(f"{count} {one if count == 1 else many}")
        return ", ".join(parts)

    def _details(self) -> list[str]:
        out: list[str] = []
        for t in self.tables:
            if t.missing_ids:
                more = " ..." if t.missing > len(t.missing_ids) else ""
                ids = ", ".join(map(str, t.missing_ids))
                out.append(f"{t.table}: {t.missing} missing, id {ids}{more}")
            if t.extra_ids:
                more = " ..." if t.extra > len(t.extra_ids) else ""
                out.append(
                    f"{t.table}: {t.extra} extra, id {', '.join(map(str, t.extra_ids))}{more}"
                )
            for d in t.diffs:
                out.append(
                    f"{t.table} id {d.id}: {d.column} expected {_shown(d.expected)}, "
                    f"got {_shown(d.got)}"
                )
        for e in self.lost_samples:
            out.append(
                f"{e.table} id {e.key}: op {e.op!r} on line {e.line_no} changes a row that "
                "neither the snapshot nor an earlier event produced: its insert is lost"
            )
        for m in self.transaction_mismatches[:10]:
            out.append(
                f"transaction {m.id}: END marker (line {m.line_no}) counts {m.expected} "
                f"{m.table} events, the log has {m.got}"
            )
        for v in self.order_violation_samples:
            out.append(
                f"{v.table}: line {v.line_no} (lsn {format_lsn(v.lsn)}) is out of order, "
                f"after line {v.previous_line_no} (lsn {format_lsn(v.previous_lsn)})"
            )
        for dup in self.duplicate_samples:
            out.append(
                f"{dup.table} id {dup.key}: duplicate op {dup.op!r} event on line {dup.line_no}"
            )
        return ["", *out] if out else out


def _equal(want: Any, have: Any) -> bool:
    """One column: same value and type; NULL and absent alike; NUMERIC text as a Decimal."""
    if want is ABSENT:
        want = None
    if have is ABSENT:
        have = None
    if type(want) is type(have):
        return bool(want == have)
    if isinstance(want, Decimal) and isinstance(have, str):
        # A NUMERIC column the user added: psycopg gives a Decimal, the log a string
        # (decimal.handling.mode=string, or our capture's text for a type it does not model).
        try:
            return Decimal(have) == want
        except ArithmeticError:
            return False
    return False


def _row_diffs(key: int, expected: Mapping[str, Any], got: Mapping[str, Any]) -> list[ColumnDiff]:
    diffs = []
    for column in (*expected, *(c for c in got if c not in expected)):
        want = expected.get(column, ABSENT)
        have = got.get(column, ABSENT)
        if not _equal(want, have):
            diffs.append(ColumnDiff(key, column, want, have))
    return diffs


def _same(expected: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    # ``==`` holds for 1, 1.0 and True alike; a value of another type is a difference.
    if expected != got:
        # Rows written before a column was added lack it in the log: absent is NULL.
        return not _row_diffs(0, expected, got)
    # A plain loop rather than all(<generator>): this runs once per row and is faster.
    for column, value in expected.items():
        have = got[column]
        if type(value) is not type(have) and not _equal(value, have):
            return False
    return True


def _cut_to_milliseconds(expected: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    """True when every difference is a timestamp that lost its sub-millisecond digits."""
    diffs = _row_diffs(0, expected, got)
    return bool(diffs) and all(
        isinstance(d.expected, datetime)
        and isinstance(d.got, datetime)
        and d.got == d.expected.replace(microsecond=d.expected.microsecond // 1000 * 1000)
        for d in diffs
    )


def _compare_table(
    table: str, expected_rows: Iterable[Mapping[str, Any]], got: Mapping[int, Mapping[str, Any]],
    sample_size: int,
) -> TableReport:  # fmt: skip
    report = TableReport(table, replayed_rows=len(got))
    seen: set[int] = set()
    differing_sampled = 0
    for row in expected_rows:
        report.expected_rows += 1
        key = row[PRIMARY_KEY]
        seen.add(key)
        mine = got.get(key)
        if mine is None:
            report.missing += 1
            if len(report.missing_ids) < sample_size:
                report.missing_ids.append(key)
        elif _same(row, mine):
            report.matched += 1
        else:
            report.differing += 1
            if _cut_to_milliseconds(row, mine):
                report.sub_millisecond += 1
            if differing_sampled < sample_size:
                differing_sampled += 1
                report.diffs.extend(_row_diffs(key, row, mine))
    for key in got:
        if key not in seen:
            report.extra += 1
            if len(report.extra_ids) < sample_size:
                report.extra_ids.append(key)
    report.missing_ids.sort()
    report.extra_ids.sort()
    return report


def check_transactions(
    ends: Iterable[TransactionEnd], counts: Mapping[str, Mapping[str, int]]
) -> list[TransactionMismatch]:
    """Each END marker's per-table event counts against the change events of the log."""
    mismatches = []
    for end in ends:
        got = dict(counts.get(end.key or end.id, {}))
        expected = dict(end.tables) or {"(all tables)": end.event_count}
        if "(all tables)" in expected:
            got = {"(all tables)": sum(got.values())}
        for table in sorted(set(expected) | set(got)):
            want, have = expected.get(table, 0), got.get(table, 0)
            if want != have:
                mismatches.append(TransactionMismatch(end.id, table, want, have, end.line_no))
    return mismatches


def compare(
    replayed: ReplayResult,
    expected: Expected,
    *,
    parse_stats: ParseStats | None = None,
    sample_size: int = 10,
    optional: Collection[str] = (),
) -> VerifyReport:
    """Compare ``replayed`` tables with ``expected`` (table -> canonical rows) by ``id``.

    A table in only one of the two is compared with an empty table, so a table whose
    events never arrived shows every expected row as missing; except the ``optional``
    tables (a scenario's own), compared only when the log has events for them.
    """
    names = (set(expected) - (set(optional) - set(replayed.tables))) | set(replayed.tables)
    ordered = [t for t in TABLE_NAMES if t in names] + sorted(names - set(TABLE_NAMES))
    reports = []
    for table in ordered:
        report = _compare_table(
            table, expected.get(table, ()), replayed.tables.get(table, {}), sample_size
        )
        stats = replayed.stats.get(table)
        if stats is not None:
            report.lost_events = stats.lost_events
            report.events = stats.events
            report.duplicates = stats.duplicates
            report.order_violations = stats.order_violations
            report.placeholders = stats.placeholders
            report.unresolved_placeholders = stats.unresolved_placeholders
            report.truncates = stats.ops.get("t", 0)
        reports.append(report)
    ends = parse_stats.transaction_ends if parse_stats else []
    mismatches = check_transactions(ends, replayed.transaction_counts)
    by_name = {r.table: r for r in reports}
    for m in mismatches:
        if m.got < m.expected and m.table in by_name:
            by_name[m.table].lost_events += m.expected - m.got
    return VerifyReport(
        lost_samples=replayed.lost_samples,
        transactions_checked=len(ends),
        transaction_mismatches=mismatches,
        tables=reports,
        lag=replayed.lag,
        events=replayed.events,
        tombstones=parse_stats.tombstones if parse_stats else 0,
        skipped=parse_stats.skipped if parse_stats else 0,
        duplicate_samples=replayed.duplicate_samples,
        order_violation_samples=replayed.order_violation_samples,
    )
