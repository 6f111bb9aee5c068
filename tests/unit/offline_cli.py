"""The CLI run as a user runs it, with no server behind it: a command that got as far as
connecting would say so, so a line about a flag or a file shows it was checked first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/hospital"  # nothing listens on port 1


def run_offline(
    *args: str, cwd: Path, embedded: bool = False, **env_extra: str
) -> subprocess.CompletedProcess[str]:
    """``hospital-sim ARGS`` in ``cwd`` with only the settings given here (``embedded``:
    no DATABASE_URL, so the embedded server is the target)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "HOSPITAL_SIM_"))}
    env.update(
        {
            "DATABASE_URL": UNREACHABLE,
            "HOSPITAL_SIM_CONNECT_TIMEOUT": "1",
            "HOSPITAL_SIM_LOG_FILE": os.devnull,
            "COLUMNS": "300",
            **env_extra,
        }
    )
    if embedded:
        del env["DATABASE_URL"]
    return subprocess.run(
        [sys.executable, "-m", "hospital_sim", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
