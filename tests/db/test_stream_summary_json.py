"""`stream --summary-json PATH`, also on SIGTERM; `--log-format json` summaries and times."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.db.support import ROOT, SMALL, FreshDb, run_cli

pytestmark = pytest.mark.db


def test_summary_json_is_written_when_the_stream_ends(fresh_db: FreshDb, tmp_path: Path) -> None:
    env = fresh_db.env(SMALL)
    assert run_cli("init", env=env).returncode == 0
    path = tmp_path / "summary.json"
    out = run_cli(
        "stream", "--events", "7", "--interval", "0", "--jitter-ms", "0",
        "--summary-json", str(path), env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads(path.read_text())
    assert summary["events_committed"] == 7
    assert summary["stopped_by"] == "end"
    assert summary["failure"] is None


def test_summary_json_is_written_on_sigterm(fresh_db: FreshDb, tmp_path: Path) -> None:
    env = fresh_db.env(SMALL)
    assert run_cli("init", env=env).returncode == 0
    path = tmp_path / "summary.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", "stream", "--rate", "20",
         "--summary-json", str(path)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # wait until some events are committed
            with fresh_db.connect() as conn:
                row = conn.execute("SELECT count(*) FROM pacientes").fetchone()
            if row and int(str(row[0])) > 0:
                break
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    summary = json.loads(path.read_text())
    assert summary["stopped_by"] == "SIGTERM"
    assert summary["events_committed"] > 0


def test_unwritable_summary_path_fails_before_streaming(fresh_db: FreshDb) -> None:
    env = fresh_db.env(SMALL)
    assert run_cli("init", env=env).returncode == 0
    out = run_cli("stream", "--events", "3", "--summary-json", "/nonexistent/s.json", env=env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: --summary-json /nonexistent/s.json: cannot write there "
        "(No such file or directory); give a file path in a writable folder"
    ]
    with fresh_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pacientes").fetchone() == (0,)


def test_json_log_format_gives_a_json_summary_and_millisecond_times(fresh_db: FreshDb) -> None:
    env = fresh_db.env(SMALL)
    assert run_cli("init", env=env).returncode == 0
    out = run_cli(
        "--log-format", "json", "stream", "--events", "3", "--interval", "0", "--jitter-ms", "0",
        env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])["summary"]
    assert summary["events_committed"] == 3
    first = json.loads(out.stderr.strip().splitlines()[0])
    assert first["ts"].endswith("+00:00") and "." in first["ts"]  # UTC, milliseconds
