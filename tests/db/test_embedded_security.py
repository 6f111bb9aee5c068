"""The embedded server is locked down: password logins, private files, no surprises."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hospital_sim.db.embedded import EmbeddedServer
from tests.db.support import ROOT, cli_env, free_port, run_cli

pytestmark = pytest.mark.db


def _dir(tag: str) -> Path:
    # Under the project folder: as root, the server's system user must reach it.
    return ROOT / ".hospital-sim-test" / f"{tag}{os.getpid()}-{free_port()}"


@pytest.fixture(scope="module")
def started() -> Iterator[tuple[EmbeddedServer, dict[str, str]]]:
    base, port = _dir("sec"), free_port()
    env = cli_env(base, port)
    out = run_cli("init", env=env)
    assert out.returncode == 0, out.stderr
    yield EmbeddedServer(base_dir=base, port=port), env
    EmbeddedServer(base_dir=base, port=port).destroy()


def _login(port: int, user: str = "postgres", password: str | None = None, **kw: Any) -> None:
    extra: dict[str, Any] = {"password": password} if password is not None else {}
    with psycopg.connect(
        host="127.0.0.1", port=port, user=user, dbname="hospital", connect_timeout=5, **extra, **kw
    ) as conn:
        conn.execute("SELECT 1")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_wrong_password_and_no_password_are_refused(
    started: tuple[EmbeddedServer, dict[str, str]],
) -> None:
    server, env = started
    password = server.password()
    assert password
    _login(server.port, password=password)  # the generated password works
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _login(server.port, password="wrong")
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        _login(server.port, passfile=os.devnull)
    # Replication connections too.
    with pytest.raises(psycopg.OperationalError, match="password"):
        _login(server.port, password="wrong", replication="database")
    # Every command finds the password by itself.
    out = run_cli("test-connection", env=env)
    assert out.returncode == 0, out.stderr
    assert password not in out.stdout + out.stderr


def test_the_cdc_role_password_is_checked(
    started: tuple[EmbeddedServer, dict[str, str]],
) -> None:
    server, env = started
    out = run_cli("cdc", "setup", env={**env, "CDC_PASSWORD": "cdc-secret-1"})
    assert out.returncode == 0, out.stderr
    _login(server.port, user="hospital_sim_cdc", password="cdc-secret-1")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _login(server.port, user="hospital_sim_cdc", password="guess")
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        _login(server.port, user="hospital_sim_cdc", passfile=os.devnull, replication="database")


def test_server_files_are_private(started: tuple[EmbeddedServer, dict[str, str]]) -> None:
    server, env = started
    assert _mode(server.password_file) == 0o600
    assert _mode(server.logfile) == 0o600
    assert _mode(server.pgdata / "hospital_sim.conf") == 0o600
    log_file = server.base_dir / "app.log"
    out = run_cli("init", env={**env, "HOSPITAL_SIM_LOG_FILE": str(log_file)})
    assert out.returncode == 0, out.stderr
    assert log_file.exists()
    assert _mode(log_file) & 0o007 == 0


def test_db_url_works_with_psql_without_printing_the_password(
    started: tuple[EmbeddedServer, dict[str, str]],
) -> None:
    server, env = started
    url = run_cli("db", "url", env=env).stdout.strip()
    password = server.password()
    assert password and password not in url
    psql = Path(sys.modules["hospital_sim.db.embedded"].bin_dir()) / "psql"
    out = subprocess.run(
        [str(psql), url, "-Atc", "SELECT current_user"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"]},
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "postgres"


def test_read_only_commands_do_not_create_a_database(
    started: tuple[EmbeddedServer, dict[str, str]],
) -> None:
    server, env = started
    typo = {**env, "PG_DATABASE": "hospitl"}
    for args in (("test-connection",), ("counts",), ("doctor",), ("stream", "--events", "1")):
        out = run_cli(*args, env=typo)
        assert out.returncode == 2, (args, out.stderr)
        assert "database 'hospitl' does not exist" in out.stderr
    with psycopg.connect(server.conninfo("postgres")) as conn:
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'hospitl'").fetchone()
    assert row == (0,)


def test_a_trust_folder_from_an_older_version_is_upgraded_on_start() -> None:
    base, port = _dir("old"), free_port()
    server = EmbeddedServer(base_dir=base, port=port)
    try:
        server.start()
        # Make it look like a folder an older version initialised: trust, no password.
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("ALTER ROLE postgres PASSWORD NULL")
        hba = server.pgdata / "pg_hba.conf"
        hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
        server.password_file.unlink()
        server.stop()
        out = run_cli("db", "start", env=cli_env(base, port))
        assert out.returncode == 0, out.stderr
        assert "trust" not in "".join(
            line for line in hba.read_text().splitlines() if not line.startswith("#")
        )
        assert _mode(server.password_file) == 0o600
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            _login(port, passfile=os.devnull)
        assert run_cli("test-connection", env=cli_env(base, port)).returncode == 0
    finally:
        server.destroy()


def test_a_killed_postmaster_is_detected_and_started_again() -> None:
    base, port = _dir("crash"), free_port()
    env = cli_env(base, port)
    server = EmbeddedServer(base_dir=base, port=port)
    try:
        assert run_cli("db", "start", env=env).returncode == 0
        pid = server.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while server.status().running and time.monotonic() < deadline:
            time.sleep(0.05)
        status = run_cli("db", "status", env=env)
        assert status.returncode == 1
        assert "not running" in status.stdout
        out = run_cli("db", "start", env=env)
        assert out.returncode == 0, out.stderr
        assert run_cli("db", "status", env=env).returncode == 0
        assert run_cli("test-connection", env=env).returncode == 0
    finally:
        server.destroy()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_parent_folders_keep_their_modes_and_the_error_says_how_to_fix(tmp_path: Path) -> None:
    parent = tmp_path / "private"
    parent.mkdir(mode=0o700)
    parent.chmod(0o700)
    env = cli_env(parent / "inner" / ".hospital-sim", free_port())
    out = run_cli("db", "start", env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cannot enter" in lines[0] and "chmod o+x" in lines[0]
    assert _mode(parent) == 0o700  # the user's permissions are left as they were


def test_commands_find_the_project_server_from_any_folder(tmp_path: Path) -> None:
    project = _dir("proj")
    (project / "sub" / "deeper").mkdir(parents=True)
    port = free_port()
    env = cli_env(project, port)
    del env["HOSPITAL_SIM_DIR"]  # the default, .hospital-sim, relative to where we run
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    server = EmbeddedServer(base_dir=project / ".hospital-sim", port=port)

    def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hospital_sim", *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    try:
        assert cli(project, "init").returncode == 0
        below = cli(project / "sub" / "deeper", "db", "status")
        assert below.returncode == 0, below.stdout + below.stderr
        assert str(project / ".hospital-sim") in below.stdout
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        far = cli(elsewhere, "counts")
        assert far.returncode == 0, far.stderr
        assert str(project / ".hospital-sim") in far.stderr  # says which folder it used
        assert not (elsewhere / ".hospital-sim").exists()
    finally:
        server.destroy()
        shutil.rmtree(project, ignore_errors=True)
