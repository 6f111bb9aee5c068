"""`cdc verify -` fed a stream that never ends a line: one line, exit 2, bounded memory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.db.support import ROOT, FreshDb, run_cli

pytestmark = pytest.mark.db


def test_endless_line_on_stdin_is_one_line_error(fresh_db: FreshDb) -> None:
    env = fresh_db.env()
    assert run_cli("init", env=env).returncode == 0
    # 'yes | tr' never ends a line; 1.5 GB of address space is far more than a bounded
    # reader needs and far less than reading until the line ends.
    script = (
        f"ulimit -v 1500000; yes x | tr -d '\\n' | '{sys.executable}' -m hospital_sim cdc verify -"
    )
    out = subprocess.run(
        ["bash", "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "change log line 1" in lines[0] and "MiB" in lines[0]
