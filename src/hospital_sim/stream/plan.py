"""What every worker of a run shares: the plan, fixed for the run, and its start time.

The start is a value, known once every worker has loaded its pools: the gate the workers
wait at hands it to each of them, and the crew to the supervisor.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hospital_sim.config import Settings
from hospital_sim.stream.hospital import default_beds
from hospital_sim.stream.mixing import Mix
from hospital_sim.stream.operations import Clock
from hospital_sim.stream.pacing import IntervalPacing, Pacing, RatePacing, make_profile
from hospital_sim.stream.session import Backoff

_EPOCH = dt.datetime(1970, 1, 1)


def utc_now() -> dt.datetime:
    """Naive UTC, like every timestamp the generator writes.

    The epoch plus the seconds since it: the same moment as
    ``datetime.now(UTC).replace(tzinfo=None)`` to the microsecond, at half its cost (it
    runs once per event)."""
    return _EPOCH + dt.timedelta(0, time.time())


@dataclass(frozen=True)
class Start:
    """When the run's clock started, on the machine's monotonic clock and in UTC."""

    monotonic: float
    utc: dt.datetime

    @classmethod
    def now(cls) -> Start:
        return cls(time.monotonic(), utc_now())

    def deadline(self, duration: float | None) -> float | None:
        """The monotonic moment ``duration`` seconds after the start (None: no end)."""
        return None if duration is None else self.monotonic + duration


class Gate(Protocol):
    """Where workers wait for each other; it opens on the run's start, which it returns.

    ``wait`` raises ``threading.BrokenBarrierError`` when the run stops before it opens.
    """

    def wait(self) -> Start: ...
    def abort(self) -> None: ...


class ThreadGate:
    """The gate for workers that are threads of one process: a barrier that starts the
    clock when the last one arrives."""

    def __init__(self, parties: int) -> None:
        self._start: Start | None = None
        self._barrier = threading.Barrier(parties, action=self._open)

    def _open(self) -> None:
        self._start = Start.now()

    @property
    def start(self) -> Start | None:
        return self._start

    def wait(self) -> Start:
        self._barrier.wait()
        assert self._start is not None
        return self._start

    def abort(self) -> None:
        self._barrier.abort()


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
    duration: float | None
    clock: Clock = utc_now
    max_lag: float | None = None
    model: str = "mix"
    beds: int = 0  # the hospital model's beds over all shards and workers
    occupancy: float = 0.8
    clinic_slots: int = 16  # the hospital model's appointments per doctor per day, at most
    mix: Mix | None = None  # the scenarios mixed in (--scenarios), from the caller

    def budget(self, events: int | None, worker: int) -> int | None:
        """This worker's share of ``--events``."""
        if events is None:
            return None
        return events // self.workers + (1 if worker < events % self.workers else 0)

    def pacing(
        self, worker: int, rng: random.Random, start: Start, on_skip: Callable[[int], None]
    ) -> Pacing:
        """The worker's pacing; ``on_skip(n)`` counts events skipped under ``max_lag``."""
        if self.rate is None:
            return IntervalPacing(interval=self.interval, jitter=self.jitter, rng=rng)
        profile = make_profile(
            self.profile,
            ramp_seconds=self.ramp_seconds,
            time_scale=self.time_scale,
            start_utc=start.utc,
        )
        return RatePacing(
            rate=self.rate / self.workers,
            start=start.monotonic,
            profile=profile,
            events_per_txn=self.txn_size,
            phase=worker / self.workers,
            max_lag=self.max_lag,
            on_skip=on_skip,
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
        duration=duration,
        clock=clock,
        max_lag=settings.stream_max_lag_seconds,
        model=settings.stream_model,
        beds=settings.stream_beds or default_beds(settings.seed_internacoes),
        occupancy=settings.stream_occupancy,
        clinic_slots=settings.stream_clinic_slots,
    )
