"""Pacing strategies, driven by a fake clock: no database, no sleeping."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from hospital_sim.stream.pacing import (
    IntervalPacing,
    RatePacing,
    constant,
    day_factor,
    hospital_day,
    make_profile,
    ramp,
)


def dues(pacing: RatePacing, n: int) -> list[float]:
    return [pacing.next_due(0.0) for _ in range(n)]


def test_interval_pacing_runs_at_once_then_waits_interval_plus_bounded_jitter() -> None:
    pacing = IntervalPacing(interval=2.0, jitter=0.4, rng=random.Random(1))
    assert pacing.next_due(100.0) == 100.0
    waits = [pacing.next_due(100.0) - 100.0 for _ in range(2000)]
    assert all(2.0 <= w <= 2.4 for w in waits)
    # The jitter is spread over its range, not stuck at one end.
    assert min(waits) < 2.02 and max(waits) > 2.38


def test_interval_pacing_without_jitter_is_exact() -> None:
    pacing = IntervalPacing(interval=0.5, jitter=0.0, rng=random.Random(1))
    pacing.next_due(0.0)
    assert pacing.next_due(10.0) == 10.5


@pytest.mark.parametrize("rate", [10.0, 100.0, 1000.0, 3.3])
def test_constant_rate_schedules_event_k_at_k_over_rate(rate: float) -> None:
    pacing = RatePacing(rate=rate, start=50.0)
    got = dues(pacing, 500)
    assert got == pytest.approx([50.0 + k / rate for k in range(500)], abs=1e-9)


def test_open_loop_schedule_is_not_slowed_by_a_late_worker() -> None:
    # The worker reports it finished far behind schedule; the next due time does not move.
    pacing = RatePacing(rate=10.0, start=0.0)
    assert pacing.next_due(0.0) == 0.0
    assert pacing.next_due(5.0) == pytest.approx(0.1)  # 4.9 s late: lag, not a new schedule
    assert pacing.next_due(5.0) == pytest.approx(0.2)


def test_transactions_of_k_events_are_due_with_their_last_event() -> None:
    pacing = RatePacing(rate=100.0, start=0.0, events_per_txn=5)
    assert dues(pacing, 3) == pytest.approx([0.04, 0.09, 0.14])


def test_workers_sharing_a_rate_interleave_by_phase() -> None:
    workers = [RatePacing(rate=50.0, start=0.0, phase=w / 2) for w in range(2)]
    merged = sorted(t for p in workers for t in dues(p, 50))
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(merged)}
    assert gaps == {0.01}  # 100 events/s in total, evenly spaced


def test_ramp_reaches_the_rate_and_holds_the_right_count() -> None:
    pacing = RatePacing(rate=100.0, start=0.0, profile=ramp(10.0))
    # Over the ramp the schedule holds half of rate x time, then the full rate.
    assert pacing.expected_events(10.0) == pytest.approx(500.0, rel=1e-6)
    assert pacing.expected_events(20.0) == pytest.approx(1500.0, rel=1e-6)
    times = dues(pacing, 1500)
    assert times[499] == pytest.approx(10.0, abs=0.05)
    late = times[-100:]
    assert (late[-1] - late[0]) / 99 == pytest.approx(0.01, rel=1e-3)


def test_hospital_day_is_busy_on_weekday_mornings_and_quiet_at_night() -> None:
    monday_10h = dt.datetime(2026, 11, 30, 10, 0)  # local (Brasília) times
    monday_3h = dt.datetime(2026, 11, 30, 3, 0)
    sunday_10h = dt.datetime(2026, 11, 29, 10, 0)
    assert day_factor(monday_10h) == 1.0
    assert day_factor(monday_3h) < 0.1
    assert 0.2 < day_factor(sunday_10h) < 0.6
    assert all(0 < day_factor(monday_10h + dt.timedelta(minutes=m)) <= 1 for m in range(0, 1440, 7))


def test_time_scale_compresses_the_day() -> None:
    start_utc = dt.datetime(2026, 11, 30, 13, 0)  # 10h in Brasília
    real = hospital_day(start_utc)
    fast = hospital_day(start_utc, time_scale=24.0)
    # 17 hours of the day pass in 17 h at scale 1 and in 42.5 min at scale 24.
    assert fast(17 * 150.0) == pytest.approx(real(17 * 3600.0))
    assert fast(17 * 150.0) < 0.2 < real(0.0)


def test_profile_by_name() -> None:
    start = dt.datetime(2026, 11, 30, 13, 0)
    assert make_profile("constant", ramp_seconds=1, time_scale=1, start_utc=start)(5) == 1.0
    assert make_profile("ramp", ramp_seconds=10, time_scale=1, start_utc=start)(5) == 0.5
    with pytest.raises(ValueError, match="accepted"):
        make_profile("spiky", ramp_seconds=1, time_scale=1, start_utc=start)
    assert constant()(1e9) == 1.0


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RatePacing(rate=0, start=0.0)


def test_max_lag_skips_events_already_too_late_and_counts_them() -> None:
    now = [0.0]
    skipped: list[int] = []
    pacing = RatePacing(
        rate=10, start=0.0, max_lag=1.0, on_skip=skipped.append, clock=lambda: now[0]
    )
    assert pacing.next_due(0.0) == 0.0
    now[0] = 10.05  # an outage: 10 s without running anything
    due = pacing.next_due(0.0)
    assert due == pytest.approx(9.1)  # resumes within max_lag, not 9.95 s behind
    assert skipped == [90]  # events 1..90 (due 0.1..9.0 s) are skipped, not caught up


def test_without_max_lag_every_late_event_is_caught_up() -> None:
    now = [0.0]
    pacing = RatePacing(rate=10, start=0.0, clock=lambda: now[0])
    pacing.next_due(0.0)
    now[0] = 10.0
    assert pacing.next_due(0.0) == pytest.approx(0.1)


def test_the_next_transaction_is_planned_during_a_commit_only_when_its_time_is_known() -> None:
    # Back to back, the next one is due when this one ends; after a pause or a random
    # jitter it is not known yet, so rows are not drawn before the pause.
    back_to_back = IntervalPacing(interval=0, jitter=0, rng=random.Random(1))
    assert back_to_back.known_ahead()
    assert not IntervalPacing(interval=0.5, jitter=0, rng=random.Random(1)).known_ahead()
    assert not IntervalPacing(interval=0, jitter=0.2, rng=random.Random(1)).known_ahead()
    assert RatePacing(rate=10, start=0.0).known_ahead()
    back_to_back.next_due(5.0)
    assert back_to_back.next_due(7.5) == 7.5
