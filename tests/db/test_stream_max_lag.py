"""`stream --max-lag`: after an outage the stream skips what is too late, and says how much."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.db.support import ROOT, SMALL, FreshDb, run_cli

pytestmark = pytest.mark.db


def _stream_with_a_pause(db: FreshDb, tmp_path: Path, *extra: str) -> dict[str, object]:
    env = db.env(SMALL)
    assert run_cli("init", env=env).returncode == 0
    assert run_cli("seed", env=env).returncode == 0
    path = tmp_path / "summary.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", "stream", "--rate", "40", "--duration", "6",
         "--summary-json", str(path), *extra],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # running: some events are in
            with db.connect() as conn:
                row = conn.execute("SELECT count(*) FROM pacientes").fetchone()
            if row and int(str(row[0])) > 30:
                break
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        # The outage: the whole stream (worker processes included) stops for 2 s.
        os.killpg(proc.pid, signal.SIGSTOP)
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGCONT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return dict(json.loads(path.read_text()))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_max_lag_skips_the_backlog_and_reports_it(
    fresh_db: FreshDb, tmp_path: Path, workers: str
) -> None:
    summary = _stream_with_a_pause(fresh_db, tmp_path, "--max-lag", "0.2", "--workers", workers)
    assert int(str(summary["skipped"])) > 0


def test_without_max_lag_nothing_is_skipped(fresh_db: FreshDb, tmp_path: Path) -> None:
    summary = _stream_with_a_pause(fresh_db, tmp_path)
    assert summary["skipped"] == 0
