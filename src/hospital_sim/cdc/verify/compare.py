"""Compare replayed tables with the expected rows, and report the difference.

A :class:`VerifyReport` says per table how many rows matched, are missing (expected but
not replayed), extra (replayed but not expected) or differing (with column-level diffs
for a sample), together with the replay's duplicates, LSN order violations, unavailable
placeholders and commit-to-capture lag. The report types live in
:mod:`~hospital_sim.cdc.verify.report` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from hospital_sim.cdc.schema_types import PRIMARY_KEY, TABLE_NAMES
from hospital_sim.cdc.verify.events import ParseStats, TransactionEnd
from hospital_sim.cdc.verify.psql_csv import load_expected_csv_dir
from hospital_sim.cdc.verify.replay import (
    ReplayResult,
)
from hospital_sim.cdc.verify.report import (
    ABSENT,
    ColumnDiff,
    TableReport,
    TransactionMismatch,
    VerifyReport,
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
