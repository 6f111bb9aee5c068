"""Seeding again after the tables were emptied by hand, and what seed and counts report."""

from __future__ import annotations

import json

import pytest

from hospital_sim.tables import TABLES
from tests.db.support import SMALL, FreshDb, run_cli

pytestmark = pytest.mark.db


def test_seed_after_truncate_restart_identity_restores_the_lookups(fresh_db: FreshDb) -> None:
    env = fresh_db.env(SMALL)
    assert run_cli("init", env=env).returncode == 0
    assert run_cli("seed", env=env).returncode == 0
    with fresh_db.connect() as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    out = run_cli("seed", env=env)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    counts = json.loads(run_cli("counts", "--json", env=env).stdout)
    assert counts["convenios"] == 4  # the 2 lookup plans are back, plus 2 generated
    assert counts["pacientes"] == 30


def test_seed_reports_convenios_as_counts_does_and_counts_keep_fk_order(
    fresh_db: FreshDb,
) -> None:
    env = fresh_db.env(SMALL)
    assert run_cli("init", env=env).returncode == 0
    out = run_cli("seed", env=env)
    assert out.returncode == 0, out.stderr
    assert "convenios: 4 rows" in out.stderr
    listed = run_cli("counts", env=env).stdout.split()
    names = [w for w in listed if w in TABLES]
    assert names == list(TABLES)
    assert list(json.loads(run_cli("counts", "--json", env=env).stdout)) == list(TABLES)


def test_reset_takes_volume_flags(fresh_db: FreshDb) -> None:
    env = fresh_db.env(SMALL)
    assert run_cli("init", env=env).returncode == 0
    assert run_cli("seed", env=env).returncode == 0
    out = run_cli("reset", "--yes", "--pacientes", "45", "--convenios", "5", env=env)
    assert out.returncode == 0, out.stderr
    counts = json.loads(run_cli("counts", "--json", env=env).stdout)
    assert (counts["pacientes"], counts["convenios"]) == (45, 5)
