"""`cdc capture --engine`: bad flags give one line and exit 2 before anything connects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Nothing listens there: a command that got as far as connecting would fail differently.
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/hospital"


def _capture(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "HOSPITAL_SIM_"))}
    env.update({"DATABASE_URL": UNREACHABLE, "HOSPITAL_SIM_LOG_FILE": os.devnull, "COLUMNS": "300"})
    return subprocess.run(
        [sys.executable, "-m", "hospital_sim", "cdc", "capture", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--engine", "kafka"], "'kafka'; accepted: builtin, debezium"),
        (["--prop", "poll.interval.ms=50"], "only with --engine debezium"),
        (["--engine", "debezium", "--prop", "no-equals-sign"], "expected key=value"),
        (
            ["--engine", "debezium", "--prop", "database.password=hunter2"],
            "passwords are not accepted on the command line",
        ),
        (["--engine", "debezium", "--until-lsn", "0/0"], "use --until-current, --duration"),
    ],
)
def test_bad_capture_flags_exit_2_with_the_fix(args: list[str], says: str) -> None:
    proc = _capture(*args)
    assert proc.returncode == 2
    assert says in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "hunter2" not in proc.stderr
