"""`cdc capture`: every committed change lands in the log exactly once, from a consistent start."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from hospital_sim.cdc.capture.builtin import Capture, CaptureResult, read_marker
from hospital_sim.cdc.capture.setup import setup_cdc
from hospital_sim.cdc.verify.check import verify_log
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.stream.run import run_stream
from tests.db.cdc_support import Background, CdcDb, current_lsn, lines_of
from tests.db.support import ROOT, run_cli

pytestmark = pytest.mark.db


def _ready(cdc: CdcDb) -> None:
    s = cdc.settings()
    init_database(s)
    setup_cdc(s)


def _ops(path: Path) -> Counter[str]:
    return Counter(json.loads(line)["op"] for line in lines_of(path))


def test_seed_and_stream_with_capture_running_verify_identical(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    _ready(cdc)
    s = cdc.settings(stream_rate=400.0)
    log = tmp_path / "changes.jsonl"
    capture = Capture(s, output=log)
    running = Background(capture.run)
    assert capture.ready.wait(30)
    seeded = seed_database(s, seed=7)
    summary = run_stream(s, duration=2.0, seed=7)
    assert summary.failure is None
    capture.stop_at(current_lsn(cdc))
    result: CaptureResult = running.join()
    assert result.stopped_by == "until-lsn"
    assert result.snapshot_rows == 2  # the lookup plans init wrote before the slot existed
    assert result.latencies_ms  # commit times were carried through

    proc = run_cli("cdc", "verify", str(log), "--wait-quiescent", "0.5", env=cdc.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("IDENTICAL")
    ops = _ops(log)
    assert ops["r"] == 2
    keys = [
        tuple(int(x or 0) for x in json.loads(json.loads(line)["source"]["sequence"]))
        for line in lines_of(log)[2:]
    ]
    assert keys == sorted(keys)  # Debezium's (last commit LSN, LSN) order key
    assert ops["c"] >= seeded.total
    assert ops["u"] > 0


def test_snapshot_of_a_busy_database_is_consistent_with_the_slot(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    _ready(cdc)
    s = cdc.settings(stream_rate=300.0)
    seed_database(s, seed=3)
    stop = threading.Event()
    writer = Background(run_stream, s, duration=30.0, seed=3, stop=stop)
    log = tmp_path / "changes.jsonl"
    capture = Capture(s, output=log, snapshot=True)
    running = Background(capture.run)
    assert capture.ready.wait(30)
    stop.wait(1.0)  # let the stream write across the snapshot and after it
    stop.set()
    writer.join()
    capture.stop_at(current_lsn(cdc))
    result = running.join()
    assert result.snapshot_rows > 0 and result.events > 0
    report = verify_log(s, log, wait_quiescent=0)
    assert report.identical, report.render_table()


class _Crash(Exception):
    pass


class _CrashBeforeConfirm(Capture):
    """Dies after writing its first batch of changes but before advancing the slot."""

    def _advance(self, conn: object, lsn: int) -> None:
        if self._last_written is not None:
            raise _Crash
        super()._advance(conn, lsn)  # type: ignore[arg-type]


def test_resume_after_a_crash_between_write_and_confirm_writes_nothing_twice(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    _ready(cdc)
    s = cdc.settings()
    log = tmp_path / "changes.jsonl"
    Capture(s, output=log, idle_timeout=0.2).run()  # creates the slot, writes the snapshot
    seed_database(s, seed=5)
    with pytest.raises(_Crash):
        _CrashBeforeConfirm(s, output=log).run()
    written = len(lines_of(log))
    assert written > 2
    with cdc.connect() as conn:
        conn.execute("UPDATE pacientes SET telefone = '(11) 90000-0000' WHERE id = 1")
    result = Capture(s, output=log, until_current=True).run()
    assert result.events == 1  # only the update: the seed was already in the file
    report = verify_log(s, log, wait_quiescent=0)
    assert report.identical, report.render_table()
    assert sum(t.duplicates for t in report.tables) == 0


def test_capture_cli_stops_at_an_lsn_and_when_idle(cdc: CdcDb, tmp_path: Path) -> None:
    _ready(cdc)
    env = cdc.env()
    log = tmp_path / "changes.jsonl"
    proc = run_cli("cdc", "capture", "-o", str(log), "--idle-timeout", "0.5", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "stopped by idle-timeout" in proc.stderr
    with cdc.connect() as conn:
        conn.execute("INSERT INTO medicos (nome, crm, especialidade) VALUES ('a', 'CRM 1', 'b')")
        conn.execute("INSERT INTO medicos (nome, crm, especialidade) VALUES ('c', 'CRM 2', 'd')")
    lsn = current_lsn(cdc)
    with cdc.connect() as conn:
        conn.execute("INSERT INTO medicos (nome, crm, especialidade) VALUES ('e', 'CRM 3', 'f')")
    proc = run_cli("cdc", "capture", "-o", str(log), "--until-lsn", lsn, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "stopped by until-lsn" in proc.stderr
    crms = [json.loads(line)["after"]["crm"] for line in lines_of(log)[2:]]
    assert crms == ["CRM 1", "CRM 2"]


def test_capture_cli_rejects_a_bad_lsn_and_a_missing_publication(cdc: CdcDb) -> None:
    env = cdc.env()
    assert run_cli("init", env=env).returncode == 0
    proc = run_cli("cdc", "capture", "--until-lsn", "12345", env=env)
    assert proc.returncode == 2
    assert "--until-lsn" in proc.stderr and "0/16B3748" in proc.stderr
    proc = run_cli("cdc", "capture", "--idle-timeout", "1", env=env)
    assert proc.returncode == 2
    assert f"publication {cdc.publication} does not exist" in proc.stderr
    assert "cdc setup" in proc.stderr


def test_capture_cli_stops_cleanly_on_sigint(cdc: CdcDb, tmp_path: Path) -> None:
    _ready(cdc)
    log = tmp_path / "changes.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", "cdc", "capture", "-o", str(log)],
        env=cdc.env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(lines_of(log) if log.exists() else []) < 2:  # the snapshot is written
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        with cdc.connect() as conn:
            conn.execute("INSERT INTO medicos (nome, crm, especialidade) VALUES ('a', 'b', 'c')")
        while len(lines_of(log)) < 3:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped by SIGINT: 2 snapshot rows, 1 change events" in err


def test_a_torn_last_line_is_cut_and_the_last_complete_event_marks_the_resume(
    tmp_path: Path,
) -> None:
    log = tmp_path / "changes.jsonl"
    first = json.dumps({"op": "c", "source": {"txId": 7, "lsn": 100}})
    second = json.dumps({"op": "u", "source": {"txId": 8, "lsn": 200}})
    log.write_text(f"{first}\n{second}\n" + '{"op": "c", "sour', encoding="utf-8")
    assert read_marker(log) == (8, 200)
    assert log.read_text(encoding="utf-8") == f"{first}\n{second}\n"
    log.write_text("", encoding="utf-8")
    assert read_marker(log) is None


def test_a_lost_connection_is_resumed_without_loss_or_repeats(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    _ready(cdc)
    s = cdc.settings()
    log = tmp_path / "changes.jsonl"
    capture = Capture(s, output=log)
    running = Background(capture.run)
    assert capture.ready.wait(30)
    seed_database(s, seed=9)
    with cdc.connect() as conn:
        for _ in range(3):
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'hospital-sim'"
                " AND pid <> pg_backend_pid()"
            ).fetchone()
            assert killed == (1,)
            conn.execute("UPDATE medicos SET telefone = '(21) 3333-4444' WHERE id <= 5")
            reconnect_by = time.monotonic() + 30  # until the capture is connected again
            while conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'hospital-sim' AND pid <> pg_backend_pid()"
            ).fetchone() != (1,):
                assert time.monotonic() < reconnect_by, "the capture did not reconnect"
                time.sleep(0.05)
    capture.stop_at(current_lsn(cdc))
    running.join()
    report = verify_log(s, log, wait_quiescent=0)
    assert report.identical, report.render_table()
    assert sum(t.duplicates for t in report.tables) == 0
