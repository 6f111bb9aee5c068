"""When events run: pluggable pacing strategies, pure (the clock is passed in).

* :class:`IntervalPacing`, the original: one transaction, then a pause of
  ``interval`` plus a random 0..``jitter`` (closed loop: a slow database slows the stream).
* :class:`RatePacing`, pgbench ``-R`` style open loop: event *k* is due when the
  integral of the rate reaches *k*; a late event is reported as schedule lag and the
  schedule is never slowed down to hide it.

A profile multiplies the rate over time (constant, ramp, hospital-day).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

Profile = Callable[[float], float]
"""Rate multiplier (0..1) as a function of seconds since the stream started."""

# Relative activity of a Brazilian general hospital by hour of day (0h..23h), weekdays:
# elective appointments and exams peak mid-morning, a dip at lunch, a quieter afternoon,
# emergency-only nights.
HOURLY = (
    0.10, 0.08, 0.07, 0.07, 0.08, 0.12, 0.25, 0.55, 0.85, 1.00, 1.00, 0.95,
    0.75, 0.80, 0.90, 0.85, 0.75, 0.60, 0.45, 0.35, 0.28, 0.22, 0.17, 0.13,
)  # fmt: skip
WEEKEND = {5: 0.45, 6: 0.35}  # Saturday, Sunday: mostly emergencies
LOCAL_OFFSET = dt.timedelta(hours=-3)  # Brasília time (no DST since 2019)


def constant() -> Profile:
    return lambda _t: 1.0


def ramp(seconds: float) -> Profile:
    """Linear from 0 to the full rate over ``seconds``, then flat."""
    return lambda t: min(1.0, max(0.0, t / seconds))


def day_factor(local: dt.datetime) -> float:
    """The hospital-day multiplier at a local (Brasília) time, interpolated between hours."""
    hour = local.hour + local.minute / 60 + local.second / 3600
    low = int(hour) % 24
    frac = hour - int(hour)
    value = HOURLY[low] * (1 - frac) + HOURLY[(low + 1) % 24] * frac
    return value * WEEKEND.get(local.weekday(), 1.0)


def hospital_day(start_utc: dt.datetime, *, time_scale: float = 1.0) -> Profile:
    """The day curve, starting at the wall-clock time ``start_utc``; ``time_scale`` 24 = 1 h/day."""
    local0 = start_utc + LOCAL_OFFSET

    def factor(t: float) -> float:
        return day_factor(local0 + dt.timedelta(seconds=t * time_scale))

    return factor


def make_profile(
    name: str, *, ramp_seconds: float, time_scale: float, start_utc: dt.datetime
) -> Profile:
    if name == "constant":
        return constant()
    if name == "ramp":
        return ramp(ramp_seconds / time_scale)
    if name == "hospital-day":
        return hospital_day(start_utc, time_scale=time_scale)
    raise ValueError(f"unknown profile {name!r}; accepted: constant, ramp, hospital-day")


class Pacing(ABC):
    """Tells a worker when its next transaction is due (times on the monotonic clock)."""

    open_loop: bool = False

    def known_ahead(self) -> bool:
        """Whether the next transaction's due time is known before this one ends: it can
        then be planned while the server commits this one."""
        return self.open_loop

    @abstractmethod
    def next_due(self, now: float) -> float:
        """Due time of the next transaction; ``now`` is when the previous one finished."""


class IntervalPacing(Pacing):
    """The original pacing: run, then sleep ``interval`` + uniform(0, ``jitter``)."""

    def __init__(self, *, interval: float, jitter: float, rng: random.Random) -> None:
        if interval < 0 or jitter < 0:
            raise ValueError("interval and jitter must be >= 0")
        self.interval = interval
        self.jitter = jitter
        self._rng = rng
        self._first = True

    def known_ahead(self) -> bool:
        """Back to back (no interval, no jitter): the next one is due when this one ends."""
        return self.interval == 0 and self.jitter == 0

    def next_due(self, now: float) -> float:
        if self._first:
            self._first = False
            return now
        extra = self._rng.uniform(0, self.jitter) if self.jitter else 0.0
        return now + self.interval + extra


class RatePacing(Pacing):
    """Open loop: event ``k`` is due when ``∫ rate·profile`` reaches ``k + phase``.

    ``phase`` (0..1) staggers workers sharing a total rate so their events interleave.
    With ``events_per_txn`` K, a transaction is due when its last event is.
    """

    open_loop = True
    STEP = 0.05  # integration step (s); exact for constant and linear profiles

    def __init__(
        self,
        *,
        rate: float,
        start: float,
        profile: Profile | None = None,
        events_per_txn: int = 1,
        phase: float = 0.0,
        max_lag: float | None = None,
        on_skip: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``max_lag``: a transaction already later than this when it is planned is skipped
        (not run) and its events passed to ``on_skip``, like pgbench's --latency-limit with
        -R; None catches up on everything."""
        if rate <= 0:
            raise ValueError(f"rate must be > 0, not {rate}")
        self.max_lag = max_lag
        self._on_skip = on_skip
        self._clock = clock
        self.rate = rate
        self.start = start
        self.profile = profile or constant()
        self.k = events_per_txn
        self._next_event = 0
        self._phase = phase
        # Current integration segment [t0, t1] (seconds since start) and Λ at its ends.
        self._t0 = 0.0
        self._l0 = 0.0
        self._t1, self._l1 = self._advance(0.0, 0.0)

    def _advance(self, t: float, lam: float) -> tuple[float, float]:
        t1 = t + self.STEP
        mean = (self.profile(t) + self.profile(t1)) / 2  # trapezoid
        return t1, lam + self.rate * max(mean, 0.0) * self.STEP

    def _time_of(self, target: float) -> float:
        """Seconds since start at which Λ reaches ``target`` (targets never decrease)."""
        while self._l1 < target:
            self._t0, self._l0 = self._t1, self._l1
            self._t1, self._l1 = self._advance(self._t1, self._l1)
        span = self._l1 - self._l0
        if span <= 0:
            return self._t0
        return self._t0 + (self._t1 - self._t0) * (target - self._l0) / span

    def _next(self) -> float:
        last = self._next_event + self.k - 1
        self._next_event += self.k
        return self.start + self._time_of(last + self._phase)

    def next_due(self, now: float) -> float:
        due = self._next()
        if self.max_lag is None:
            return due
        # The caller may plan ahead (now=0): lateness is judged on the clock itself.
        floor = self._clock() - self.max_lag
        skipped = 0
        while due < floor:
            skipped += self.k
            due = self._next()
        if skipped and self._on_skip is not None:
            self._on_skip(skipped)
        return due

    def expected_events(self, seconds: float) -> float:
        """Events the schedule holds in the first ``seconds`` (for reports and tests)."""
        lam, t = 0.0, 0.0
        while t + self.STEP <= seconds + 1e-9:
            t, lam = self._advance(t, lam)
        return lam
