"""`cdc capture -o -` in a pipeline: it stops once the reader is gone; honest stop reasons."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hospital_sim.cdc.capture.setup import setup_cdc, teardown_cdc
from hospital_sim.db.lifecycle import init_database
from tests.db.cdc_support import CdcDb
from tests.db.support import ROOT, run_cli

pytestmark = pytest.mark.db


def test_capture_to_a_closed_pipe_stops(cdc: CdcDb) -> None:
    s = cdc.settings(cdc_password="pw-pipe")
    init_database(s)
    setup_cdc(s)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", "cdc", "capture", "-o", "-", "--snapshot"],
        env=cdc.env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # a snapshot row of the lookup plans
        assert first.startswith("{")
        proc.stdout.close()  # what `head -1` does once it has its line
        # Idle, with no --idle-timeout: only the closed pipe can stop it.
        code = proc.wait(timeout=60)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert "Traceback" not in err, err
    assert code == 0, err
    # Closed while idle (the usual case) or, on a slow machine, during the snapshot.
    assert "stopped by output closed" in err or "output closed during the snapshot" in err
    teardown_cdc(s)


def test_until_current_says_so(cdc: CdcDb, tmp_path: Path) -> None:
    s = cdc.settings(cdc_password="pw-until")
    init_database(s)
    setup_cdc(s)
    out = run_cli(
        "cdc", "capture", "-o", str(tmp_path / "log.jsonl"), "--until-current", env=cdc.env()
    )
    assert out.returncode == 0, out.stderr
    assert "stopped by until-current" in out.stderr
    teardown_cdc(s)
