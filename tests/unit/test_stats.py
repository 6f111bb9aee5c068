"""Stream stats: percentiles from fixed buckets, merging, snapshots with stable keys."""

from __future__ import annotations

import itertools
import random

import pytest

from hospital_sim.stream.stats import (
    LATENCY_BOUNDS,
    Histogram,
    Outcome,
    Stats,
    merged,
    snapshot,
    sqlstate_class,
)


def test_percentiles_are_within_a_bucket_of_the_truth() -> None:
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(-6, 1) for _ in range(20000))  # ~2.5 ms median
    hist = Histogram()
    for v in values:
        hist.observe(v)
    for q in (0.5, 0.95, 0.99):
        true = values[int(q * len(values)) - 1]
        assert hist.percentile(q) == pytest.approx(true, rel=0.15)


def test_empty_histogram_reads_zero_and_buckets_are_log_spaced() -> None:
    assert Histogram().percentile(0.99) == 0.0
    ratios = {round(b / a, 6) for a, b in itertools.pairwise(LATENCY_BOUNDS)}
    assert ratios == {round(10**0.1, 6)}


def test_cumulative_buckets_end_with_inf_and_the_count() -> None:
    hist = Histogram()
    for v in (0.001, 0.002, 500.0):
        hist.observe(v)
    cum = hist.cumulative()
    assert cum[-1] == ("+Inf", 3)
    assert cum[-2][1] == 2  # 500 s is above the top bound
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(cum))


def test_merge_sums_workers_and_snapshot_keys_are_stable() -> None:
    a, b = Stats(), Stats()
    a.events[("insert_consulta", "consultas", Outcome.COMMITTED)] += 3
    b.events[("insert_consulta", "consultas", Outcome.COMMITTED)] += 2
    a.inserts, b.updates = 3, 2
    a.substitutions[("update_exame", "insert_exame")] += 1
    b.errors["23"] += 1
    a.record_lag(0.5)
    b.record_lag(0.1)
    a.latency.observe(0.01)
    total = merged([a, b])
    snap = snapshot(total, elapsed=2.0)
    assert snap["events"] == {"insert_consulta|consultas|committed": 5}
    assert snap["rate"] == 2.5
    assert snap["substitutions"] == {"update_exame->insert_exame": 1}
    assert snap["errors"] == {"23": 1}
    assert snap["lag_max"] == 0.5 and snap["lag_mean"] == pytest.approx(0.3)
    assert set(snapshot(Stats(), elapsed=0).keys()) == set(snap.keys())
    assert a.events[("insert_consulta", "consultas", Outcome.COMMITTED)] == 3  # parts untouched


@pytest.mark.parametrize(
    ("state", "cls"), [("40001", "40"), ("23505", "23"), ("57P01", "57"), (None, "none")]
)
def test_sqlstate_class(state: str | None, cls: str) -> None:
    assert sqlstate_class(state) == cls
