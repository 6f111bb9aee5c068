"""Output files given on the command line are checked before any work: a folder, a path
under a file or on a file system that takes no new files is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.offline_cli import run_offline

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
    proc = run_offline(*command, flag, path, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {flag} {path}: cannot write there ({reason})"), lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "plain"]  # nothing left
    assert list((tmp_path / "out").iterdir()) == []
