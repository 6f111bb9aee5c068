"""Replay change events per table by primary key, watching for delivery faults.

Starting from a baseline (the rows before capture began) or from empty tables, ``r``,
``c`` and ``u`` events upsert their ``after`` row, ``d`` deletes and ``t`` empties the
table. Along the way the replay counts:

- duplicates: the same table, key, op, LSN and ``after`` image seen again. A duplicate
  is not applied a second time, so a late redelivery cannot roll a row back;
- LSN order violations: a change event (not a snapshot read) that goes back in the log
  compared with the previous change event of the same table. The position is
  ``source.lsn``, preceded by the last commit LSN of ``source.sequence`` when events
  carry one: change LSNs of concurrent transactions interleave, so a correct stream in
  commit order can have a lower ``lsn`` than the event before it, never a lower
  ``(last commit LSN, lsn)`` pair;
- unavailable placeholders, filled in from the row's previous image when there is one;
- commit-to-capture lag, ``ts_ms - source.ts_ms``, of change events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hospital_sim.cdc.lsn import percentile
from hospital_sim.cdc.schema_types import PRIMARY_KEY
from hospital_sim.cdc.values import UNAVAILABLE
from hospital_sim.cdc.verify.events import ChangeEvent

__all__ = [
    "LagStats",
    "LostEvent",
    "ReplayResult",
    "Replayer",
    "TableReplayStats",
    "replay",
]

Row = dict[str, Any]
Baseline = Mapping[str, Iterable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class OrderViolation:
    table: str
    line_no: int
    lsn: int
    previous_lsn: int
    previous_line_no: int


@dataclass(frozen=True, slots=True)
class Duplicate:
    table: str
    key: int | None
    op: str
    lsn: int | None
    line_no: int


@dataclass(frozen=True, slots=True)
class LostEvent:
    """An update or delete of a row nothing before it produced: its insert (or read) is lost."""

    table: str
    key: int
    op: str
    lsn: int | None
    line_no: int


@dataclass(slots=True)
class TableReplayStats:
    """What happened to one table during the replay."""

    events: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    order_violations: int = 0
    placeholders: int = 0
    unresolved_placeholders: int = 0
    """Placeholders with no earlier value of that column to fill them in."""
    lost_events: int = 0
    """Updates and deletes of rows that neither the snapshot (or baseline) nor an earlier
    event produced; counted only when the log starts from a known state."""


@dataclass(frozen=True, slots=True)
class LagStats:
    """Commit-to-capture lag of change events, in milliseconds (None when unknown)."""

    count: int = 0
    p50_ms: int | None = None
    p99_ms: int | None = None
    max_ms: int | None = None


@dataclass(slots=True)
class ReplayResult:
    tables: dict[str, dict[int, Row]]
    stats: dict[str, TableReplayStats]
    lag: LagStats
    duplicate_samples: list[Duplicate]
    order_violation_samples: list[OrderViolation]
    lost_samples: list[LostEvent] = field(default_factory=list)
    transaction_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per ``transaction.id``: change events per table (duplicates left out)."""

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.stats.values())

    @property
    def order_violations(self) -> int:
        return sum(s.order_violations for s in self.stats.values())

    @property
    def placeholders(self) -> int:
        return sum(s.placeholders for s in self.stats.values())

    @property
    def events(self) -> int:
        return sum(s.events for s in self.stats.values())


def _image_hash(after: Row | None) -> int:
    if after is None:
        return 0
    try:
        # Column names are fixed per table, so the values in order identify the image.
        return hash(tuple(after.values()))
    except TypeError:  # an unmodelled column decoded to a list or dict
        return hash(repr(sorted(after.items(), key=lambda kv: kv[0])))


@dataclass(slots=True)
class _TableState:
    rows: dict[int, Row]
    stats: TableReplayStats = field(default_factory=TableReplayStats)
    seen: set[tuple[Any, ...]] = field(default_factory=set)
    last_position: tuple[int, int] = (-1, -1)
    last_line_no: int = 0


