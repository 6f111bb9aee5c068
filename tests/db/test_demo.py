"""`hospital-sim demo`: seed, stream, capture and verify end in an identical verdict."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.db.cdc_support import CdcDb, cleanup
from tests.db.support import run_cli

pytestmark = [pytest.mark.db, pytest.mark.slow]


def test_demo_ends_identical(cdc: CdcDb, server_dsn: str, tmp_path: Path) -> None:
    demo_db = f"{cdc.db.name}_demo"
    log = tmp_path / "demo.jsonl"
    try:
        proc = run_cli("demo", "--seconds", "2", "--rate", "200", "--log", str(log), env=cdc.env())
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = proc.stdout
        assert out.rstrip().splitlines()[-2:] == [
            "state:  IDENTICAL",
            "events: EVENTS IDENTICAL: every reference event exactly once, in order",
        ]
        assert (tmp_path / "reference.jsonl").stat().st_size > 0
        assert f"database {demo_db}" in out
        assert "generated" in out and "captured" in out
        assert log.stat().st_size > 0
        with psycopg.connect(server_dsn) as conn:
            slots = conn.execute(
                "SELECT count(*) FROM pg_replication_slots WHERE database = %s", (demo_db,)
            ).fetchone()
        assert slots == (0,)  # the demo drops its slots
    finally:
        cleanup(server_dsn, cdc, extra_databases=(demo_db,))
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(demo_db))
            )
