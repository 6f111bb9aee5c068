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


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_scenarios_are_exported_by_name_table_and_sqlstate_class() -> None:
    stats = Stats()
    stats.scenarios["lgpd-erasure"] += 3
    stats.scenarios_failed["nightly-cleanup 57P01"] += 1
    stats.scenarios_failed["nightly-cleanup 55P03"] += 2
    stats.scenarios_failed["patient-merge OperationalError"] += 1
    stats.scenarios_skipped["long-report"] += 5
    stats.scenario_rows[("pacientes", "delete")] += 4
    stats.scenario_rows[("fila_integracao", "truncate")] += 1
    stats.scenario_transactions = 6
    names = ("lgpd-erasure", "long-report", "nightly-cleanup")
    text = generate_latest(registry_for(lambda: stats, scenarios=names)).decode()

    # Every scenario of the mix is there from the first scrape, at 0 until it occurs.
    assert _samples(text, "hospital_sim_scenario_occurrences_total") == {
        (("scenario", "lgpd-erasure"),): 3.0,
        (("scenario", "long-report"),): 0.0,
        (("scenario", "nightly-cleanup"),): 0.0,
    }
    # Failures are summed by SQLSTATE class: 57P01 and 55P03 are "57" and "55"; an error
    # without a SQLSTATE (a client-side one) is "none".
    assert _samples(text, "hospital_sim_scenario_failures_total") == {
        (("scenario", "nightly-cleanup"), ("sqlstate_class", "57")): 1.0,
        (("scenario", "nightly-cleanup"), ("sqlstate_class", "55")): 2.0,
        (("scenario", "patient-merge"), ("sqlstate_class", "none")): 1.0,
    }
    assert (
        _samples(text, "hospital_sim_scenario_skipped_total")[(("scenario", "long-report"),)] == 5.0
    )
    assert _samples(text, "hospital_sim_scenario_rows_total") == {
        (("operation", "delete"), ("table", "pacientes")): 4.0,
        (("operation", "truncate"), ("table", "fila_integracao")): 1.0,
    }
    assert _samples(text, "hospital_sim_scenario_transactions_total") == {(): 6.0}
    assert "# HELP hospital_sim_scenario_occurrences_total Scenario occurrences" in text


def test_a_stream_without_scenarios_exports_them_empty() -> None:
    text = generate_latest(registry_for(Stats)).decode()
    assert "# TYPE hospital_sim_scenario_occurrences_total counter" in text
    assert _samples(text, "hospital_sim_scenario_occurrences_total") == {}
    assert _samples(text, "hospital_sim_scenario_transactions_total") == {(): 0.0}


def test_scenario_labels_stay_bounded_however_many_occurrences() -> None:
    """Labels are names, tables, operations and SQLSTATE classes: the series do not grow
    with the run (no SQLSTATE, patient id or time in a label)."""
    stats = Stats()
    for i in range(500):
        stats.scenarios["patient-merge"] += 1
        stats.scenarios_failed[f"patient-merge 40{i:03d}"] += 1  # 500 SQLSTATEs of class 40
        stats.scenario_rows[("pacientes", "update")] += 1
    text = generate_latest(registry_for(lambda: stats)).decode()
    assert len(_samples(text, "hospital_sim_scenario_failures_total")) == 1
    assert len(_samples(text, "hospital_sim_scenario_rows_total")) == 1
