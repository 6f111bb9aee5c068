"""The event-level proof on our own capture: a second capture's log against a reference log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hospital_sim.cdc.capture.builtin import Capture
from hospital_sim.cdc.capture.setup import setup_cdc
from hospital_sim.cdc.verify.check import prove_log, verify_log
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.stream.run import run_stream
from tests.db.cdc_support import Background, CdcDb, current_lsn, lines_of
from tests.db.support import run_cli
from tests.unit.cdc_helpers import alter, envelope, later_event, superseded

pytestmark = pytest.mark.db

# Paciente 1's phone changes three times, each in its own transaction: the middle change is
# an intermediate update, invisible in the final state.
_PHONES = ("(11) 90000-0001", "(11) 90000-0002", "(11) 90000-0003")


def _captured(cdc: CdcDb, tmp_path: Path, *, pipeline_snapshot: bool) -> tuple[Path, Path]:
    """A reference capture started first, a pipeline capture after the seed, a stream."""
    s = cdc.settings(stream_rate=300.0)
    init_database(s)
    setup_cdc(s)
    reference, log = tmp_path / "reference.jsonl", tmp_path / "pipeline.jsonl"
    ref_capture = Capture(s, output=reference)
    ref_running = Background(ref_capture.run)
    assert ref_capture.ready.wait(30)
    seed_database(s, seed=11)
    pipeline = Capture(
        cdc.settings(cdc_slot=cdc.slot + "_p"), output=log, snapshot=pipeline_snapshot
    )
    pipe_running = Background(pipeline.run)
    assert pipeline.ready.wait(30)
    assert run_stream(s, duration=1.5, seed=11).failure is None
    with cdc.connect() as conn:
        for phone in _PHONES:
            conn.execute("UPDATE pacientes SET telefone = %s WHERE id = 1", (phone,))
            conn.commit()
    end = current_lsn(cdc)
    ref_capture.stop_at(end)
    pipeline.stop_at(end)
    ref_running.join()
    pipe_running.join()
    return reference, log


def _phone_update(log: list[str], phone: str) -> int:
    return next(
        i
        for i, line in enumerate(log)
        if envelope(line).get("op") == "u" and envelope(line)["after"].get("telefone") == phone
    )


def _write(path: Path, log: list[str]) -> Path:
    path.write_text("".join(log), encoding="utf-8")
    return path


def test_pipeline_log_with_a_snapshot_matches_the_reference_and_each_fault_is_counted(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    reference, log_path = _captured(cdc, tmp_path, pipeline_snapshot=True)
    clean = lines_of(log_path)
    assert sum(envelope(line)["op"] == "r" for line in clean) > 100

    report = prove_log(log_path, reference)
    assert report.ok, report.render()
    assert sum(s.expected for s in report.snapshot) == sum(s.rows for s in report.snapshot)
    assert sum(t.matched for t in report.tables) == len(clean) - sum(
        s.rows for s in report.snapshot
    )

    def counts(log: list[str], **kw: bool) -> dict[str, int]:
        proof = prove_log(_write(tmp_path / "faulty.jsonl", log), reference, **kw)
        return {k: v for k, v in proof.to_dict()["totals"].items() if v}

    log = list(clean)
    del log[_phone_update(log, _PHONES[1])]
    assert counts(log) == {"lost": 1}
    # The final state holds the last phone: the state comparison cannot see this loss.
    assert verify_log(cdc.settings(), tmp_path / "faulty.jsonl", wait_quiescent=0).identical

    log = list(clean)
    del log[superseded(log, "c")]
    assert counts(log) == {"lost": 1}

    log = list(clean)
    del log[superseded(log, "r")]
    assert counts(log) == {"lost": 1}

    log = list(clean)
    i = _phone_update(log, _PHONES[0])
    log[i] = alter(log[i], "telefone", "(11) 91111-1111")
    assert counts(log) == {"altered": 1}

    log = list(clean)
    i = _phone_update(log, _PHONES[0])
    j = later_event(log, i)
    log[i], log[j] = log[j], log[i]
    assert counts(log) == {"reordered": 1}

    log = list(clean)
    tail = len(log) - 20
    log[len(log) :] = log[tail:]  # a restarted connector sends its last 20 events again
    assert counts(log) == {"duplicated": 20}
    assert prove_log(tmp_path / "faulty.jsonl", reference, allow_redelivery=True).ok


def test_pipeline_log_without_a_snapshot_through_the_cli(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    reference, log_path = _captured(cdc, tmp_path, pipeline_snapshot=False)

    proc = run_cli("cdc", "verify", str(log_path), "--reference", str(reference), env=cdc.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith(
        "EVENTS IDENTICAL: every reference event exactly once, in order"
    )

    log = lines_of(log_path)
    del log[_phone_update(log, _PHONES[1])]
    faulty = _write(tmp_path / "faulty.jsonl", log)
    proc = run_cli(
        "cdc", "verify", str(faulty), "--reference", str(reference), "--json", env=cdc.env()
    )
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["totals"]["lost"] == 1
    assert data["tables"]["pacientes"]["lost"] == 1
    assert data["examples"]["lost"][0]["id"] == 1
    # The seed committed before the pipeline's slot existed: counted, not judged.
    assert data["reference_events_before_window"] > 0

    proc = run_cli(
        "cdc", "verify", str(faulty), "--reference", str(tmp_path / "nope.jsonl"), env=cdc.env()
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: reference change log {tmp_path / 'nope.jsonl'} does not exist or is not a file"
    ]


def test_capture_envelope_is_debezium_shaped_and_its_transaction_counts_are_checked(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    s = cdc.settings()
    init_database(s)
    setup_cdc(s)
    seed_database(s, seed=2)
    log = tmp_path / "changes.jsonl"
    capture = Capture(s, output=log, snapshot=True, transaction_metadata=True)
    running = Background(capture.run)
    assert capture.ready.wait(30)
    with cdc.connect() as conn, conn.transaction():
        conn.execute("UPDATE pacientes SET telefone = '(11) 90000-1111' WHERE id = 2")
        conn.execute("UPDATE pacientes SET telefone = '(11) 90000-2222' WHERE id = 2")
    with cdc.connect() as conn:
        conn.execute("UPDATE pacientes SET id = 100000 WHERE id = 3")  # cascades to children
    capture.stop_at(current_lsn(cdc))
    running.join()
    events = [json.loads(line) for line in lines_of(log)]

    markers = [e["source"]["snapshot"] for e in events if e.get("op") == "r"]
    assert markers[0] == "first" and markers[-1] == "last"
    assert markers.count("first_in_data_collection") == 6
    assert markers.count("last_in_data_collection") == 6
    changes = [e for e in events if e.get("op") in ("c", "u", "d")]
    assert all(e["ts_us"] == e["ts_ms"] * 1000 and e["source"]["ts_us"] for e in changes)
    key_change = [(e["op"], (e["before"] or e["after"])["id"]) for e in changes
                  if e["source"]["table"] == "pacientes" and e["op"] in "dc"]  # fmt: skip
    assert key_change == [("d", 3), ("c", 100000)]
    ends = [e for e in events if e.get("status") == "END"]
    assert len(ends) == len([e for e in events if e.get("status") == "BEGIN"]) == 2
    for end in ends:
        assert end["event_count"] == sum(
            1 for e in changes if (e.get("transaction") or {}).get("id") == end["id"]
        )
    assert ends[0]["data_collections"] == [
        {"data_collection": "public.pacientes", "event_count": 2}
    ]
    assert verify_log(s, log, wait_quiescent=0).identical

    lines = lines_of(log)
    del lines[_phone_update(lines, "(11) 90000-1111")]  # the intermediate update
    faulty = _write(tmp_path / "faulty.jsonl", lines)
    report = verify_log(s, faulty, wait_quiescent=0)

    assert not report.identical
    assert report.render_table().endswith(
        "NOT IDENTICAL: 1 transaction with other event counts than their END marker, 1 lost event"
    )
    assert f"transaction {ends[0]['id']}: END marker" in report.render_table()