class Replayer:
    """Applies events one at a time; :meth:`result` gives the tables and the counts."""

    def __init__(self, baseline: Baseline | None = None, *, sample_size: int = 20) -> None:
        self._tables: dict[str, dict[int, Row]] = {}
        self._states: dict[str, _TableState] = {}
        self._lags: list[int] = []
        self._sample_size = sample_size
        self._duplicate_samples: list[Duplicate] = []
        self._order_samples: list[OrderViolation] = []
        self._lost_samples: list[LostEvent] = []
        self._transactions: dict[str, dict[str, int]] = {}
        self._known_start: bool | None = None if baseline is None else True
        """Whether every row is accounted for from the start: a baseline, or a log that
        begins with a snapshot (decided by the first event)."""
        for table, rows in (baseline or {}).items():
            self._tables[table] = {row[PRIMARY_KEY]: dict(row) for row in rows}

    def _state(self, table: str) -> _TableState:
        state = self._states[table] = _TableState(self._tables.setdefault(table, {}))
        return state

    def apply_all(self, events: Iterable[ChangeEvent]) -> None:
        apply = self.apply
        for event in events:
            apply(event)

    def apply(self, event: ChangeEvent) -> None:
        state = self._states.get(event.table) or self._state(event.table)
        stats = state.stats
        op = event.op
        stats.events += 1
        stats.ops[op] = stats.ops.get(op, 0) + 1

        after = event.after
        signature = (event.key, op, event.lsn, _image_hash(after))
        if signature in state.seen:
            stats.duplicates += 1
            if len(self._duplicate_samples) < self._sample_size:
                self._duplicate_samples.append(
                    Duplicate(event.table, event.key, op, event.lsn, event.line_no)
                )
            return
        state.seen.add(signature)
        if self._known_start is None:
            self._known_start = op == "r"
        if event.txn is not None:
            per_table = self._transactions.setdefault(event.txn, {})
            per_table[event.table] = per_table.get(event.table, 0) + 1

        if op != "r":
            lsn = event.lsn
            commit = event.last_commit_lsn
            if lsn is not None and (commit is not None or state.last_position[0] < 0):
                # An event with no last commit LSN ("sequence":"[null,...]", as a capture
                # writes first after it starts or resumes) cannot be placed against one that
                # has it; it is compared only with others like it.
                position = (-1 if commit is None else commit, lsn)
                if position < state.last_position:
                    self._order_violation(event, lsn, state)
                state.last_position, state.last_line_no = position, event.line_no
            if event.ts_ms is not None and event.source_ts_ms is not None:
                self._lags.append(event.ts_ms - event.source_ts_ms)

        rows = state.rows
        if op == "t":
            rows.clear()
            return
        key = event.key
        assert key is not None
        if op in "ud" and self._known_start and key not in rows:
            self._lost(event, key, stats)
        if op == "d":
            rows.pop(key, None)
            return
        assert after is not None
        if event.placeholders:
            stats.placeholders += event.placeholders
            after = self._fill_placeholders(after, rows.get(key), stats)
        before = event.before
        if op == "u" and before is not None:
            old_key = before.get(PRIMARY_KEY)
            if old_key is not None and old_key != key:
                rows.pop(old_key, None)
        rows[key] = after

    def _lost(self, event: ChangeEvent, key: int, stats: TableReplayStats) -> None:
        before = event.before
        if before is not None and before.get(PRIMARY_KEY) not in (None, key):
            return  # a primary-key update: the row was there under its old key
        stats.lost_events += 1
        if len(self._lost_samples) < self._sample_size:
            self._lost_samples.append(
                LostEvent(event.table, key, event.op, event.lsn, event.line_no)
            )

    def _order_violation(self, event: ChangeEvent, lsn: int, state: _TableState) -> None:
        state.stats.order_violations += 1
        if len(self._order_samples) < self._sample_size:
            self._order_samples.append(
                OrderViolation(
                    event.table, event.line_no, lsn, state.last_position[1], state.last_line_no
                )
            )

    @staticmethod
    def _fill_placeholders(after: Row, previous: Row | None, stats: TableReplayStats) -> Row:
        merged = dict(after)
        for column, value in after.items():
            if value is not UNAVAILABLE:
                continue
            old = UNAVAILABLE if previous is None else previous.get(column, UNAVAILABLE)
            if old is UNAVAILABLE:
                stats.unresolved_placeholders += 1
            merged[column] = old
        return merged

    def result(self) -> ReplayResult:
        lags = sorted(self._lags)
        lag = LagStats(
            count=len(lags),
            p50_ms=percentile(lags, 50),
            p99_ms=percentile(lags, 99),
            max_ms=lags[-1] if lags else None,
        )
        return ReplayResult(
            tables=self._tables,
            stats={table: state.stats for table, state in self._states.items()},
            lag=lag,
            duplicate_samples=list(self._duplicate_samples),
            order_violation_samples=list(self._order_samples),
            lost_samples=list(self._lost_samples),
            transaction_counts=self._transactions,
        )


def replay(
    events: Iterable[ChangeEvent], baseline: Baseline | None = None, *, sample_size: int = 20
) -> ReplayResult:
    """Replay ``events`` on top of ``baseline`` (table -> rows with an ``id``)."""
    replayer = Replayer(baseline, sample_size=sample_size)
    replayer.apply_all(events)
    return replayer.result()
