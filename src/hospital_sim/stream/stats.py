"""Counters and latency histograms of a stream, kept in the core and read by exporters.

Each worker owns one :class:`Stats` and is its only writer, so the hot path takes no
lock; readers (the progress line, /metrics) merge the workers' stats into a snapshot.
A worker's stats also hold the last few row changes it committed (:class:`Change`), which
/changes serves to the dashboard's feed; they travel with the stats from worker processes.
A snapshot read while workers run may be a few events behind, never inconsistent with
the database once the workers have stopped.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

# Fixed log-spaced bounds, 10 per decade from 100 µs to 100 s: every bucket is ~26% wide,
# so a percentile read from them is within ~13% of the true value, in constant memory.
LATENCY_BOUNDS: tuple[float, ...] = tuple(1e-4 * 10 ** (i / 10) for i in range(61))


class Outcome(StrEnum):
    """What became of an event's row change: the ``outcome`` of the counters and labels.

    A StrEnum, so the summary, the logs and the Prometheus labels read its plain value.
    """

    COMMITTED = "committed"
    """In the database."""
    FAILED = "failed"
    """Rolled back by an error that is not retried."""
    STALE = "stale"
    """Committed, but the UPDATE found no row (someone else changed it)."""
    ABANDONED = "abandoned"
    """Rolled back (or never sent) because the run stopped."""
    UNRESOLVED = "unresolved"
    """The connection was lost at commit and the run stopped before the outcome was known."""


OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
COMMITTED, STALE = Outcome.COMMITTED, Outcome.STALE
"""The hot path's outcomes as plain names: reading a member off an Enum class is an
attribute lookup through its metaclass, several times dearer than a global."""


class Resolution(StrEnum):
    """How a commit whose answer was lost turned out (the ``in_doubt`` counters)."""

    COMMITTED = "committed"
    ABORTED = "aborted"
    UNRESOLVED = "unresolved"
    """Stop was asked before the server could tell."""


Key = tuple[str, str, Outcome]
"""(operation, table, outcome)."""


class Histogram:
    """Counts per fixed bucket plus sum; percentiles interpolated inside a bucket."""

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BOUNDS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # last: above the top bound
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value

    def merge(self, other: Histogram) -> None:
        for i, n in enumerate(list(other.counts)):
            self.counts[i] += n
        self.count += other.count
        self.total += other.total

    def percentile(self, q: float) -> float:
        """The q-quantile (0 < q <= 1); 0.0 when empty."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for i, n in enumerate(self.counts):
            if n and seen + n >= rank:
                low = self.bounds[i - 1] if i > 0 else 0.0
                high = self.bounds[i] if i < len(self.bounds) else self.bounds[-1]
                return low + (high - low) * ((rank - seen) / n)
            seen += n
        return self.bounds[-1]

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, cumulative count) pairs, Prometheus style, ending with +Inf."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append((repr(bound), running))
        out.append(("+Inf", self.count))
        return out


RECENT_CHANGES = 20
"""Row changes each worker remembers (and a merged snapshot keeps): the feed's length."""


