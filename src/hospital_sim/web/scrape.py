"""Read a stream's Prometheus /metrics (and its /changes) and turn readings into rates.

The stream exposes cumulative counters; a :class:`StreamHistory` keeps a bounded window of
readings (constant memory however long the dashboard runs) and derives events/s per
operation and per worker, the INSERT share, latency percentiles and per-minute error
figures from them. ``/changes``, beside ``/metrics``, lists the stream's last committed
row changes with the columns each one wrote.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

PREFIX = "hospital_sim_"


@dataclass(frozen=True)
class WorkerReading:
    """One worker's cumulative figures in a scrape (``hospital_sim_worker_*``)."""

    events: float = 0.0
    errors: float = 0.0
    reconnects: float = 0.0
    schedule_lag_s: float = 0.0


@dataclass(frozen=True)
class Reading:
    """One scrape of one stream: cumulative figures at monotonic time ``t``."""

    t: float
    committed: dict[str, float]
    """Committed events per operation."""
    not_committed: float
    buckets: tuple[tuple[float, float], ...]
    """Commit latency histogram: (upper bound s, cumulative count)."""
    reconnects: float
    in_doubt: float
    errors: float
    substitutions: float
    schedule_lag_s: float
    workers: dict[str, WorkerReading] = field(default_factory=dict)
    """By ``shard.index``; empty for a stream that does not export them."""

    @property
    def total(self) -> float:
        return sum(self.committed.values())


def parse(text: str, t: float) -> Reading:
    """A :class:`Reading` from the exposition format text of the stream's /metrics."""
    committed: dict[str, float] = {}
    not_committed = 0.0
    buckets: list[tuple[float, float]] = []
    sums: dict[str, float] = {}
    lag = 0.0
    workers: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name = s.name.removeprefix(PREFIX)
            if name.startswith("worker_") and "worker" in s.labels:
                figure = name.removeprefix("worker_").removesuffix("_total")
                workers.setdefault(s.labels["worker"], {})[figure] = s.value
            elif name == "events_total":
                if s.labels.get("outcome") == "committed":
                    op = s.labels.get("operation", "?")
                    committed[op] = committed.get(op, 0.0) + s.value
                else:
                    not_committed += s.value
            elif name == "event_latency_seconds_bucket":
                buckets.append((float(s.labels["le"]), s.value))
            elif name == "schedule_lag_seconds":
                lag = s.value
            elif name.endswith("_total"):
                key = name.removesuffix("_total")
                sums[key] = sums.get(key, 0.0) + s.value
    buckets.sort()
    return Reading(
        t=t,
        committed=committed,
        not_committed=not_committed,
        buckets=tuple(buckets),
        reconnects=sums.get("reconnects", 0.0),
        in_doubt=sums.get("in_doubt", 0.0),
        errors=sums.get("errors", 0.0),
        substitutions=sums.get("substitutions", 0.0),
        schedule_lag_s=lag,
        workers={
            w: WorkerReading(
                events=f.get("events", 0.0),
                errors=f.get("errors", 0.0),
                reconnects=f.get("reconnects", 0.0),
                schedule_lag_s=f.get("schedule_lag_seconds", 0.0),
            )
            for w, f in sorted(workers.items())
        },
    )


def fetch(url: str, *, timeout: float = 2.0) -> Reading:
    """Scrape ``url`` (an http(s) /metrics address). Raises OSError when unreachable."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        text = response.read().decode("utf-8", "replace")
    return parse(text, time.monotonic())


def changes_url(metrics_url: str) -> str:
    """The stream's /changes, beside its /metrics (``http://h:p/metrics`` -> ``/changes``)."""
    return urllib.parse.urljoin(metrics_url, "changes")


def fetch_changes(url: str, *, timeout: float = 2.0) -> list[dict[str, Any]]:
    """The stream's last row changes, newest first; [] from a stream without /changes.

    Raises OSError when the stream is unreachable.
    """
    with urllib.request.urlopen(changes_url(url), timeout=timeout) as response:
        body = response.read()
    try:
        found = json.loads(body)
    except ValueError:  # an older stream answers every path with its metrics
        return []
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def percentile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated inside its bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    low_bound, low_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return low_bound
            inside = count - low_count
            frac = (rank - low_count) / inside if inside else 1.0
            return low_bound + (bound - low_bound) * frac
        low_bound, low_count = bound, count
    return low_bound


