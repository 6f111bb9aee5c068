"""Bad input and unreachable servers: one clear line, exit code 2, nothing written."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from psycopg import conninfo

from tests.db.support import FreshDb, run_cli

pytestmark = pytest.mark.db


def _tables(db: FreshDb) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    return int(str(row[0])) if row else -1


def test_bad_setting_exits_2_and_writes_nothing(fresh_db: FreshDb) -> None:
    out = run_cli("run", env=fresh_db.env({"SEED_PACIENTES": "-5"}))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: SEED_PACIENTES=-5 (from environment) is not accepted; "
        "it must be greater than or equal to 0"
    ]
    assert _tables(fresh_db) == 0


def test_bad_flag_exits_2_and_writes_nothing(fresh_db: FreshDb) -> None:
    assert run_cli("init", env=fresh_db.env()).returncode == 0
    out = run_cli("seed", "--pacientes", "abc", env=fresh_db.env())
    assert out.returncode == 2
    assert "--pacientes" in out.stderr
    counts = run_cli("counts", "--json", env=fresh_db.env())
    assert '"pacientes": 0' in counts.stdout


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port bound but not listening: connections are refused, and no other process can
    start listening on it while the test runs (a port merely found free could be taken)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_refused_connection_names_host_port_after_the_deadline(
    fresh_db: FreshDb, refusing_port: int
) -> None:
    port = refusing_port
    env = fresh_db.env(
        {
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/x",
            "HOSPITAL_SIM_CONNECT_TIMEOUT": "1",
        }
    )
    out = run_cli("test-connection", env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: cannot connect to 127.0.0.1:{port}:")
    assert "refused" in lines[0].lower()


def test_missing_database_is_named(fresh_db: FreshDb) -> None:
    dsn = conninfo.make_conninfo(fresh_db.dsn, dbname="no_such_db_here")
    out = run_cli("test-connection", env=fresh_db.env({"DATABASE_URL": dsn}))
    assert out.returncode == 2
    assert "database 'no_such_db_here' does not exist" in out.stderr


def test_password_is_never_printed(fresh_db: FreshDb, refusing_port: int) -> None:
    port = refusing_port
    env = fresh_db.env(
        {
            "DATABASE_URL": f"postgresql://postgres:Sup3rS3cret@127.0.0.1:{port}/x",
            "HOSPITAL_SIM_CONNECT_TIMEOUT": "0.5",
        }
    )
    for args in (("test-connection",), ("config", "show"), ("doctor",)):
        out = run_cli(*args, env=env)
        assert "Sup3rS3cret" not in out.stdout + out.stderr


def test_test_connection_reports_the_server(fresh_db: FreshDb) -> None:
    out = run_cli("test-connection", env=fresh_db.env())
    assert out.returncode == 0, out.stderr
    assert "PostgreSQL" in out.stdout and "wal_level=" in out.stdout


def test_impossible_volumes_exit_2_before_run_creates_anything(fresh_db: FreshDb) -> None:
    env = fresh_db.env({"SEED_PACIENTES": "10", "SEED_PACIENTES_CONVENIOS": "10"})
    out = run_cli("run", "--no-stream", env=env)
    assert out.returncode == 2
    assert "internacoes=1200 is more than 10 stays per paciente" in out.stderr
    assert _tables(fresh_db) == 0
