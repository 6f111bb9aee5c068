"""`hospital-sim stream` as a user runs it: bad flags, SIGTERM, the summary."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from hospital_sim.lifecycle import init_database
from hospital_sim.seed import seed_database
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
        (["--rate", "-5"], "--rate=-5.0 (from flag) is not accepted; it must be greater than 0"),
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


def test_sigterm_stops_with_exit_0_and_prints_the_summary(fresh_db: FreshDb) -> None:
    settings = fresh_db.settings(**{k.lower(): int(v) for k, v in SMALL.items()})
    init_database(settings)
    seed_database(settings, seed=4)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", "stream", "--rate", "50", "--seed", "8"],
        env=fresh_db.env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    # Wait for the first progress line: the stream is running.
    for line in proc.stderr:
        if "progress:" in line:
            break
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert time.monotonic() - sent < 10  # generous: CI machines are slow
    assert "stream summary (seed 8" in out and "stopped by SIGTERM" in out
    assert "events committed:" in out and "latency p50" in out


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