def _delta_buckets(new: Reading, old: Reading | None) -> list[tuple[float, float]]:
    before = dict(old.buckets) if old else {}
    return [(b, max(0.0, c - before.get(b, 0.0))) for b, c in new.buckets]


@dataclass
class StreamHistory:
    """The readings of one stream over the last ``window_s`` seconds."""

    url: str
    window_s: float = 600.0
    readings: deque[Reading] = field(default_factory=deque)
    error: str | None = None

    def add(self, reading: Reading) -> None:
        last = self.readings[-1] if self.readings else None
        if last is not None and reading.total < last.total:
            self.readings.clear()  # the stream restarted: its counters began again
        self.readings.append(reading)
        while self.readings and reading.t - self.readings[0].t > self.window_s:
            self.readings.popleft()
        self.error = None

    def _ago(self, seconds: float) -> Reading | None:
        """The oldest reading within ``seconds`` of the newest, if there are two."""
        if len(self.readings) < 2:
            return None
        newest = self.readings[-1].t
        for r in self.readings:
            if newest - r.t <= seconds and r is not self.readings[-1]:
                return r
        return None

    def _since(self, seconds: float) -> Reading | None:
        """The newest reading at least ``seconds`` old, else the oldest (None if only one)."""
        if len(self.readings) < 2:
            return None
        newest = self.readings[-1].t
        found = self.readings[0]
        for r in self.readings:
            if newest - r.t < seconds:
                break
            found = r
        return found

    def panel(self, rate_window_s: float = 10.0) -> dict[str, Any]:
        """What the page shows for this stream (rates over the last ``rate_window_s``)."""
        out: dict[str, Any] = {"url": self.url, "ok": self.error is None, "error": self.error}
        if not self.readings:
            return out
        new = self.readings[-1]
        old = self._ago(rate_window_s)
        minute = self._since(60.0)
        span = (new.t - old.t) if old else 0.0
        # A stream that stopped answering writes nothing we can see: no rate, not the last one.
        by_op = {
            op: ((n - (old.committed.get(op, 0.0) if old else n)) / span if span else 0.0)
            for op, n in sorted(new.committed.items())
            if self.error is None
        }
        inserts = sum(n for op, n in new.committed.items() if op.startswith("insert_"))
        lat = _delta_buckets(new, minute) if minute else list(new.buckets)
        out.update(
            events_total=new.total,
            not_committed=new.not_committed,
            rate=sum(by_op.values()),
            by_op=by_op,
            insert_share=(inserts / new.total) if new.total else None,
            p50=percentile(lat, 0.50),
            p95=percentile(lat, 0.95),
            p99=percentile(lat, 0.99),
            schedule_lag_s=new.schedule_lag_s,
            reconnects=new.reconnects,
            in_doubt=new.in_doubt,
            errors=new.errors,
            substitutions=new.substitutions,
            # Counted over the last minute (or since the first reading), not extrapolated.
            errors_per_min=new.errors - (minute.errors if minute else new.errors),
            reconnects_per_min=new.reconnects - (minute.reconnects if minute else new.reconnects),
            workers=self._workers(new, old, minute, span),
        )
        return out

    def _workers(
        self, new: Reading, old: Reading | None, minute: Reading | None, span: float
    ) -> list[dict[str, Any]]:
        """Each worker's events/s (same window as the stream's), totals and last minute."""
        out = []
        for name, w in new.workers.items():
            before = old.workers.get(name) if old else None
            a_minute_ago = minute.workers.get(name) if minute else None
            rate = (w.events - before.events) / span if before and span else 0.0
            out.append(
                {
                    "worker": name,
                    "rate": rate if self.error is None else 0.0,
                    "events_total": w.events,
                    "errors": w.errors,
                    "reconnects": w.reconnects,
                    "errors_per_min": w.errors
                    - (a_minute_ago.errors if a_minute_ago else w.errors),
                    "reconnects_per_min": w.reconnects
                    - (a_minute_ago.reconnects if a_minute_ago else w.reconnects),
                    "schedule_lag_s": w.schedule_lag_s,
                }
            )
        return out
