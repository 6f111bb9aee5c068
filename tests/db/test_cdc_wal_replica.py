"""CDC commands on a server with wal_level=replica: one line saying how to turn logical
decoding on, exit 2, and nothing made: no change log file, no demo database."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hospital_sim.db.embedded import EmbeddedServer
from tests.db.support import ROOT, FreshDb, create_database, free_port, run_cli, start_embedded

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def replica() -> Iterator[tuple[EmbeddedServer, FreshDb]]:
    """A server of the module's own, restarted with wal_level=replica, and an initialised db."""
    server = start_embedded(ROOT / ".hospital-sim-test" / f"replica{os.getpid()}-{free_port()}")
    try:
        with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET wal_level = replica")
        server.restart()
        with psycopg.connect(server.conninfo("postgres")) as conn:
            row = conn.execute("SHOW wal_level").fetchone()
        assert row == ("replica",)
        db = create_database(server.conninfo("postgres"))
        out = run_cli("init", env=db.env())
        assert out.returncode == 0, out.stderr
        yield server, db
    finally:
        server.destroy()


def _one_line(out: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_capture_names_wal_level_and_writes_no_change_log(
    replica: tuple[EmbeddedServer, FreshDb], tmp_path: Path
) -> None:
    _, db = replica
    log = tmp_path / "changes.jsonl"
    out = run_cli("cdc", "capture", "-o", str(log), "--until-current", env=db.env())
    line = _one_line(out)
    assert "wal_level is replica" in line and "ALTER SYSTEM SET wal_level = logical" in line
    assert not log.exists()


def test_setup_names_wal_level(replica: tuple[EmbeddedServer, FreshDb]) -> None:
    _, db = replica
    line = _one_line(run_cli("cdc", "setup", env=db.env()))
    assert "wal_level is replica" in line and "ALTER SYSTEM SET wal_level = logical" in line


def test_demo_creates_no_database_on_a_replica_server(
    replica: tuple[EmbeddedServer, FreshDb], tmp_path: Path
) -> None:
    server, db = replica
    out = run_cli("demo", "--seconds", "1", "--log", str(tmp_path / "demo.jsonl"), env=db.env())
    assert "wal_level is replica" in _one_line(out)
    with psycopg.connect(server.conninfo("postgres")) as conn:
        made = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = %s", (f"{db.name}_demo",)
        ).fetchall()
    assert made == []
    assert list(tmp_path.iterdir()) == []
