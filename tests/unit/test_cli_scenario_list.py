"""`scenario list`: every scenario says what it does, what it proves and what settings matter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hospital_sim.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "HOSPITAL_SIM_"))}
    return subprocess.run(
        [sys.executable, "-m", "hospital_sim", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_scenario_list_describes_each_scenario() -> None:
    proc = _cli("scenario", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = {s["name"]: s for s in json.loads(proc.stdout)}
    assert list(listed) == [
        "lgpd-erasure", "cancelled-orders", "clinical-notes", "patient-merge",
        "schema-migration", "nightly-cleanup", "month-end-billing", "long-report",
        "edge-values",
    ]  # fmt: skip
    for s in listed.values():
        assert all(len(s[k]) > 30 for k in ("event", "data", "cdc", "settings")), s["name"]
    assert "skipped.operations=none" in listed["nightly-cleanup"]["settings"]
    assert "__debezium_unavailable_value" in listed["clinical-notes"]["cdc"]
    assert "backend_xmin" in listed["long-report"]["cdc"]
    # How a stream runs each one: the heavy ones one at a time, the report beside it.
    for name in ("month-end-billing", "nightly-cleanup", "schema-migration"):
        assert listed[name]["in_stream"].startswith("serialized: one at a time"), name
    assert "connection of its own" in listed["long-report"]["in_stream"]
    assert listed["lgpd-erasure"]["in_stream"].startswith("on the drawing worker's second")
    text = _cli("scenario", "list").stdout
    assert all(f"\n{name}\n" in f"\n{text}" for name in SCENARIOS)


def test_every_scenario_is_documented_in_the_guide_and_readme() -> None:
    guide = (ROOT / "GUIDE.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in SCENARIOS:
        assert f"`{name}`" in guide, name
        assert f"`{name}`" in readme, name