class Written(Protocol):
    """What a committed statement tells the feed (``operations.Statement`` is one)."""

    @property
    def table(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> int: ...
    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def values(self) -> tuple[Any, ...]: ...


class Change(NamedTuple):
    """One committed row change, as the dashboard's feed shows it.

    The statement itself is kept (no copy on the hot path); /changes reads its table,
    kind (INSERT or UPDATE), key, the columns it wrote and their values when asked.
    """

    at: float
    """When the worker counted the commit (epoch seconds)."""
    worker: str
    """``shard.index``, as in the worker's name and the ``worker`` label of /metrics."""
    statement: Written


def _recent() -> deque[Change]:
    return deque(maxlen=RECENT_CHANGES)


@dataclass
class Stats:
    """Everything one worker counts. Only its worker writes it."""

    events: Counter[Key] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)
    transactions: int = 0
    reconnects: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # by SQLSTATE
    in_doubt: Counter[Resolution] = field(default_factory=Counter)
    substitutions: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # by SQLSTATE class
    lag_last: float = 0.0
    lag_max: float = 0.0
    lag_total: float = 0.0
    lag_count: int = 0
    inserts: int = 0  # committed INSERT events (the original log line's totals)
    updates: int = 0
    skipped: int = 0  # events not run: later than STREAM_MAX_LAG_SECONDS when due
    # The hospital model's census (0 under the mix model): summed over workers, each
    # worker's beds and peak are its own, so the summed peak bounds the real one.
    beds: int = 0
    occupied: int = 0
    occupancy_peak: int = 0
    deferred_admissions: int = 0
    unbooked: int = 0  # bookings given up: no free slot in the doctors' agendas
    # Scenarios mixed into the stream (--scenarios): rows by (table, op) and
    # transactions committed by their occurrences, and occurrences by scenario name.
    scenario_rows: Counter[tuple[str, str]] = field(default_factory=Counter)
    scenario_transactions: int = 0
    scenarios: Counter[str] = field(default_factory=Counter)  # completed occurrences
    scenarios_failed: Counter[str] = field(default_factory=Counter)  # "name SQLSTATE"
    scenarios_skipped: Counter[str] = field(default_factory=Counter)  # one was running
    recent: deque[Change] = field(default_factory=_recent)
    """The last row changes committed, oldest first (newest by time after a merge)."""

    def record_lag(self, lag: float) -> None:
        self.lag_last = lag
        self.lag_count += 1
        self.lag_total += lag
        self.lag_max = max(self.lag_max, lag)

    def merge(self, other: Stats) -> None:
        # .copy() of a Counter is one C-level dict copy: safe while the owner writes it.
        self.events.update(other.events.copy())
        self.latency.merge(other.latency)
        self.transactions += other.transactions
        self.skipped += other.skipped
        self.reconnects += other.reconnects
        self.retries.update(other.retries.copy())
        self.in_doubt.update(other.in_doubt.copy())
        self.substitutions.update(other.substitutions.copy())
        self.errors.update(other.errors.copy())
        self.lag_last = max(self.lag_last, other.lag_last)
        self.lag_max = max(self.lag_max, other.lag_max)
        self.lag_total += other.lag_total
        self.lag_count += other.lag_count
        self.inserts += other.inserts
        self.updates += other.updates
        self.beds += other.beds
        self.occupied += other.occupied
        self.occupancy_peak += other.occupancy_peak
        self.deferred_admissions += other.deferred_admissions
        self.unbooked += other.unbooked
        self.scenario_rows.update(other.scenario_rows.copy())
        self.scenario_transactions += other.scenario_transactions
        self.scenarios.update(other.scenarios.copy())
        self.scenarios_failed.update(other.scenarios_failed.copy())
        self.scenarios_skipped.update(other.scenarios_skipped.copy())
        # Both are short (RECENT_CHANGES); .copy() is one C-level call, like the Counters'.
        both = sorted([*self.recent, *other.recent.copy()], key=lambda c: c.at)
        self.recent = deque(both[-RECENT_CHANGES:], maxlen=RECENT_CHANGES)


def merged(parts: Iterable[Stats]) -> Stats:
    """One Stats summing ``parts`` (copied, so the workers keep writing theirs)."""
    total = Stats()
    for part in parts:
        total.merge(part)
    return total


def sqlstate_class(sqlstate: str | None) -> str:
    """The 2-character SQLSTATE class ('23', '40'...), 'none' for client-side errors."""
    return sqlstate[:2] if sqlstate else "none"


def snapshot(stats: Stats, *, elapsed: float) -> dict[str, Any]:
    """A plain dict with stable keys, for logs, JSON and tests."""
    committed = sum(
        n for (_, _, outcome), n in stats.events.items() if outcome == Outcome.COMMITTED
    )
    return {
        "elapsed_seconds": elapsed,
        "events_committed": stats.inserts + stats.updates,
        "rows_committed": committed,
        "inserts": stats.inserts,
        "updates": stats.updates,
        "rate": (stats.inserts + stats.updates) / elapsed if elapsed > 0 else 0.0,
        "transactions": stats.transactions,
        "skipped": stats.skipped,
        "events": {"|".join(map(str, k)): n for k, n in sorted(stats.events.items())},
        "latency_p50": stats.latency.percentile(0.50),
        "latency_p95": stats.latency.percentile(0.95),
        "latency_p99": stats.latency.percentile(0.99),
        "reconnects": stats.reconnects,
        "retries": dict(sorted(stats.retries.items())),
        "in_doubt": {str(k): n for k, n in sorted(stats.in_doubt.items())},
        "substitutions": {f"{w}->{r}": n for (w, r), n in sorted(stats.substitutions.items())},
        "errors": dict(sorted(stats.errors.items())),
        "lag_last": stats.lag_last,
        "lag_max": stats.lag_max,
        "lag_mean": stats.lag_total / stats.lag_count if stats.lag_count else 0.0,
        "beds": stats.beds,
        "occupied": stats.occupied,
        "occupancy_peak": stats.occupancy_peak,
        "deferred_admissions": stats.deferred_admissions,
        "unbooked": stats.unbooked,
        "scenario_rows": {f"{t}|{op}": n for (t, op), n in sorted(stats.scenario_rows.items())},
        "scenario_transactions": stats.scenario_transactions,
        "scenario_occurrences": dict(sorted(stats.scenarios.items())),
        "scenario_failed": dict(sorted(stats.scenarios_failed.items())),
        "scenario_skipped": dict(sorted(stats.scenarios_skipped.items())),
    }


def fmt_seconds(value: float) -> str:
    """Latency for humans: µs, ms or s with 3 significant digits."""
    if value <= 0 or math.isnan(value):
        return "0"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"
