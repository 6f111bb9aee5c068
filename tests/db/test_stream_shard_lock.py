"""Two streams on one shard of one database: the second is refused in one line."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.db.support import ROOT, SMALL, FreshDb, run_cli

pytestmark = pytest.mark.db


def _lock_held(db: FreshDb) -> bool:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = 1213420372"
        ).fetchone()
    return bool(row and row[0])


def test_a_second_stream_on_the_same_shard_is_refused(fresh_db: FreshDb) -> None:
    env = fresh_db.env(SMALL)
    assert run_cli("init", env=env).returncode == 0
    assert run_cli("seed", env=env).returncode == 0
    first = subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", "stream", "--rate", "5", "--duration", "60"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _lock_held(fresh_db):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.1)
        second = run_cli("stream", "--events", "5", env=env)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) <= 2 and "Traceback" not in second.stderr
        assert "another stream already writes shard 0" in lines[-1]
        # Its own shard is fine.
        other = run_cli(
            "stream", "--events", "3", "--shard-index", "1", "--shard-count", "2", env=env
        )
        assert other.returncode == 0, other.stderr
    finally:
        first.terminate()
        first.wait(timeout=60)
