"""The embedded server's status reads a dead postmaster as dead, zombie included."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hospital_sim.db.embedded import EmbeddedServer


def _server_with_pidfile(tmp_path: Path, pid: int) -> EmbeddedServer:
    server = EmbeddedServer(base_dir=tmp_path, port=54999)
    server.pgdata.mkdir(parents=True)
    (server.pgdata / "postmaster.pid").write_text(f"{pid}\n{server.pgdata}\n")
    return server


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_killed_but_unreaped_postmaster_is_not_running(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        os.kill(child.pid, signal.SIGKILL)
        # Not waited for: the child stays a zombie, as a killed postmaster does until its
        # parent reaps it; kill(pid, 0) still succeeds on it.
        stat = Path(f"/proc/{child.pid}/stat")
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
        os.kill(child.pid, 0)
        status = _server_with_pidfile(tmp_path, child.pid).status()
        assert not status.running
        assert status.stale_pid == child.pid
    finally:
        child.wait()


def test_a_pid_reused_by_another_program_is_not_the_server(tmp_path: Path) -> None:
    # Our own pid is alive but is not a postgres process.
    status = _server_with_pidfile(tmp_path, os.getpid()).status()
    assert not status.running
