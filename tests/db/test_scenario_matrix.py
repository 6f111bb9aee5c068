"""Each scenario through (a) the built-in capture and (b) real Debezium, then `cdc verify`.

Identical where the pipeline delivered everything; a specific difference where a setting
loses something. Where `cdc verify` cannot use the log at all, the test pins what it says,
so that a change in the verifier shows up here. The scenarios' DDL runs before the
capture starts, except for schema-migration, whose DDL is the point.

Debezium runs in this process (one JVM for the whole run), one capture per case.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from hospital_sim.cdc.capture.builtin import Capture
from hospital_sim.cdc.capture.debezium import DebeziumCapture
from hospital_sim.cdc.capture.setup import setup_cdc
from hospital_sim.cdc.values import UNAVAILABLE_PLACEHOLDER
from hospital_sim.cdc.verify.check import verify_log
from hospital_sim.cdc.verify.compare import VerifyReport
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.errors import UserError
from hospital_sim.scenarios.run import prepare_scenario, run_scenario
from tests.db.cdc_support import CdcDb, current_lsn, lines_of
from tests.db.debezium_support import needs_debezium

pytestmark = [pytest.mark.db, pytest.mark.slow]

ENGINES = ["builtin", pytest.param("debezium", marks=needs_debezium)]
VOLUMES = {
    "seed_pacientes": 60,
    "seed_medicos": 8,
    "seed_convenios": 4,
    "seed_consultas": 120,
    "seed_exames": 80,
    "seed_internacoes": 30,
    "seed_pacientes_convenios": 70,
}
WHOLE = ("lgpd-erasure", "cancelled-orders", "patient-merge", "month-end-billing", "clinical-notes")


def _captured(
    cdc: CdcDb,
    log: Path,
    engine: str,
    work: Callable[[], object],
    *,
    replica_identity: str | None = None,
    props: dict[str, str] | None = None,
    prepare: tuple[str, ...] = (),
    before_capture: Callable[[], None] | None = None,
) -> None:
    """Seed, prepare the scenarios' DDL, capture with ``engine`` while ``work`` runs."""
    s = cdc.settings(**VOLUMES)
    init_database(s)
    seed_database(s, seed=21)
    for name in prepare:
        prepare_scenario(s, name)
    setup_cdc(s, replica_identity_mode=replica_identity)  # type: ignore[arg-type]
    if before_capture is not None:
        before_capture()
    capture: Capture | DebeziumCapture
    if engine == "builtin":
        capture = Capture(s, output=log)
    else:
        capture = DebeziumCapture(
            s, output=log, props={"slot.drop.on.stop": "true", **(props or {})}
        )
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("result", capture.run()))
    thread.start()
    try:
        assert capture.ready.wait(60)
        work()
    finally:
        if isinstance(capture, DebeziumCapture):
            capture.stop_at_current()
        else:
            capture.stop_at(current_lsn(cdc))
        thread.join(120)
    assert "result" in outcome, "the capture failed"


def _verify(cdc: CdcDb, log: Path) -> VerifyReport:
    return verify_log(cdc.settings(**VOLUMES), log, wait_quiescent=0)


def _diff_columns(report: VerifyReport) -> set[tuple[str, str]]:
    return {(t.table, d.column) for t in report.tables for d in t.diffs}


@pytest.mark.parametrize("engine", ENGINES)
def test_scenarios_the_pipeline_delivers_whole_verify_identical(
    cdc: CdcDb,
    tmp_path: Path,
    engine: str,
) -> None:
    log = tmp_path / "changes.jsonl"
    s = cdc.settings(**VOLUMES)

    def work() -> None:
        for name in WHOLE:
            run_scenario(s, name, seed=4, times=2)

    # FULL on internacoes: the old row carries the unchanged note (see the next test).
    _captured(cdc, log, engine, work, replica_identity="full", prepare=WHOLE)
    report = _verify(cdc, log)
    assert report.identical, report.render_table()
    ops = [json.loads(line) for line in lines_of(log)]
    values = [o["value"] if "topic" in o else o for o in ops]
    assert sum(1 for v in values if v and v["op"] == "d") >= 10  # erasures, cancels, merges
    big = max(
        sum(1 for v in values if v and v["source"]["txId"] == tx)
        for tx in {v["source"]["txId"] for v in values if v and v["op"] == "u"}
    )
    assert big >= 50  # month-end-billing's one transaction


@pytest.mark.parametrize("engine", ENGINES)
def test_unchanged_toast_under_replica_identity_default_arrives_as_the_placeholder(
    cdc: CdcDb,
    tmp_path: Path,
    engine: str,
) -> None:
    log = tmp_path / "changes.jsonl"
    s = cdc.settings(**VOLUMES)
    _captured(
        cdc, log, engine, lambda: run_scenario(s, "clinical-notes", seed=4, times=2),
        prepare=("clinical-notes",),
    )  # fmt: skip
    report = _verify(cdc, log)
    assert not report.identical
    assert _diff_columns(report) == {("internacoes", "evolucao_clinica")}
    diffs = [d for t in report.tables for d in t.diffs]
    # The consumer stored the placeholder as the note: what verify shows as the difference.
    assert {d.got for d in diffs} == {UNAVAILABLE_PLACEHOLDER}
    assert all(isinstance(d.expected, str) and len(d.expected) >= 4000 for d in diffs)


