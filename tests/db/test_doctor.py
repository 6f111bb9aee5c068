"""`doctor`: what the server lacks for CDC, and what counts as being able to replicate."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import conninfo, sql

from hospital_sim.db.connect import server_info
from tests.db.support import FreshDb, run_cli

pytestmark = pytest.mark.db


def test_doctor_reports_each_check_and_the_fix(fresh_db: FreshDb) -> None:
    out = run_cli("doctor", env=fresh_db.env())
    assert "[FAIL] schema: missing:" in out.stdout and "run: hospital-sim init" in out.stdout
    assert out.returncode == 1
    assert run_cli("init", env=fresh_db.env()).returncode == 0
    out = run_cli("doctor", env=fresh_db.env())
    assert "[ok  ] schema: all 7 tables present" in out.stdout


def test_rds_replication_membership_counts_as_replication(fresh_db: FreshDb) -> None:
    # Amazon RDS has no REPLICATION attribute for users: membership of rds_replication
    # grants it. Roles are cluster-wide, so the test cleans up after itself.
    role = f"{fresh_db.name}_rds"
    with fresh_db.connect() as conn:
        made_group = (
            conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_replication'").fetchone()
            is None
        )
        if made_group:
            conn.execute("CREATE ROLE rds_replication NOLOGIN")
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOREPLICATION PASSWORD 'rds-user'").format(
                sql.Identifier(role)
            )
        )
        try:
            dsn = conninfo.make_conninfo(fresh_db.dsn, user=role, password="rds-user")
            with psycopg.connect(dsn) as as_user:
                assert not server_info(as_user).can_replicate
            conn.execute(sql.SQL("GRANT rds_replication TO {}").format(sql.Identifier(role)))
            with psycopg.connect(dsn) as as_user:
                assert server_info(as_user).can_replicate
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
            if made_group:
                conn.execute("DROP ROLE rds_replication")
