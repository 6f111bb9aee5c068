"""The patients: who they are, when they registered, and their table rows.

Everything later tables need about a patient (registration time, birth date, sex, city,
how often they come) is kept in per-patient arrays; nothing else grows with the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.addresses import address_pools, draw_addresses, draw_cities, draw_phones
from hospital_sim.generate.documents import cpf_array
from hospital_sim.generate.draw import pick_sorted
from hospital_sim.generate.people import (
    DAYS_PER_YEAR,
    FEMALE_SHARE,
    draw_ages_days,
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


@dataclass(frozen=True)
class Cohort:
    """Per-patient arrays, indexed by ``id - first_id``; ids grow with registration time."""

    first_id: int
    registered: Seconds  # data_cadastro, ascending
    birth_day: npt.NDArray[np.int64]  # days since the epoch
    female: npt.NDArray[np.bool_]
    city: npt.NDArray[np.intp]  # index into places.CITIES
    weight_cum: npt.NDArray[np.float64]  # cumulative visit propensity

    @property
    def size(self) -> int:
        return int(self.registered.size)

    def age_years(self, idx: npt.NDArray[np.intp], at: Seconds) -> npt.NDArray[np.float64]:
        return (at / DAY - self.birth_day[idx]) / DAYS_PER_YEAR

    def day_weights(self, first_day: int, last_day: int) -> npt.NDArray[np.float64]:
        """For each day, the visit propensity of everyone registered before it began."""
        starts = np.arange(first_day, last_day + 1, dtype=np.int64) * DAY
        registered = np.searchsorted(self.registered, starts, side="left")
        return np.where(registered > 0, self.weight_cum[np.maximum(registered - 1, 0)], 0.0)

    @property
    def first_event_day(self) -> int:
        """First day anything can happen to a patient: the day after the first registration."""
        return int(self.registered[0] // DAY) + 1

    def event_times(
        self, n: int, first_day: int, last_day: int, profile: DayProfile
    ) -> SortedTimes:
        """``n`` sorted event times on days first_day..last_day, as frequent as the patients
        registered by then make them, in the profile's daily and weekly rhythm."""
        days = np.arange(first_day, last_day + 1, dtype=np.int64)
        weights = self.day_weights(first_day, last_day) * profile.weekday_weight[weekday(days)]
        return SortedTimes(n, first_day, weights, profile)

    def draw_registered_before(self, rng: np.random.Generator, t: Seconds) -> npt.NDArray[np.intp]:
        """For each time, a patient registered strictly before it, frequent visitors favoured.

        Callers only pass times after the first registration.
        """
        eligible = np.searchsorted(self.registered, t, side="left")
        target = rng.random(t.size) * self.weight_cum[eligible - 1]
        return pick_sorted(self.weight_cum, target, eligible - 1)

    def draw_any(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.intp]:
        """Patients, frequent visitors favoured."""
        target = rng.random(n) * self.weight_cum[-1]
        return pick_sorted(self.weight_cum, target, self.size - 1)


def build_cohort(rng: np.random.Generator, n: int, first_id: int, horizon: Horizon) -> Cohort:
    """``n`` patients registered over the last five years, all before anchor - 1 day."""
    # The last registration day leaves at least one whole past day for their first visit.
    last_day = horizon.past_last_day - 1
    days = np.arange(last_day - HISTORY_DAYS + 1, last_day + 1, dtype=np.int64)
    day_p = REGISTRATION.weekday_weight[weekday(days)]
    day = rng.choice(days, size=n, p=day_p / day_p.sum())
    registered = np.sort(day * DAY + REGISTRATION.random_slots(rng, n) + rng.integers(0, 60, n))
    age_days = draw_ages_days(rng, n)
    birth_day = registered // DAY - age_days
    age_now = (horizon.anchor / DAY - birth_day) / DAYS_PER_YEAR
    # Older people and babies see doctors more often; some people just do.
    propensity = rng.lognormal(0.0, 0.6, n) * (1 + np.maximum(age_now - 45, 0) / 15)
    propensity[age_now < 3] *= 1.8
    return Cohort(
        first_id=first_id,
        registered=registered,
        birth_day=birth_day,
        female=rng.random(n) < FEMALE_SHARE,
        city=draw_cities(rng, n),
        weight_cum=np.cumsum(propensity),
    )


def birth_years(birth_day: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    years: npt.NDArray[np.int64] = (
        birth_day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    )
    return years


def patient_rows(rng: np.random.Generator, cohort: Cohort, start: int, stop: int) -> list[Row]:
    """Rows of pacientes for cohort indexes start..stop-1."""
    idx = np.arange(start, stop, dtype=np.intp)
    ids = idx.astype(np.int64) + cohort.first_id
    female, city, birth = cohort.female[idx], cohort.city[idx], cohort.birth_day[idx]
    return list(
        zip(
            ids.tolist(),
            draw_names(rng, female, birth_years(birth)),
            to_dates(birth),
            cpf_array(ids),
            draw_phones(rng, address_pools().city_ddd[city]),
            draw_addresses(rng, city),
            to_datetimes(cohort.registered[idx]),
            strict=True,
        )
    )
