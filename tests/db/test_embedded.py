"""The embedded server: zero-setup, reachable by psql and Debezium, logical decoding on."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from hospital_sim.db.embedded import EmbeddedServer
from hospital_sim.errors import EmbeddedServerError
from tests.db.support import cli_env, free_port, run_cli

pytestmark = pytest.mark.db


def run_on_a_free_port(
    base: Path, *args: str, extra: dict[str, str] | None = None, tries: int = 5
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], int]:
    """Run a command that starts the embedded server on a port found free. Another process
    may take that port before the server binds it: then the command runs again on another."""
    for attempt in range(1, tries + 1):
        port = free_port()
        env = cli_env(base, port) | (extra or {})
        out = run_cli(*args, env=env)
        if out.returncode == 0 or "in use" not in out.stderr or attempt == tries:
            return out, env, port
    raise AssertionError("unreachable")


def test_db_start_status_url_stop(embedded_dir: Path) -> None:
    started, env, port = run_on_a_free_port(embedded_dir, "db", "start")
    assert started.returncode == 0, started.stderr
    assert f"127.0.0.1:{port}" in started.stdout
    assert run_cli("db", "status", env=env).returncode == 0
    url = run_cli("db", "url", env=env).stdout.strip()
    passfile = embedded_dir.resolve() / "superuser.pgpass"
    assert url == f"postgresql://postgres@127.0.0.1:{port}/hospital?passfile={passfile}"
    with psycopg.connect(url) as conn:
        settings: dict[object, object] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('wal_level', 'listen_addresses', 'max_replication_slots')"
            ).fetchall()
        )
    assert settings["wal_level"] == "logical"
    assert settings["listen_addresses"] == "127.0.0.1"
    assert int(str(settings["max_replication_slots"])) >= 10
    assert run_cli("db", "stop", env=env).stdout.strip() == "stopped"
    assert run_cli("db", "status", env=env).returncode == 1


def test_port_in_use_is_one_clear_line(embedded_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        server = EmbeddedServer(base_dir=embedded_dir, port=port)
        with pytest.raises(EmbeddedServerError) as info:
            server.start(timeout=20)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "HOSPITAL_SIM_EMBEDDED_PORT" in str(info.value)
    # Refused before initdb: no cluster is left behind for a port that was never free.
    assert not (embedded_dir / "pgdata").exists()
    assert not server.password_file.exists()


def test_db_start_on_a_busy_port_writes_no_cluster(embedded_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        out = run_cli("db", "start", env=cli_env(embedded_dir, port))
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert f"127.0.0.1:{port}" in line and "in use" in line, line
    assert not (embedded_dir / "pgdata").exists()


def test_run_on_the_embedded_default_seeds_and_counts(embedded_dir: Path) -> None:
    volumes = {"SEED_PACIENTES": "100", "SEED_PACIENTES_CONVENIOS": "100", "SEED_INTERNACOES": "50"}
    out, env, _ = run_on_a_free_port(
        embedded_dir, "run", "--no-stream", "--seed", "3", extra=volumes
    )
    assert out.returncode == 0, out.stderr
    assert "pacientes" in out.stdout and "100" in out.stdout
    again = run_cli("run", "--no-stream", env=env)
    assert "already seeded" in again.stdout


def test_a_server_that_will_not_start_says_the_servers_own_reason(embedded_dir: Path) -> None:
    started, env, _port = run_on_a_free_port(embedded_dir, "db", "start")
    assert started.returncode == 0, started.stderr
    assert run_cli("db", "stop", env=env).returncode == 0
    # A setting the server does not know stops it at startup, as a bad manual edit would.
    auto = embedded_dir / "pgdata" / "postgresql.auto.conf"
    auto.write_text(auto.read_text() + "no_such_setting = 1\n")
    out = run_cli("db", "start", env=env)
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert f'configuration file "{auto.resolve()}" contains errors' in line, line
    assert "Examine the log output" not in line
