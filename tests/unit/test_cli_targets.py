"""Where a command connects or keeps its server, named wrong: one line before any work.

An empty ``cdc diff --target`` was libpq's defaults (the local server's socket), a bad
``sslmode`` in it was reported as a refused login, and a HOSPITAL_SIM_DIR that is a file
was a traceback.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.unit.offline_cli import run_offline


def _line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("", "--target is empty; expected e.g. postgresql://"),
        ("  ", "--target is empty; expected e.g. postgresql://"),
        (
            "postgresql://u@127.0.0.1:1/x?sslmode=bogus",
            "--target: sslmode=bogus is not accepted; accepted: disable, allow",
        ),
    ],
)
def test_a_bad_diff_target_is_named_before_connecting(
    target: str, says: str, tmp_path: Path
) -> None:
    assert says in _line(run_offline("cdc", "diff", "--target", target, cwd=tmp_path))


@pytest.mark.parametrize("command", [("db", "stop"), ("db", "start")])
def test_an_embedded_folder_that_is_a_file_is_one_line(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    (tmp_path / "plain").write_text("")
    env = {"HOSPITAL_SIM_DIR": str(tmp_path / "plain"), "HOSPITAL_SIM_EMBEDDED_PORT": "1099"}
    proc = run_offline(*command, cwd=tmp_path, embedded=True, **env)
    line = _line(proc)
    assert f"HOSPITAL_SIM_DIR={tmp_path / 'plain'} cannot hold the embedded server" in line
    assert "(it is a file)" in line
    assert (tmp_path / "plain").read_text() == ""