@pytest.mark.parametrize(
    ("engine", "skipped", "truncates"),
    [
        ("builtin", None, 1),
        pytest.param("debezium", None, 0, marks=needs_debezium),
        pytest.param("debezium", "none", 1, marks=needs_debezium),
    ],
)
def test_truncate_of_the_staging_table_reaches_the_log_only_when_not_skipped(
    cdc: CdcDb,
    tmp_path: Path,
    engine: str,
    skipped: str | None,
    truncates: int,
) -> None:
    log = tmp_path / "changes.jsonl"
    s = cdc.settings(**VOLUMES)

    def publish_the_queue() -> None:
        with cdc.connect() as conn:
            conn.execute(
                sql.SQL("ALTER PUBLICATION {} ADD TABLE fila_integracao").format(
                    sql.Identifier(cdc.publication)
                )
            )

    props = {
        "table.include.list": "public.pacientes,public.medicos,public.convenios,"
        "public.pacientes_convenios,public.consultas,public.exames,public.internacoes,"
        "public.fila_integracao",
        **({"skipped.operations": skipped} if skipped else {}),
    }
    _captured(
        cdc, log, engine, lambda: run_scenario(s, "nightly-cleanup", seed=4),
        props=props, prepare=("nightly-cleanup",), before_capture=publish_the_queue,
    )  # fmt: skip
    values = [o["value"] if "topic" in o else o for o in map(json.loads, lines_of(log))]
    queue = [v for v in values if v and v["source"]["table"] == "fila_integracao"]
    assert sum(v["op"] == "c" for v in queue) >= 50
    assert sum(v["op"] == "t" for v in queue) == truncates
    # The verifier knows the 7 hospital tables only: it refuses the log rather than
    # saying that the queue's rows outlived the TRUNCATE downstream.
    with pytest.raises(UserError, match="table 'fila_integracao' is not one of the hospital"):
        _verify(cdc, log)


@pytest.mark.parametrize("engine", ENGINES)
def test_schema_migration_mid_stream_new_columns_reach_the_log(
    cdc: CdcDb,
    tmp_path: Path,
    engine: str,
) -> None:
    log = tmp_path / "changes.jsonl"
    s = cdc.settings(**VOLUMES)
    _captured(cdc, log, engine, lambda: run_scenario(s, "schema-migration", seed=4))
    values = [o["value"] if "topic" in o else o for o in map(json.loads, lines_of(log))]
    changed = [v["after"] for v in values if v and v["op"] in "cu"]
    assert any(a.get("nome_social") for a in changed)  # the new column, in the events
    assert any(a.get("valor_cobrado") is not None for a in changed)
    report = _verify(cdc, log)
    # Rows not written since the ALTER TABLE have no such column in the replay: verify
    # reports them as differing ("expected NULL, got <absent>"), only in the new columns.
    assert not report.identical
    assert _diff_columns(report) <= {("pacientes", "nome_social"), ("exames", "valor_cobrado")}
    assert {d.expected for t in report.tables for d in t.diffs} == {None}


@pytest.mark.parametrize(
    ("engine", "says"),
    [
        ("builtin", "pacientes_convenios.validade in 'after': 'infinity'"),
        pytest.param(
            "debezium",
            # Debezium turns DATE 'infinity' into a day number 5.9 million years back.
            "pacientes_convenios.validade in 'after': -2147472692 - epoch days out of range",
            marks=needs_debezium,
        ),
    ],
)
def test_edge_values_date_infinity_is_refused_by_verify_as_it_is_encoded(
    cdc: CdcDb,
    tmp_path: Path,
    engine: str,
    says: str,
) -> None:
    log = tmp_path / "changes.jsonl"
    s = cdc.settings(**VOLUMES)
    _captured(
        cdc, log, engine, lambda: run_scenario(s, "edge-values", seed=4),
        prepare=("edge-values",),
    )  # fmt: skip
    values = [o["value"] if "topic" in o else o for o in map(json.loads, lines_of(log))]
    motivos = {
        v["after"].get("motivo") for v in values if v and v["source"]["table"] == "consultas"
    }
    # CR/LF, quotes, a backslash and an emoji outside the BMP (Debezium escapes it as a
    # surrogate pair, \\uD83D\\uDDD3) all decode back to the text that was written.
    assert "Queixa: \"dor\" \\ 'aguda'\r\nretorno 🗓️" in motivos
    with pytest.raises(UserError, match=says.replace("(", r"\(")):
        _verify(cdc, log)
