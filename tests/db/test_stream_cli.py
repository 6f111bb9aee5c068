"""`hospital-sim stream` as a user runs it: bad flags, SIGTERM, the summary."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from tests.db.support import ROOT, FreshDb, run_cli

pytestmark = pytest.mark.db

SMALL = {
    "SEED_PACIENTES": "200",
    "SEED_MEDICOS": "20",
    "SEED_CONVENIOS": "5",
    "SEED_CONSULTAS": "400",
    "SEED_EXAMES": "300",
    "SEED_INTERNACOES": "100",
    "SEED_PACIENTES_CONVENIOS": "250",
}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ["--rate", "-5"],
            "--rate=-5.0 (from flag) is not accepted; it must be greater than or equal to 0.001",
        ),
        (
            ["--weights", "insert_consulta=40,delete_paciente=1"],
            "unknown operation 'delete_paciente'",
        ),
        (["--shard-index", "2", "--shard-count", "2"], "accepted 0..1"),
        (["--profile", "ramp"], "give STREAM_RATE (--rate) too"),
        (["--profile", "weekly", "--rate", "5"], "accepted: 'constant', 'ramp' or 'hospital-day'"),
    ],
)
def test_bad_flags_exit_2_with_one_clear_line_and_write_nothing(
    fresh_db: FreshDb, flags: list[str], expected: str
) -> None:
    result = run_cli("stream", *flags, env=fresh_db.env())
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    with fresh_db.connect() as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)


def test_unknown_weight_names_the_accepted_operations(fresh_db: FreshDb) -> None:
    result = run_cli("stream", "--weights", "foo=1", env=fresh_db.env())
    assert result.returncode == 2
    assert "--weights=foo=1" in result.stderr
    assert "insert_paciente, insert_consulta" in result.stderr


def test_stream_without_schema_says_to_run_init(fresh_db: FreshDb) -> None:
    result = run_cli("stream", "--events", "1", env=fresh_db.env())
    assert result.returncode == 2
    assert "run 'hospital-sim init' first" in result.stderr


def _seeded(db: FreshDb) -> None:
    settings = db.settings(**{k.lower(): int(v) for k, v in SMALL.items()})
    init_database(settings)
    seed_database(settings, seed=4)


def _start(db: FreshDb, *flags: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", "stream", *flags],
        env=env or db.env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait for the first progress line (the stream is running), but not forever: a stream
    # that hangs before it prints one must fail the test, not hang it.
    running = threading.Event()

    def watch(stderr: IO[str]) -> None:
        for line in stderr:
            if "progress:" in line:
                running.set()
                return  # the rest is left for communicate()

    assert proc.stderr is not None
    reader = threading.Thread(target=watch, args=(proc.stderr,), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not running.wait(0.1) and reader.is_alive() and time.monotonic() < deadline:
        pass
    if not running.is_set():
        proc.kill()
        reader.join(5)
        pytest.fail(f"the stream printed no progress line (exit code {proc.wait(5)})")
    return proc


def _stream_backends(db: FreshDb, *, within: float) -> int:
    """Stream connections still open on ``db`` once ``within`` seconds have passed (or 0)."""
    deadline = time.monotonic() + within
    while True:
        with db.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE 'hospital-sim stream%'"
            ).fetchone()
        count = int(str(row[0])) if row else 0
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


@pytest.mark.parametrize("workers", ["1", "3"])
def test_sigterm_stops_with_exit_0_and_prints_the_summary(fresh_db: FreshDb, workers: str) -> None:
    _seeded(fresh_db)
    proc = _start(fresh_db, "--rate", "50", "--seed", "8", "--workers", workers)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert time.monotonic() - sent < 10  # generous: CI machines are slow
    assert f"stream summary (seed 8, {workers} worker(s), stopped by SIGTERM" in out
    assert "events committed:" in out and "latency p50" in out
    assert "stopped early" not in out, out
    assert _stream_backends(fresh_db, within=5) == 0


def test_worker_processes_stop_when_the_stream_is_killed(fresh_db: FreshDb) -> None:
    _seeded(fresh_db)
    proc = _start(fresh_db, "--rate", "50", "--workers", "2")
    proc.kill()  # no summary, no cleanup: the workers must notice on their own
    proc.communicate(timeout=15)
    assert _stream_backends(fresh_db, within=10) == 0


def test_worker_processes_log_through_the_streams_log_file(
    fresh_db: FreshDb, tmp_path: Path
) -> None:
    _seeded(fresh_db)
    log_file = tmp_path / "app.log"
    env = fresh_db.env({"HOSPITAL_SIM_LOG_FILE": str(log_file), "LOG_LEVEL": "DEBUG"})
    result = run_cli("stream", "--rate", "100", "--workers", "2", "--events", "40", env=env)
    assert result.returncode == 0, result.stderr
    assert "events committed: 40" in result.stdout
    lines = log_file.read_text(encoding="utf-8").splitlines()
    # The per-event lines come from the worker processes, one whole line each.
    events = [ln for ln in lines if "| INSERT: " in ln and " | UPDATE: " in ln]
    assert len(events) == 40, lines[-20:]
    assert all(ln.split(" ", 3)[2] == "DEBUG" for ln in events)


def test_default_pacing_logs_the_original_line_per_event(fresh_db: FreshDb) -> None:
    settings = fresh_db.settings(**{k.lower(): int(v) for k, v in SMALL.items()})
    init_database(settings)
    seed_database(settings, seed=4)
    env = fresh_db.env({"STREAM_INTERVAL_SECONDS": "0.01", "MAX_JITTER_MS": "5"})
    result = run_cli("stream", "--events", "5", "--seed", "3", env=env)
    assert result.returncode == 0, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if "| INSERT:" in ln]
    assert len(lines) == 5
    assert " [5] " in lines[-1] or lines[-1].split("INFO ")[-1].startswith("[5] ")
    last = lines[-1].split("| INSERT: ")[1]
    ins, upd = last.split(" | UPDATE: ")
    assert int(ins) + int(upd) == 5
    assert "events committed: 5" in result.stdout
