"""The patients: who they are, when they registered, and their table rows.

Nothing is stored per patient, so a seed of any size runs in the same memory. A patient's
registration time, birth date, sex and how often they come follow from the seed and the
patient's index alone, through a counter-based hash (:func:`units`), and from the head
count of each registration day. Later tables recompute them for the patients they draw.
The one thing kept that grows with the patients is the running total of visit
propensity at every ``GROUP``-th patient (one byte a patient), which weighted draws
need to find a patient without summing everyone before them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.addresses import address_pools, draw_addresses, draw_cities, draw_phones
from hospital_sim.generate.documents import cpf_array
from hospital_sim.generate.draw import pick
from hospital_sim.generate.people import (
    AGE_BAND_SHARES,
    AGE_BAND_YEARS,
    DAYS_PER_YEAR,
    FEMALE_SHARE,
    draw_names,
)
from hospital_sim.generate.timeline import (
    DAY,
    REGISTRATION,
    DayProfile,
    Horizon,
    Seconds,
    SortedTimes,
    to_dates,
    to_datetimes,
    weekday,
)
from hospital_sim.tables import Row

HISTORY_DAYS = round(5 * DAYS_PER_YEAR)  # registrations spread over the last five years
GROUP = 8  # patients per running propensity total
Indexes = npt.NDArray[np.intp]

# Which uniform of a patient each attribute uses (see units).
_SLOT, _BAND, _AGE, _SEX, _SPREAD, _ANGLE = range(6)
_DRAWS = 6
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_AGE_CUM = np.cumsum(AGE_BAND_SHARES) / sum(AGE_BAND_SHARES)


def units(key: np.uint64, idx: npt.NDArray[np.integer], draw: int) -> npt.NDArray[np.float64]:
    """Uniform [0, 1) numbers, one per index: draw ``draw`` of each patient (SplitMix64).

    A function of (key, index, draw) only, so a patient is the same whichever block or
    table asks for it.
    """
    x = (idx.astype(np.uint64) * np.uint64(_DRAWS) + np.uint64(draw + 1)) * _GOLDEN + key
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


@dataclass(frozen=True)
class Cohort:
    """The patients, indexed by ``id - first_id``; ids grow with registration time."""

    first_id: int
    size: int
    key: np.uint64
    first_day: int  # the first possible registration day (days since the epoch)
    day_start: npt.NDArray[np.int64]  # patients registered before each day; ends with size
    anchor_day: float  # the horizon's anchor, in days since the epoch
    group_total: npt.NDArray[np.float64]  # propensity of patients 0..g*GROUP-1, per g

    # -- who a patient is -------------------------------------------------------------
    def _day_of(self, idx: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        found: npt.NDArray[np.int64] = np.searchsorted(self.day_start, idx, side="right") - 1
        return found

    def registered_at(self, idx: npt.NDArray[np.integer]) -> Seconds:
        """data_cadastro: ascending with the index, in the registration desk's rhythm."""
        day = self._day_of(idx)
        base = self.day_start[day]
        count = self.day_start[day + 1] - base
        fraction = (idx - base + units(self.key, idx, _SLOT)) / count
        slot = pick(REGISTRATION.cum, fraction, REGISTRATION.slots.size - 1)
        low = np.where(slot > 0, REGISTRATION.cum[slot - 1], 0.0)
        within = (fraction - low) / (REGISTRATION.cum[slot] - low)
        seconds = np.clip((within * 60).astype(np.int64), 0, 59)  # monotone within the slot
        registered: Seconds = (self.first_day + day) * DAY + REGISTRATION.slots[slot] + seconds
        return registered

    def _age_days(self, idx: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """Age at registration (>= 1 day), following the Censo 2022 age pyramid."""
        band = pick(_AGE_CUM, units(self.key, idx, _BAND))
        days = (band + units(self.key, idx, _AGE)) * (AGE_BAND_YEARS * DAYS_PER_YEAR)
        return np.maximum(days.astype(np.int64), 1)

    def birth_day(self, idx: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """Birth dates, in days since the epoch."""
        born: npt.NDArray[np.int64] = self.first_day + self._day_of(idx) - self._age_days(idx)
        return born

    def is_female(self, idx: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
        female: npt.NDArray[np.bool_] = units(self.key, idx, _SEX) < FEMALE_SHARE
        return female

    def age_years(self, idx: npt.NDArray[np.integer], at: Seconds) -> npt.NDArray[np.float64]:
        return (at / DAY - self.birth_day(idx)) / DAYS_PER_YEAR

    def propensity(self, idx: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
        """How often each patient sees a doctor: older people and babies more; some just do."""
        age_now = (self.anchor_day - self.birth_day(idx)) / DAYS_PER_YEAR
        radius = np.sqrt(-2.0 * np.log1p(-units(self.key, idx, _SPREAD)))
        normal = radius * np.cos(2 * np.pi * units(self.key, idx, _ANGLE))
        weight = np.exp(0.6 * normal) * (1 + np.maximum(age_now - 45, 0) / 15)
        boosted: npt.NDArray[np.float64] = np.where(age_now < 3, weight * 1.8, weight)
        return boosted

    # -- who registered when -----------------------------------------------------------
    @property
    def first_event_day(self) -> int:
        """First day anything can happen to a patient: the day after the first registration."""
        return int(self.registered_at(np.zeros(1, dtype=np.intp))[0] // DAY) + 1

    def registered_before(self, t: Seconds) -> Indexes:
        """For each time, how many patients registered strictly before it."""
        day = np.clip(t // DAY - self.first_day, 0, self.day_start.size - 2)
        low = self.day_start[day].astype(np.intp)
        high = self.day_start[day + 1].astype(np.intp)
        low = np.where(t // DAY - self.first_day >= self.day_start.size - 1, high, low)
        while (open_ := low < high).any():  # binary search within the day, all at once
            mid = (low + high) // 2
            probe = np.minimum(mid, self.size - 1)
            earlier = open_ & (self.registered_at(probe) < t)
            low = np.where(earlier, mid + 1, low)
            high = np.where(open_ & ~earlier, mid, high)
        return low

    def weight_before(self, count: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
        """Total propensity of patients 0..count-1."""
        group = count // GROUP
        members = group[:, None] * GROUP + np.arange(GROUP)
        inside = members < count[:, None]
        weights = np.where(inside, self.propensity(np.minimum(members, self.size - 1)), 0.0)
        total: npt.NDArray[np.float64] = self.group_total[group] + weights.sum(axis=1)
        return total

    def day_weights(self, first_day: int, last_day: int) -> npt.NDArray[np.float64]:
        """For each day, the visit propensity of everyone registered before it began."""
        starts = np.arange(first_day, last_day + 1, dtype=np.int64) * DAY
        return self.weight_before(self.registered_before(starts))

    def event_times(
        self, n: int, first_day: int, last_day: int, profile: DayProfile
    ) -> SortedTimes:
        """``n`` sorted event times on days first_day..last_day, as frequent as the patients
        registered by then make them, in the profile's daily and weekly rhythm."""
        days = np.arange(first_day, last_day + 1, dtype=np.int64)
        weights = self.day_weights(first_day, last_day) * profile.weekday_weight[weekday(days)]
        return SortedTimes(n, first_day, weights, profile)

    # -- weighted draws ----------------------------------------------------------------
    def draw_below(self, rng: np.random.Generator, eligible: Indexes) -> Indexes:
        """For each count, one of the first ``count`` patients, frequent visitors favoured."""
        return self._draw(rng.random(eligible.size), eligible)

    def _draw(self, u: npt.NDArray[np.float64], eligible: Indexes) -> Indexes:
        if u.size == 0:
            return np.zeros(0, dtype=np.intp)
        last = eligible - 1
        target = u * self.weight_before(eligible)
        group = np.searchsorted(self.group_total, target, side="right") - 1
        group = np.clip(group, 0, last // GROUP)
        members = group[:, None] * GROUP + np.arange(GROUP)
        inside = members <= last[:, None]
        weights = np.where(inside, self.propensity(np.minimum(members, self.size - 1)), 0.0)
        running = np.cumsum(weights, axis=1)
        above = running > (target - self.group_total[group])[:, None]
        # Float rounding can leave no member above the target: take the group's last one.
        offset = np.where(above.any(axis=1), above.argmax(axis=1), GROUP - 1)
        return np.minimum(group * GROUP + offset, last).astype(np.intp)

    def draw_registered_before(self, rng: np.random.Generator, t: Seconds) -> Indexes:
        """For each time, a patient registered strictly before it, frequent visitors favoured.

        Callers only pass times after the first registration.
        """
        return self.draw_below(rng, self.registered_before(t))

    def draw_any(self, rng: np.random.Generator, n: int) -> Indexes:
        """Patients, frequent visitors favoured."""
        return self._draw(rng.random(n), np.full(n, self.size, dtype=np.intp))


def build_cohort(
    rng: np.random.Generator, n: int, first_id: int, horizon: Horizon, *, block: int = 1 << 16
) -> Cohort:
    """``n`` patients registered over the last five years, all before anchor - 1 day.

    ``block`` only bounds the memory used to total the propensities: it does not change
    the patients.
    """
    # The last registration day leaves at least one whole past day for their first visit.
    last_day = horizon.past_last_day - 1
    days = np.arange(last_day - HISTORY_DAYS + 1, last_day + 1, dtype=np.int64)
    day_p = REGISTRATION.weekday_weight[weekday(days)]
    counts = rng.multinomial(n, day_p / day_p.sum())
    day_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    key = np.uint64(rng.integers(0, 2**63))
    cohort = Cohort(
        first_id=first_id,
        size=n,
        key=key,
        first_day=int(days[0]),
        day_start=day_start,
        anchor_day=horizon.anchor / DAY,
        group_total=np.zeros(1),
    )
    groups = -(-n // GROUP)
    sums = np.zeros(groups + 1)
    step = max(GROUP, block - block % GROUP)
    for start in range(0, n, step):
        idx = np.arange(start, min(n, start + step), dtype=np.intp)
        weight = np.zeros(-(-idx.size // GROUP) * GROUP)
        weight[: idx.size] = cohort.propensity(idx)
        first = start // GROUP
        sums[first + 1 : first + 1 + weight.size // GROUP] = weight.reshape(-1, GROUP).sum(axis=1)
    return replace(cohort, group_total=np.cumsum(sums))


def birth_years(birth_day: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    years: npt.NDArray[np.int64] = (
        birth_day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    )
    return years


def patient_rows(rng: np.random.Generator, cohort: Cohort, start: int, stop: int) -> list[Row]:
    """Rows of pacientes for cohort indexes start..stop-1."""
    idx = np.arange(start, stop, dtype=np.intp)
    ids = idx.astype(np.int64) + cohort.first_id
    female, birth = cohort.is_female(idx), cohort.birth_day(idx)
    city = draw_cities(rng, idx.size)
    return list(
        zip(
            ids.tolist(),
            draw_names(rng, female, birth_years(birth)),
            to_dates(birth),
            cpf_array(ids),
            draw_phones(rng, address_pools().city_ddd[city]),
            draw_addresses(rng, city),
            to_datetimes(cohort.registered_at(idx)),
            strict=True,
        )
    )
