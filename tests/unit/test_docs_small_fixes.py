"""Small things a reader notices: GUIDE wording, references, generated defaults, Makefile order."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "GUIDE.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "old", ["laço aberto", "laço fechado", "gira a cada", "povoa", "são repetidos"]
)
def test_guide_uses_the_agreed_pt_br_terms(old: str) -> None:
    assert old not in GUIDE


def test_guide_names_the_dockerfile_base_image() -> None:
    image = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert image is not None
    assert f"imagem `{image.group(1)}`" in GUIDE


def test_guide_section_references_point_at_the_right_titles() -> None:
    titles = dict(re.findall(r"^### (\d+\.\d+) (.+)$", GUIDE, re.M))
    for number in re.findall(
        r"cdc status` mostra o\s+mesmo na linha de comando, seção (\d+\.\d+)", GUIDE
    ):
        assert "slot" in titles[number].lower()


def test_cli_reference_does_not_claim_no_snapshot_is_the_default() -> None:
    row = next(
        line for line in (ROOT / "docs/cli.md").read_text().splitlines() if "`--snapshot`" in line
    )
    assert "--no-snapshot |  |" not in row.replace("`--no-snapshot` |", "")
    assert row.split("|")[3].strip() == ""


def test_committed_events_panel_counts_events_not_link_rows() -> None:
    board = json.loads((ROOT / "deploy/grafana/hospital-sim.json").read_text())
    panel = next(p for p in board["panels"] if p.get("title") == "Committed events/s")
    assert all('table!="pacientes_convenios"' in t["expr"] for t in panel["targets"])


def test_distclean_stops_the_server_before_removing_logs() -> None:
    plan = subprocess.run(
        ["make", "-n", "distclean"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    stop = plan.index("db stop")
    clean = plan.index("make clean") if "make clean" in plan else plan.index("logs")
    assert stop < clean


def test_convenios_help_says_at_least_two() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hospital_sim", "seed", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    ).stdout
    assert ">= 2" in out
