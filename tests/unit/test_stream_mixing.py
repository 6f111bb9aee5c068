"""Scenarios mixed into the stream: how often, repeatable under a seed, and what the
summary says about them (no database: the draws and the report only)."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from hospital_sim.cli.scenario_mix import ScenarioMix, scenario_mix
from hospital_sim.config import Settings, load_settings
from hospital_sim.errors import ConfigError, UserError
from hospital_sim.scenarios import SCENARIOS
from hospital_sim.stream.failures import ErrorLog
from hospital_sim.stream.mixing import Interludes
from hospital_sim.stream.run import StreamSummary
from hospital_sim.stream.session import Backoff
from hospital_sim.stream.stats import Stats


def _settings(**env: str) -> Settings:
    return load_settings(config_dir=Path("/nonexistent"), environ=env).settings


def _draws(seed: int, every: float, n: int) -> list[str | None]:
    mix = ScenarioMix(names=("lgpd-erasure", "clinical-notes"), every=every, hold=1)
    lines = Interludes(
        mix,
        conninfo="host=127.0.0.1 port=1",
        rng=random.Random(seed),
        stats=Stats(),
        stop=threading.Event(),
        errors=ErrorLog(),
        backoff=Backoff(),
        name="scenarios 0.0",
        scope=(1, 0),
        forget=lambda *_: None,
    )
    return [lines.draw() for _ in range(n)]


def test_one_occurrence_per_n_transactions_on_average_the_same_under_a_seed() -> None:
    draws = _draws(7, 50, 20_000)
    occurred = [d for d in draws if d is not None]
    assert 350 <= len(occurred) <= 450  # 400 expected
    assert set(occurred) == {"lgpd-erasure", "clinical-notes"}
    assert draws == _draws(7, 50, 20_000)
    assert draws != _draws(8, 50, 20_000)
    assert all(d is not None for d in _draws(1, 1, 100))  # --scenario-every 1: each time


def test_settings_read_the_names_the_frequency_and_the_hold() -> None:
    s = _settings(
        STREAM_SCENARIOS="lgpd-erasure, all",
        STREAM_SCENARIO_EVERY="20",
        SCENARIO_HOLD_SECONDS="3m",
    )
    mix = scenario_mix(s)
    assert mix is not None
    assert mix.names[0] == "lgpd-erasure" and set(mix.names) == set(SCENARIOS)
    assert (mix.every, mix.hold) == (20.0, 180.0)
    assert scenario_mix(_settings()) is None  # the default stream mixes nothing in
    with pytest.raises(ConfigError, match="SCENARIO_HOLD_SECONDS"):
        _settings(SCENARIO_HOLD_SECONDS="3 weeks")
    with pytest.raises(ConfigError, match="STREAM_SCENARIO_EVERY"):
        _settings(STREAM_SCENARIO_EVERY="0")
    with pytest.raises(UserError, match=r"did you mean lgpd-erasure\? \(accepted: lgpd-erasure"):
        scenario_mix(_settings(STREAM_SCENARIOS="lgpd-erasur"))


def test_the_summary_counts_scenario_rows_by_table_and_operation() -> None:
    stats = Stats()
    stats.scenarios.update({"lgpd-erasure": 3, "nightly-cleanup": 2})
    stats.scenarios_failed["schema-migration 55P03"] = 1
    stats.scenarios_skipped["month-end-billing"] = 4
    stats.scenario_rows.update(
        {("pacientes", "delete"): 3, ("exames", "delete"): 7, ("fila_integracao", "insert"): 900,
         ("fila_integracao", "truncate"): 2}
    )  # fmt: skip
    stats.scenario_transactions = 7
    summary = StreamSummary(
        seed=1, elapsed=1.0, workers=2, rate_target=None, stats=stats,
        scenarios="lgpd-erasure, nightly-cleanup; one per 100 transactions on average",
    )  # fmt: skip
    text = "\n".join(summary.lines())
    assert "scenarios (lgpd-erasure, nightly-cleanup; one per 100 transactions on average): " in (
        text
    )
    assert "occurrences lgpd-erasure 3, nightly-cleanup 2" in text
    assert "stopped short (what they committed is counted): schema-migration 55P03: 1" in text
    assert "skipped (one like it was running): month-end-billing 4" in text
    assert "rows changed: 912 in 7 transactions" in text
    assert "fila_integracao      insert 900, truncate 2" in text
    data = summary.as_dict()
    assert data["scenario_rows"]["pacientes|delete"] == 3
    assert data["scenario_occurrences"] == {"lgpd-erasure": 3, "nightly-cleanup": 2}
    plain = StreamSummary(seed=1, elapsed=1.0, workers=1, rate_target=None, stats=Stats())
    assert "scenarios" not in "\n".join(plain.lines())  # the default stream says nothing
