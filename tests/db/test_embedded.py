"""The embedded server: zero-setup, reachable by psql and Debezium, logical decoding on."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hospital_sim.db.embedded import EmbeddedServer
from hospital_sim.errors import EmbeddedServerError
from tests.db.support import ROOT, run_cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    # Under the project folder: as root, the server's system user must reach it.
    path = ROOT / ".hospital-sim-test" / f"e{os.getpid()}-{free_port()}"
    yield path
    EmbeddedServer(base_dir=path, port=1024).destroy()


def cli_env(base: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG_", "HOSPITAL_SIM_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "HOSPITAL_SIM_DIR": str(base),
            "HOSPITAL_SIM_EMBEDDED_PORT": str(port),
            "HOSPITAL_SIM_LOG_FILE": os.devnull,
        }
    )
    return env


def test_db_start_status_url_stop(embedded_dir: Path) -> None:
    port = free_port()
    env = cli_env(embedded_dir, port)
    started = run_cli("db", "start", env=env)
    assert started.returncode == 0, started.stderr
    assert f"127.0.0.1:{port}" in started.stdout
    assert run_cli("db", "status", env=env).returncode == 0
    url = run_cli("db", "url", env=env).stdout.strip()
    passfile = embedded_dir.resolve() / "superuser.pgpass"
    assert url == f"postgresql://postgres@127.0.0.1:{port}/hospital?passfile={passfile}"
    with psycopg.connect(url) as conn:
        settings = dict(
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


def test_run_on_the_embedded_default_seeds_and_counts(embedded_dir: Path) -> None:
    env = cli_env(embedded_dir, free_port())
    env.update(
        {
            "SEED_PACIENTES": "100",
            "SEED_PACIENTES_CONVENIOS": "100",
            "SEED_INTERNACOES": "50",
        }
    )
    out = run_cli("run", "--no-stream", "--seed", "3", env=env)
    assert out.returncode == 0, out.stderr
    assert "pacientes" in out.stdout and "100" in out.stdout
    again = run_cli("run", "--no-stream", env=env)
    assert "already seeded" in again.stdout
