"""The dashboard's pure parts: metrics parsing, rates, alerts, language, and its CLI errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from hospital_sim.config import load_settings
from hospital_sim.errors import ConfigError
from hospital_sim.stream.metrics import registry_for
from hospital_sim.stream.stats import Outcome, Stats
from hospital_sim.web.alerts import DEFAULT_THRESHOLDS, evaluate
from hospital_sim.web.i18n import LABELS, choose
from hospital_sim.web.run import metrics_url, occupancy_beds, target_insert_share
from hospital_sim.web.scrape import StreamHistory, parse

ROOT = Path(__file__).resolve().parents[2]


def _exposition(
    committed: int, *, op: str = "insert_consulta", errors: int = 0, slow: float = 0.1
) -> str:
    stats = Stats()
    stats.events[(op, "consultas", Outcome.COMMITTED)] += committed
    stats.events[("update_exame", "exames", Outcome.COMMITTED)] += committed // 2
    stats.events[(op, "consultas", Outcome.FAILED)] += 1
    for i in range(100):
        stats.latency.observe(0.001 if i < 90 else slow)
    stats.errors["40"] += errors
    stats.reconnects = 2
    stats.record_lag(0.5)
    return generate_latest(registry_for(lambda: stats)).decode()


def test_a_reading_holds_what_the_stream_exposes() -> None:
    r = parse(_exposition(10, errors=3), t=1.0)
    assert r.committed == {"insert_consulta": 10.0, "update_exame": 5.0}
    assert r.total == 15.0 and r.not_committed == 1.0
    assert (r.errors, r.reconnects, r.schedule_lag_s) == (3.0, 2.0, 0.5)


def test_rates_share_and_percentiles_come_from_successive_readings() -> None:
    history = StreamHistory("http://x/metrics")
    history.add(parse(_exposition(100), t=0.0))
    history.add(parse(_exposition(300), t=10.0))
    panel = history.panel()
    assert panel["by_op"] == {"insert_consulta": 20.0, "update_exame": 10.0}
    assert panel["rate"] == 30.0
    assert panel["insert_share"] == pytest.approx(300 / 450)
    assert panel["p50"] is None  # no commit between the two readings: nothing to rank


def test_latency_percentiles_come_from_the_histogram() -> None:
    history = StreamHistory("http://x/metrics")
    history.add(parse(_exposition(100), t=0.0))
    panel = history.panel()
    assert 0.0008 < panel["p50"] < 0.0013  # 90% of commits took 1 ms
    assert 0.08 < panel["p99"] < 0.13  # the slowest 10% took 100 ms


def test_history_is_bounded_and_survives_a_stream_restart() -> None:
    history = StreamHistory("http://x/metrics", window_s=60)
    for t in range(200):
        history.add(parse(_exposition(t * 10), t=float(t)))
    assert len(history.readings) == 61
    history.add(parse(_exposition(5), t=200.0))  # counters began again
    assert len(history.readings) == 1 and history.panel()["events_total"] == 7.0


def test_alerts_fire_at_their_thresholds_critical_first() -> None:
    fired = evaluate(
        [("occupancy_pct", "", 90.0), ("slot_lag_mb", "s1", 600.0), ("pending_exams", "", 10.0)],
        DEFAULT_THRESHOLDS,
    )
    assert [(a.key, a.level, a.subject) for a in fired] == [
        ("slot_lag_mb", "critical", "s1"),
        ("occupancy_pct", "attention", ""),
    ]


def test_alert_thresholds_are_settings_over_the_defaults() -> None:
    s = load_settings(
        config_dir=Path("/nonexistent"), environ={"DASHBOARD_ALERTS": "occupancy_pct=70:80"}
    ).settings
    assert s.dashboard_alerts["occupancy_pct"] == (70.0, 80.0)
    assert s.dashboard_alerts["slot_lag_mb"] == DEFAULT_THRESHOLDS["slot_lag_mb"]
    assert (s.dashboard_host, s.dashboard_port) == ("127.0.0.1", 8050)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("occupancy=70:80", "did you mean occupancy_pct?"),
        ("occupancy_pct=80", "not name=attention:critical"),
        ("occupancy_pct=90:80", "need 0 <= attention <= critical"),
    ],
)
def test_bad_alert_thresholds_are_named(value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(config_dir=Path("/nonexistent"), environ={"DASHBOARD_ALERTS": value})
    assert "DASHBOARD_ALERTS" in err.value.message and expected in err.value.message


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("pt-BR,pt;q=0.9,en;q=0.8", "pt-BR"),
        ("en-US,en;q=0.9,pt-BR;q=0.8", "en"),
        ("pt-PT", "pt-BR"),
        ("fr-FR, pt;q=0.5, en;q=0.4", "pt-BR"),
        ("de-DE", "en"),
        (None, "en"),
    ],
)
def test_language_follows_accept_language(header: str | None, lang: str) -> None:
    assert choose(header) == lang


def test_both_languages_label_everything() -> None:
    assert LABELS["en"].keys() == LABELS["pt-BR"].keys()


def test_metrics_url_gets_its_path_and_bad_ones_are_refused() -> None:
    assert metrics_url("http://127.0.0.1:9100") == "http://127.0.0.1:9100/metrics"
    assert metrics_url("http://h:9100/custom") == "http://h:9100/custom"
    with pytest.raises(ConfigError, match="give http://HOST:PORT"):
        metrics_url("localhost:9100")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "DASHBOARD_"))}
    env.update({"HOSPITAL_SIM_LOG_FILE": os.devnull, "DATABASE_URL": "postgresql://u@127.0.0.1/x"})
    return subprocess.run(
        [sys.executable, "-m", "hospital_sim", "dashboard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_bad_metrics_url_is_one_line_exit_2() -> None:
    out = _cli("--metrics-url", "nope")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: --metrics-url='nope' is not accepted: give http://HOST:PORT[/metrics] "
        "of a stream started with --metrics-port"
    ]


def test_a_port_in_use_is_one_line_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _cli("--port", str(port))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port} cannot be used" in lines[0]
    assert "choose another --port" in lines[0]


def test_a_bad_port_names_the_flag() -> None:
    out = _cli("--port", "70000")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[0].startswith("error: --port=70000")


def test_a_missing_web_stack_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from hospital_sim.web import run

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name)
    )
    with pytest.raises(run.DashboardUnavailable) as err:
        run.check_installed()
    assert err.value.exit_code == 2
    assert err.value.message == (
        "the dashboard needs uvicorn, which is not installed: "
        "pip install 'hospital-sim[dashboard]' (make install does it)"
    )


def test_errors_per_minute_are_counted_not_extrapolated() -> None:
    history = StreamHistory("http://x/metrics")
    history.add(parse(_exposition(10, errors=1), t=0.0))
    history.add(parse(_exposition(20, errors=2), t=3.0))
    assert history.panel()["errors_per_min"] == 1.0  # one error in 3 s is not 20 a minute
    history.add(parse(_exposition(30, errors=7), t=70.0))
    assert history.panel()["errors_per_min"] == 5.0  # the readings of the last minute


def test_a_stream_that_stops_answering_has_no_rate() -> None:
    history = StreamHistory("http://x/metrics")
    history.add(parse(_exposition(100), t=0.0))
    history.add(parse(_exposition(300), t=10.0))
    history.error = "Connection refused"
    panel = history.panel()
    assert (panel["ok"], panel["rate"], panel["events_total"]) == (False, 0, 450.0)


def test_occupancy_is_measured_against_the_hospital_models_beds_unless_told(
    tmp_path: Path,
) -> None:
    def beds(**environ: str) -> int:
        return occupancy_beds(load_settings(config_dir=tmp_path, environ=environ).settings)

    assert beds() == 240  # SEED_INTERNACOES 1200 / 5, as the hospital model has
    assert beds(SEED_INTERNACOES="5000") == 1000
    assert beds(STREAM_BEDS="180") == 180
    assert beds(STREAM_BEDS="180", DASHBOARD_BEDS="90") == 90


def test_the_insert_share_has_a_target_only_for_the_weighted_mix(tmp_path: Path) -> None:
    def target(**environ: str) -> float | None:
        return target_insert_share(load_settings(config_dir=tmp_path, environ=environ).settings)

    assert target() == pytest.approx(0.70)  # the original 70% INSERT / 30% UPDATE
    assert target(STREAM_MODEL="hospital") is None  # follows the hospital's state
