"""The Prometheus adapter over the core stats, and error classification by SQLSTATE."""

from __future__ import annotations

import psycopg
import pytest
from prometheus_client import generate_latest
from psycopg import errors

from hospital_sim.stream.failures import ErrorLog, classify
from hospital_sim.stream.metrics import registry_for
from hospital_sim.stream.stats import Outcome, Resolution, Stats


def test_exposition_has_every_family_with_its_labels() -> None:
    stats = Stats()
    stats.events[("insert_paciente", "pacientes_convenios", Outcome.COMMITTED)] += 4
    stats.latency.observe(0.002)
    stats.reconnects = 2
    stats.in_doubt[Resolution.COMMITTED] += 1
    stats.substitutions[("update_exame", "insert_exame")] += 3
    stats.errors["23"] += 1
    stats.record_lag(0.25)
    stats.skipped = 7
    text = generate_latest(registry_for(lambda: stats)).decode()
    assert (
        'hospital_sim_events_total{operation="insert_paciente",outcome="committed",'
        'table="pacientes_convenios"} 4.0' in text
    )
    assert 'hospital_sim_event_latency_seconds_bucket{le="+Inf"} 1.0' in text
    assert "hospital_sim_event_latency_seconds_count 1.0" in text
    assert "hospital_sim_reconnects_total 2.0" in text
    assert 'hospital_sim_in_doubt_total{outcome="committed"} 1.0' in text
    assert 'hospital_sim_substitutions_total{ran="insert_exame",wanted="update_exame"} 3.0' in text
    assert 'hospital_sim_errors_total{sqlstate_class="23"} 1.0' in text
    assert "hospital_sim_schedule_lag_seconds 0.25" in text
    assert "hospital_sim_skipped_events_total 7.0" in text


def test_registries_are_private() -> None:
    a, b = Stats(), Stats()
    a.reconnects = 1
    assert "reconnects_total 1.0" in generate_latest(registry_for(lambda: a)).decode()
    assert "reconnects_total 0.0" in generate_latest(registry_for(lambda: b)).decode()


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (errors.SerializationFailure(), "retry"),
        (errors.DeadlockDetected(), "retry"),
        (errors.AdminShutdown(), "connection"),
        (errors.CrashShutdown(), "connection"),
        (errors.CannotConnectNow(), "connection"),
        (errors.ConnectionFailure(), "connection"),
        (psycopg.OperationalError("server closed the connection unexpectedly"), "connection"),
        (errors.UniqueViolation(), "other"),
        (errors.CheckViolation(), "other"),
        (errors.DiskFull(), "other"),
    ],
)
def test_errors_are_classified_by_sqlstate(exc: psycopg.Error, kind: str) -> None:
    assert classify(exc) == kind


def test_error_log_reports_each_class_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    log = ErrorLog(interval=3600)
    for _ in range(100):
        log.report("sql:23", "unique violation")
    log.report("sql:22", "bad data")
    assert [r.getMessage() for r in caplog.records] == ["unique violation", "bad data"]
