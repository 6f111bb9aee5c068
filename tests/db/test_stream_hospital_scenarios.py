"""`stream --model hospital --scenarios all --workers 2`: the hospital model with every
scenario mixed in (erasures, key moves, DDL, TRUNCATE, a long transaction...). The workers
keep going, the model's invariants hold under rows deleted or renumbered beneath it, and
the built-in capture's log verifies against the source and against a reference capture.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from hospital_sim.cdc.capture.builtin import Capture
from hospital_sim.cdc.capture.setup import setup_cdc
from hospital_sim.cdc.verify.check import prove_log, verify_log
from hospital_sim.cli.scenario_mix import ScenarioMix
from hospital_sim.scenarios import SCENARIOS
from hospital_sim.stream.run import run_stream
from tests.db.cdc_support import CdcDb, current_lsn, lines_of
from tests.db.checks import (
    SCENARIO_TABLES,
    STREAM_VOLUMES,
    assert_coherent,
    audit_scenarios,
    scalar,
    scenario_audited,
    scenario_counts,
    seeded,
)

pytestmark = pytest.mark.db

FAST = {"stream_rate": 1_000_000.0, "stream_interval_seconds": 0, "max_jitter_ms": 0}
BEDS, SLOTS = 60, 16  # 60 beds for 200 patients: many are in hospital when erased
CURRENT_STAYS = "SELECT count(*) FROM internacoes WHERE data_saida IS NULL"
FULLEST_DAY = (
    "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM consultas"
    " WHERE status = 'agendada' GROUP BY medico_id, data::date) t"
)


def test_hospital_model_with_every_scenario_keeps_its_invariants_and_verifies(
    cdc: CdcDb, tmp_path: Path
) -> None:
    db = seeded(cdc.db, audit=False)
    mix = ScenarioMix(names=tuple(SCENARIOS), every=3, hold=0.5)
    audit_scenarios(db, mix)
    settings = cdc.settings(**STREAM_VOLUMES)
    setup_cdc(settings, replica_identity_mode="full")
    with db.connect() as conn:  # the scenarios' own tables are published too
        conn.execute(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                sql.Identifier(cdc.publication),
                sql.SQL(", ").join(map(sql.Identifier, SCENARIO_TABLES)),
            )
        )
    log, reference_log = tmp_path / "changes.jsonl", tmp_path / "reference.jsonl"
    reference = Capture(
        settings.model_copy(update={"cdc_slot": f"{cdc.slot}_ref"}), output=reference_log
    )
    capture = Capture(settings, output=log)
    ended: dict[str, Any] = {}
    threads = [
        threading.Thread(target=lambda n=n, c=c: ended.setdefault(n, c.run()))
        for n, c in (("reference", reference), ("capture", capture))
    ]
    for thread, running in zip(threads, (reference, capture), strict=True):
        thread.start()
        assert running.ready.wait(60)
    run = cdc.settings(
        **STREAM_VOLUMES, **FAST, stream_model="hospital", stream_beds=BEDS,
        stream_occupancy=0.9, stream_workers=2, stream_txn_size=3,
    )  # fmt: skip
    try:
        summary = run_stream(run, events=3000, seed=12, scenarios=mix)
    finally:
        end = current_lsn(cdc)
        for running in (capture, reference):
            running.stop_at(end)
        for thread in threads:
            thread.join(120)
    assert set(ended) == {"reference", "capture"}, "a capture failed"

    # No worker stopped; an update of a row a scenario had deleted found nothing (stale).
    stats = summary.stats
    assert summary.failure is None and summary.snapshot["errors"] == {}
    assert {str(outcome) for _, _, outcome in stats.events} <= {"committed", "stale"}
    stale = {op: n for (op, _t, outcome), n in stats.events.items() if outcome == "stale"}
    assert stats.inserts + stats.updates + sum(stale.values()) == 3000
    # An erased patient's stay left the model with it: no transfer or discharge of it.
    assert stale.keys() <= {"update_consulta", "update_exame", "collect_exame"}, stale
    assert sum(stats.scenarios.values()) >= 30 and stats.scenarios["lgpd-erasure"] > 0
    assert {op for _, op in stats.scenario_rows} == {"insert", "update", "delete", "truncate"}

    assert scenario_counts(summary) == scenario_audited(db)
    with db.connect() as conn:
        # The model's census is the database's: beds freed by erasures are known free.
        assert int(str(scalar(conn, CURRENT_STAYS))) == stats.occupied <= BEDS
        assert int(str(scalar(conn, FULLEST_DAY))) <= SLOTS
    assert stats.occupancy_peak <= BEDS
    assert_coherent(db)

    report = verify_log(settings, log, wait_quiescent=0)
    assert report.identical, report.render_table()
    proof = prove_log(log, reference_log)
    assert proof.ok, proof.render()
    assert sum(t.matched for t in proof.tables) == sum(t.reference for t in proof.tables) > 0

    # A capture started afterwards snapshots what the run left: dates of 'infinity',
    # NUMERICs of 38 digits, and the stored reports (a published scenario table).
    later_log = tmp_path / "later.jsonl"
    later = Capture(settings.model_copy(update={"cdc_slot": f"{cdc.slot}_later"}),
                    output=later_log, until_current=True)  # fmt: skip
    assert later.run().snapshot_rows > 0
    snapshot = lines_of(later_log)
    assert any('"infinity"' in line for line in snapshot)
    assert any('"relatorios_mensais"' in line for line in snapshot)
    report = verify_log(settings, later_log, wait_quiescent=0)
    assert report.identical, report.render_table()
