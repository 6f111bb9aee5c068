"""Number flags that are not settings: nan, inf, negative or huge values are refused at once.

An infinite ``--duration`` overflowed the capture's timer (a traceback), an infinite
``--wait-quiescent`` or demo ``--seconds`` never ended, a nan one ended at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.offline_cli import run_offline

FLAGS = [
    (("stream", "--events", "1"), "--duration", "0 to 31536000 seconds"),
    (("cdc", "capture", "--until-current"), "--duration", "more than 0 to 31536000 seconds"),
    (
        ("cdc", "capture", "--engine", "debezium"),
        "--duration",
        "more than 0 to 31536000 seconds",
    ),
    (("cdc", "capture", "--until-current"), "--idle-timeout", "more than 0 to 31536000 seconds"),
    (("cdc", "verify", "log.jsonl"), "--wait-quiescent", "0 to 86400 seconds"),
    (("demo",), "--seconds", "0 to 86400 seconds"),
    (("demo",), "--rate", "0.1 to 1000000 events/s"),
]


@pytest.mark.parametrize("value", ["inf", "nan", "1e300"])
@pytest.mark.parametrize(
    ("command", "flag", "accepted"), FLAGS, ids=[f"{c[0][-1]} {c[1]}" for c in FLAGS]
)
def test_a_number_flag_out_of_range_is_one_line_naming_the_flag(
    command: tuple[str, ...], flag: str, accepted: str, value: str, tmp_path: Path
) -> None:
    (tmp_path / "log.jsonl").write_text("")
    proc = run_offline(*command, flag, value, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert flag in lines[0], lines[0]
    if value != "nan":  # nan may meet the flag's own minimum first
        assert f"accepted: {accepted}" in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl"]  # nothing written
