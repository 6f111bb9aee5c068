"""The patient cohort: computed per patient from the seed, in memory that does not grow
with the patients, and drawn from only once registered."""

from __future__ import annotations

import datetime as dt

import numpy as np

from hospital_sim.generate.cohort import GROUP, build_cohort
from hospital_sim.generate.stays import Ward
from hospital_sim.generate.timeline import Horizon

HORIZON = Horizon.at(dt.datetime(2026, 11, 1))


def test_a_million_patients_take_well_under_a_megabyte() -> None:
    cohort = build_cohort(np.random.default_rng(1), 1_000_000, 1, HORIZON)
    held = cohort.day_start.nbytes + cohort.group_total.nbytes
    assert held < 1_000_000 // GROUP * 8 + 64 * 1024  # one running total per GROUP patients


def test_the_same_patients_whatever_block_totals_their_propensity() -> None:
    a = build_cohort(np.random.default_rng(3), 50_000, 1, HORIZON, block=1 << 16)
    b = build_cohort(np.random.default_rng(3), 50_000, 1, HORIZON, block=4 * GROUP)
    idx = np.arange(50_000)
    assert np.array_equal(a.registered_at(idx), b.registered_at(idx))
    assert np.array_equal(a.birth_day(idx), b.birth_day(idx))
    assert np.allclose(a.group_total, b.group_total)


def test_ids_grow_with_registration_time_over_the_last_five_years() -> None:
    cohort = build_cohort(np.random.default_rng(5), 20_000, 1, HORIZON)
    registered = cohort.registered_at(np.arange(20_000))
    assert np.all(np.diff(registered) >= 0)
    assert registered[-1] < HORIZON.past_limit
    assert registered[-1] - registered[0] > 4.5 * 365 * 86_400


def test_registered_before_counts_exactly_the_earlier_registrations() -> None:
    cohort = build_cohort(np.random.default_rng(9), 5_000, 1, HORIZON)
    registered = cohort.registered_at(np.arange(5_000))
    probes = np.concatenate([registered, registered + 1, registered - 1])
    expected = np.searchsorted(registered, probes, side="left")
    assert np.array_equal(cohort.registered_before(probes), expected)


def test_a_patient_is_drawn_only_after_registering() -> None:
    cohort = build_cohort(np.random.default_rng(11), 3_000, 1, HORIZON)
    rng = np.random.default_rng(2)
    registered = cohort.registered_at(np.arange(3_000))
    t = rng.integers(registered[0] + 1, registered[-1], 20_000)
    drawn = cohort.draw_registered_before(rng, t)
    assert np.all(registered[drawn] < t)
    # Frequent visitors are favoured: the draws follow the propensity.
    weights = cohort.propensity(np.arange(3_000))
    heavy = weights > np.quantile(weights, 0.9)
    assert heavy[cohort.draw_any(rng, 20_000)].mean() > 0.15


def test_the_ward_remembers_only_who_is_in_hospital() -> None:
    ward = Ward()
    ward.admit(4, free_from=100)
    ward.admit(7, free_from=300)
    assert ward.busy(4, 50) and ward.busy(7, 50)
    ward.now(200)
    assert not ward.busy(4, 200) and ward.busy(7, 200)
    assert ward.free_from == {7: 300}
