"""Output files given on the command line are checked before any work: a folder, a path
under a file or on a file system that takes no new files is one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/hospital"  # connecting would say so instead


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "HOSPITAL_SIM_"))}
    env.update(
        {
            "DATABASE_URL": UNREACHABLE,
            "HOSPITAL_SIM_CONNECT_TIMEOUT": "1",
            "HOSPITAL_SIM_LOG_FILE": os.devnull,
            "COLUMNS": "300",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "hospital_sim", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


COMMANDS = [
    (("stream", "--events", "1"), "--summary-json"),
    (("cdc", "capture", "--until-current"), "--output"),
    (("cdc", "capture", "--engine", "debezium", "-o", "log.jsonl"), "--offset-file"),
    (("demo", "--seconds", "1"), "--log"),
]
PLACES = {
    "folder": ("out", "it is a folder"),
    "under-a-file": ("plain/out.json", "Not a directory"),
    "virtual-fs": ("/proc/hospital-sim-out.json", "No such file or directory"),
}


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize(("command", "flag"), COMMANDS, ids=[c[1] for c in COMMANDS])
def test_an_output_that_cannot_be_written_is_one_line_before_any_work(
    command: tuple[str, ...], flag: str, place: str, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "plain").write_text("")
    path, reason = PLACES[place]
    proc = _run(*command, flag, path, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {flag} {path}: cannot write there ({reason})"), lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "plain"]  # nothing left
    assert list((tmp_path / "out").iterdir()) == []
