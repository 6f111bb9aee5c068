"""A caller's own clock: picklable, so worker processes stamp rows with it too."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

from hospital_sim.config import load_settings
from hospital_sim.stream.operations import FixedClock
from hospital_sim.stream.plan import utc_now
from hospital_sim.stream.run import run_stream


def test_a_fixed_clock_survives_the_trip_to_a_worker_process() -> None:
    moment = dt.datetime(2026, 11, 2, 10, 30)
    clock = pickle.loads(pickle.dumps(FixedClock(moment)))
    assert clock() == moment


def test_a_lambda_clock_with_worker_processes_is_refused_before_connecting(
    tmp_path: Path,
) -> None:
    # Port 1 refuses: the check comes first, so no connection is even tried.
    settings = load_settings(
        config_dir=tmp_path,
        environ={"PG_HOST": "127.0.0.1", "PG_PORT": "1"},
        overrides={"stream_workers": 2, "stream_rate": 100.0},
    ).settings
    with pytest.raises(ValueError, match="picklable clock"):
        run_stream(settings, events=1, clock=lambda: dt.datetime(2026, 1, 1))


def test_the_default_clock_is_naive_utc_now() -> None:
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    now = utc_now()
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert now.tzinfo is None
    assert before - dt.timedelta(milliseconds=1) <= now <= after + dt.timedelta(milliseconds=1)
