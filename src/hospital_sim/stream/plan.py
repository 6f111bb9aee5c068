"""What every worker of a run shares: the plan, fixed for the run, and its start time."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hospital_sim.config import Settings
from hospital_sim.stream.pacing import IntervalPacing, Pacing, RatePacing, make_profile
from hospital_sim.stream.session import Backoff

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Naive UTC, like every timestamp the generator writes."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class Timeline:
    """When the run started: set once every worker has loaded its pools."""

    duration: float | None
    started: float = 0.0  # monotonic
    started_utc: dt.datetime = dt.datetime.min
    deadline: float | None = None  # monotonic

    def begin(self) -> None:
        self.adopt(time.monotonic(), utc_now())

    def adopt(self, started: float, started_utc: dt.datetime) -> None:
        """Start at a moment chosen elsewhere (the monotonic clock is the machine's)."""
        self.started = started
        self.started_utc = started_utc
        if self.duration is not None:
            self.deadline = self.started + self.duration


class Gate(Protocol):
    """Where workers wait for each other before the clock starts (threading.Barrier)."""

    def wait(self, timeout: float | None = None) -> int: ...
    def abort(self) -> None: ...


@dataclass(frozen=True)
class RunPlan:
    """What every worker needs to know, fixed for the run."""

    conninfo: str
    seed: int
    shard: int
    shards: int
    workers: int
    txn_size: int
    id_batch: int
    rate: float | None
    weights: dict[str, float]
    interval: float
    jitter: float
    profile: str
    ramp_seconds: float
    time_scale: float
    backoff: Backoff
    timeline: Timeline
    clock: Clock = utc_now
    max_lag: float | None = None
    # Events skipped under max_lag, by worker; each worker writes only its own key. In a
    # worker process this is that process's copy (reported with the worker's stats).
    skips: dict[int, int] = field(default_factory=dict)

    def skipped(self, worker: int) -> Callable[[int], None]:
        def count(n: int) -> None:
            self.skips[worker] = self.skips.get(worker, 0) + n

        return count

    def budget(self, events: int | None, worker: int) -> int | None:
        """This worker's share of ``--events``."""
        if events is None:
            return None
        return events // self.workers + (1 if worker < events % self.workers else 0)

    def pacing(self, worker: int, rng: random.Random) -> Pacing:
        if self.rate is None:
            return IntervalPacing(interval=self.interval, jitter=self.jitter, rng=rng)
        profile = make_profile(
            self.profile,
            ramp_seconds=self.ramp_seconds,
            time_scale=self.time_scale,
            start_utc=self.timeline.started_utc,
        )
        return RatePacing(
            rate=self.rate / self.workers,
            start=self.timeline.started,
            profile=profile,
            events_per_txn=self.txn_size,
            phase=worker / self.workers,
            max_lag=self.max_lag,
            on_skip=self.skipped(worker),
        )


def make_plan(
    settings: Settings, conninfo: str, *, seed: int, duration: float | None, clock: Clock
) -> RunPlan:
    return RunPlan(
        conninfo=conninfo,
        seed=seed,
        shard=settings.stream_shard_index,
        shards=settings.stream_shard_count,
        workers=settings.stream_workers,
        txn_size=settings.stream_txn_size,
        id_batch=settings.batch_size,
        rate=settings.stream_rate,
        weights=dict(settings.stream_weights),
        interval=settings.stream_interval_seconds,
        jitter=settings.max_jitter_ms / 1000,
        profile=settings.stream_profile,
        ramp_seconds=settings.stream_ramp_seconds,
        time_scale=settings.stream_time_scale,
        backoff=Backoff(settings.reconnect_base_seconds, settings.reconnect_cap_seconds),
        timeline=Timeline(duration=duration),
        clock=clock,
        max_lag=settings.stream_max_lag_seconds,
    )
