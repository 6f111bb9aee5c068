"""Time for generated rows: the anchor's past and future, daily rhythms, sorted timestamps.

Times are int64 seconds since 1970-01-01 on naive UTC datetimes, and days are whole
days since then; numpy turns both back into datetime/date objects in bulk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.draw import pick

DAY = 86_400
HOUR = 3_600
MINUTE = 60
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)

Seconds = npt.NDArray[np.int64]


def to_seconds(moment: dt.datetime) -> int:
    """Whole seconds since the epoch of a naive UTC datetime."""
    if moment.tzinfo is not None:
        raise ValueError(f"expected a naive UTC datetime, got {moment.isoformat()}")
    return (moment - _EPOCH) // dt.timedelta(seconds=1)


def weekday(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Day of week of day numbers, Monday = 0."""
    return (days + _EPOCH_WEEKDAY) % 7


def to_datetimes(seconds: Seconds) -> list[dt.datetime]:
    values: list[dt.datetime] = seconds.astype("datetime64[s]").tolist()
    return values


def to_dates(days: npt.NDArray[np.int64]) -> list[dt.date]:
    values: list[dt.date] = days.astype("datetime64[D]").tolist()
    return values


@dataclass(frozen=True)
class Horizon:
    """Where the generated history sits relative to the anchor.

    Past events happen on whole days ending before ``anchor - 1 day`` and future ones on
    whole days starting after ``anchor + 1 day``, so any time of day keeps them on the
    right side whatever the server's time zone.
    """

    anchor: int  # seconds
    past_last_day: int  # last day any past event may fall on
    future_first_day: int  # first day a scheduled appointment may fall on

    @classmethod
    def at(cls, anchor: dt.datetime) -> Horizon:
        seconds = to_seconds(anchor)
        past_limit = seconds - DAY
        return cls(
            anchor=seconds,
            past_last_day=past_limit // DAY - 1,
            future_first_day=-(-(seconds + DAY) // DAY),
        )

    @property
    def past_limit(self) -> int:
        """No past event is later than this (anchor - 1 day)."""
        return self.anchor - DAY

    def future_last_day(self, horizon_days: int) -> int:
        """Last day a time of day can fall on and stay within anchor + horizon_days."""
        return (self.anchor + horizon_days * DAY) // DAY - 1


@dataclass(frozen=True)
class DayProfile:
    """When in the day something happens: candidate times with probabilities, and how
    busy each weekday is."""

    slots: Seconds  # seconds after midnight, ascending
    cum: npt.NDArray[np.float64]  # cumulative probability of each slot
    weekday_weight: npt.NDArray[np.float64]  # Monday..Sunday

    @classmethod
    def build(
        cls,
        hour_weights: dict[int, float],
        minutes: dict[int, float],
        weekday_weight: tuple[float, ...],
    ) -> DayProfile:
        slots, weights = [], []
        for hour in sorted(hour_weights):
            for minute in sorted(minutes):
                slots.append(hour * HOUR + minute * MINUTE)
                weights.append(hour_weights[hour] * minutes[minute])
        w = np.array(weights, dtype=np.float64)
        return cls(
            slots=np.array(slots, dtype=np.int64),
            cum=np.cumsum(w) / w.sum(),
            weekday_weight=np.array(weekday_weight, dtype=np.float64),
        )

    def slot_at(self, fraction: npt.NDArray[np.float64]) -> Seconds:
        """Time of day at a cumulative fraction of the day's activity (monotone)."""
        idx = pick(self.cum, fraction, self.slots.size - 1)
        return self.slots[idx]

    def random_slots(self, rng: np.random.Generator, n: int) -> Seconds:
        return self.slot_at(rng.random(n))


_EVERY_MINUTE = dict.fromkeys(range(60), 1.0)

# Appointments are booked on a 10- or 15-minute grid; whole and half hours are favourite.
CLINIC = DayProfile.build(
    {7: 0.6, 8: 1.0, 9: 1.2, 10: 1.2, 11: 1.0, 12: 0.4,
     13: 0.7, 14: 1.1, 15: 1.1, 16: 1.0, 17: 0.8, 18: 0.5},
    {0: 0.25, 30: 0.2, 15: 0.1, 45: 0.1, 10: 0.0875, 20: 0.0875, 40: 0.0875, 50: 0.0875},
    (1.1, 1.05, 1.0, 1.0, 0.9, 0.15, 0.02),
)  # fmt: skip
# Blood is mostly collected early in the morning, fasting.
LAB = DayProfile.build(
    {6: 1.5, 7: 2.0, 8: 2.0, 9: 1.6, 10: 1.2, 11: 0.9,
     12: 0.5, 13: 0.6, 14: 0.7, 15: 0.6, 16: 0.5, 17: 0.3},
    _EVERY_MINUTE,
    (1.1, 1.05, 1.0, 1.0, 1.0, 0.4, 0.1),
)  # fmt: skip
# Emergency admissions arrive around the clock, peaking in the afternoon and evening;
# elective ones are on weekdays.
ADMISSION = DayProfile.build(
    {h: 0.35 if h < 6 else 0.8 if h < 10 else 1.2 if h < 22 else 0.6 for h in range(24)},
    _EVERY_MINUTE,
    (1.1, 1.05, 1.05, 1.0, 1.0, 0.85, 0.8),
)
# Discharges are signed after the morning round.
DISCHARGE = DayProfile.build(
    {9: 0.6, 10: 1.2, 11: 1.5, 12: 1.3, 13: 1.1, 14: 1.0, 15: 0.8, 16: 0.6, 17: 0.4},
    _EVERY_MINUTE,
    (1.0,) * 7,
)
# Front-desk registrations during opening hours.
REGISTRATION = DayProfile.build(
    {h: 1.0 if 8 <= h < 18 else 0.4 for h in range(7, 20)},
    _EVERY_MINUTE,
    (1.1, 1.05, 1.0, 1.0, 1.0, 0.35, 0.1),
)


class SortedTimes:
    """``n`` event times in ascending order, handed out a block at a time.

    Events fall on days ``first_day..first_day+len(day_weight)-1`` with density
    proportional to ``day_weight`` and, within a day, to the profile's rhythm. Sorted
    uniforms are produced from the top down (the largest of n uniforms is U**(1/n), the
    next is that times another U**(1/(n-1)), ...), which needs O(1) state, so a table of
    any size comes out in id order = time order without holding it in memory.
    """

    def __init__(
        self, n: int, first_day: int, day_weight: npt.NDArray[np.float64], profile: DayProfile
    ) -> None:
        if n and (day_weight.size == 0 or day_weight.sum() <= 0):
            raise ValueError("no days available for events")
        self.first_day = first_day
        self.profile = profile
        self._remaining = n
        self._log_top = 0.0  # log of the last (descending) uniform handed out
        total = day_weight.sum() if day_weight.size else 1.0
        self._day_weight = day_weight / total
        self._cum = np.cumsum(self._day_weight)
        positive = np.flatnonzero(self._day_weight > 0)
        self._last_day = int(positive[-1]) if positive.size else 0

    @property
    def remaining(self) -> int:
        return self._remaining

    def take(self, rng: np.random.Generator, count: int) -> Seconds:
        count = min(count, self._remaining)
        exponents = self._remaining - np.arange(count, dtype=np.float64)
        log_desc = self._log_top + np.cumsum(np.log(rng.random(count)) / exponents)
        if count:
            self._log_top = float(log_desc[-1])
        self._remaining -= count
        ascending = -np.expm1(log_desc)  # 1 - descending uniform, kept precise near 0
        day = np.minimum(np.searchsorted(self._cum, ascending, side="right"), self._last_day)
        start = self._cum[day] - self._day_weight[day]
        fraction = np.clip((ascending - start) / self._day_weight[day], 0.0, 1.0)
        return (self.first_day + day) * DAY + self.profile.slot_at(fraction)
