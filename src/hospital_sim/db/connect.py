"""Connections: target resolution, retry with backoff, DSN redaction, server checks."""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from hospital_sim.config import Settings
from hospital_sim.db.embedded import SUPERUSER
from hospital_sim.db.locate import server_for
from hospital_sim.errors import ConnectionFailed, ServerMisconfigured

log = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[object, ...]]
"""A connection as this project opens it: rows come back as tuples."""


@dataclass(frozen=True)
class Target:
    """Where to connect. ``conninfo`` may hold a password: never print it, use ``display``."""

    conninfo: str
    embedded: bool
    source: str = "PG_HOST/PG_PORT"  # the settings to check when it cannot be reached

    def __repr__(self) -> str:
        # Shown by debuggers, tracebacks with locals and log calls: never the password.
        return f"Target({self.display!r}, embedded={self.embedded}, source={self.source!r})"

    @property
    def display(self) -> str:
        return redact(self.conninfo)

    @property
    def host_port(self) -> str:
        params = pg_conninfo.conninfo_to_dict(self.conninfo)
        return f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"

    @property
    def dbname(self) -> str:
        return str(pg_conninfo.conninfo_to_dict(self.conninfo).get("dbname", ""))

    def with_dbname(self, dbname: str) -> Target:
        info = pg_conninfo.make_conninfo(self.conninfo, dbname=dbname)
        return Target(info, self.embedded, self.source)


def redact(conninfo: str) -> str:
    """The conninfo as ``key=value`` pairs without the password."""
    try:
        params = pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparseable connection string>"
    params.pop("password", None)
    return pg_conninfo.make_conninfo("", **params)


# Connection options whose values libpq checks before it connects: a wrong one can never
# succeed, so it is named at once rather than retried until the deadline.
_CHOICES: dict[str, tuple[str, ...]] = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": (
        "any", "read-write", "read-only", "primary", "standby", "prefer-standby",
    ),
    "load_balance_hosts": ("disable", "random"),
    "sslnegotiation": ("postgres", "direct"),
}  # fmt: skip
_NUMERIC = ("port", "connect_timeout", "keepalives", "keepalives_idle")


def check_options(params: dict[str, object], source: str) -> None:
    """Refuse option values that libpq would reject, naming the option and what it accepts."""
    for key, accepted in _CHOICES.items():
        value = params.get(key)
        if value is not None and str(value) not in accepted:
            raise ConnectionFailed(
                f"{source}: {key}={value} is not accepted; accepted: {', '.join(accepted)}"
            )
    for key in _NUMERIC:
        value = params.get(key)
        if value is None:
            continue
        for part in str(value).split(","):
            if part and not (part.isdigit() and (key != "port" or 1 <= int(part) <= 65535)):
                shown = "a port 1..65535" if key == "port" else "a whole number"
                raise ConnectionFailed(
                    f"{source}: {key}={value} is not accepted; it must be {shown}"
                )


def resolve_target(settings: Settings) -> Target:
    """The server the settings point at: DATABASE_URL, else PG_HOST, else the embedded one."""
    if settings.database_url is not None:
        raw = settings.database_url.get_secret_value()
        try:
            info = pg_conninfo.make_conninfo(raw)
        except psycopg.ProgrammingError:
            raise ConnectionFailed(
                "DATABASE_URL is not a valid PostgreSQL URL or conninfo; "
                "expected e.g. postgresql://user:password@host:5432/dbname"
            ) from None
        check_options(dict(pg_conninfo.conninfo_to_dict(info)), "DATABASE_URL")
        return Target(info, embedded=False, source="DATABASE_URL")
    if not settings.pg_host:
        embedded: dict[str, str | int] = {
            "host": "127.0.0.1",
            "port": settings.embedded_port,
            "user": SUPERUSER,
            "dbname": settings.pg_database,
        }
        if (secret := server_for(settings).password()) is not None:
            embedded["password"] = secret
        info = pg_conninfo.make_conninfo("", **embedded)
        return Target(info, embedded=True, source="the embedded server")
    password = settings.pg_password.get_secret_value() if settings.pg_password else None
    params: dict[str, str | int | None] = {
        "host": settings.pg_host,
        "port": settings.pg_port,
        "user": settings.pg_user,
        "dbname": settings.pg_database,
    }
    if password:
        params["password"] = password
    return Target(pg_conninfo.make_conninfo("", **params), embedded=False)


def _cause(exc: psycopg.OperationalError) -> str:
    # libpq's first line ends with what happened: '... port 5432 failed: Connection refused'
    # or, when the server answered, 'FATAL:  password authentication failed for user "x"'.
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    cause = lines[0].rsplit("failed: ", 1)[-1].strip()
    return " ".join(cause.removeprefix("FATAL:").split())


def _listening(target: Target) -> bool:
    """Whether something accepts TCP connections at the target's host:port."""
    params = pg_conninfo.conninfo_to_dict(target.conninfo)
    host = str(params.get("host") or "localhost")
    if host.startswith("/"):
        return False
    try:
        with socket.create_connection(
            (host.split(",")[0], int(str(params.get("port") or 5432))), timeout=2
        ):
            return True
    except OSError:
        return False


def _database_missing(target: Target) -> bool:
    """Ask the server (through its maintenance database) whether our database exists.

    libpq gives no SQLSTATE for errors during connection, so we ask rather than parse text.
    """
    for maintenance in ("postgres", "template1"):
        if maintenance == target.dbname:
            continue
        try:
            with psycopg.connect(
                target.with_dbname(maintenance).conninfo, connect_timeout=5, autocommit=True
            ) as conn:
                row = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)
                ).fetchone()
                return row is None
        except psycopg.Error:
            continue
    return False


def _fail(target: Target, exc: psycopg.OperationalError, *, rejected: bool) -> ConnectionFailed:
    where = target.host_port
    if rejected and _database_missing(target):
        return ConnectionFailed(
            f"cannot connect to {where}: database '{target.dbname}' does not exist; "
            + (
                "'hospital-sim init' creates it, or set PG_DATABASE to an existing one"
                if target.embedded
                else f"create it (createdb) or name an existing one in {target.source}"
                if target.source.startswith("--")
                else "create it (createdb) or set PG_DATABASE to an existing one"
            )
        )
    if rejected:
        login = (
            f"the user and password in {target.source}"
            if target.source.startswith("--")
            else "PG_USER/PG_PASSWORD (or DATABASE_URL)"
        )
        return ConnectionFailed(
            f"cannot connect to {where}: the server refused the login: {_cause(exc)}; "
            f"check {login} and the server's pg_hba.conf"
        )
    fix = (
        "start it with 'hospital-sim db start'"
        if target.embedded
        else f"check {target.source} and that the server is running"
    )
    return ConnectionFailed(f"cannot connect to {where}: {_cause(exc)}; {fix}")


# A server that answers but refuses us may be starting up: give it this long.
_REJECTED_GRACE = 3.0


def connect(
    target: Target,
    *,
    deadline: float = 30.0,
    autocommit: bool = True,
    application_name: str = "hospital-sim",
) -> psycopg.Connection[tuple[object, ...]]:
    """Connect, retrying failures with jittered exponential backoff until ``deadline`` s.

    An unreachable server is waited for up to ``deadline``; a server that answers but
    rejects the login (bad password, missing database) only for a short grace period.
    """
    start = time.monotonic()
    delay = 0.1
    while True:
        try:
            return psycopg.connect(
                target.conninfo,
                autocommit=autocommit,
                connect_timeout=max(2, int(deadline)),
                application_name=application_name,
            )
        except psycopg.OperationalError as exc:
            elapsed = time.monotonic() - start
            rejected = _listening(target)
            limit = min(deadline, _REJECTED_GRACE) if rejected else deadline
            if elapsed >= limit:
                raise _fail(target, exc, rejected=rejected) from None
            log.debug("connection to %s failed (%s), retrying", target.host_port, _cause(exc))
            time.sleep(min(limit - elapsed, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, 5.0)


@contextmanager
def connection(
    target: Target, *, deadline: float = 30.0, autocommit: bool = True
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """:func:`connect` as a context manager that closes the connection."""
    conn = connect(target, deadline=deadline, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def ensure_database(target: Target, *, deadline: float = 30.0) -> None:
    """Create the target database if missing (used for the embedded server only)."""
    admin = target.with_dbname("postgres")
    with connection(admin, deadline=deadline) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.dbname)))
            log.info("created database %s", target.dbname)


@dataclass(frozen=True)
class ServerInfo:
    """What ``doctor`` and the CDC tools need to know about a server."""

    version_num: int
    version: str
    wal_level: str
    max_replication_slots: int
    max_wal_senders: int
    is_superuser: bool
    can_replicate: bool

    @property
    def major(self) -> int:
        return self.version_num // 10000


def server_info(conn: psycopg.Connection[tuple[object, ...]]) -> ServerInfo:
    """Read the version and the replication-related settings."""
    row = conn.execute(
        "SELECT current_setting('server_version_num')::int, current_setting('server_version'),"
        " current_setting('wal_level'), current_setting('max_replication_slots')::int,"
        " current_setting('max_wal_senders')::int, r.rolsuper,"
        # Amazon RDS grants replication through membership of its rds_replication role.
        " r.rolreplication OR EXISTS (SELECT 1 FROM pg_roles g"
        "   WHERE g.rolname = 'rds_replication' AND pg_has_role(r.oid, g.oid, 'member'))"
        " FROM pg_roles r WHERE r.rolname = current_user"
    ).fetchone()
    assert row is not None
    return ServerInfo(
        version_num=int(str(row[0])),
        version=str(row[1]),
        wal_level=str(row[2]),
        max_replication_slots=int(str(row[3])),
        max_wal_senders=int(str(row[4])),
        is_superuser=bool(row[5]),
        can_replicate=bool(row[6]),
    )


MIN_SERVER_VERSION = 130000


def check_version(info: ServerInfo) -> None:
    """Refuse servers older than PostgreSQL 13."""
    if info.version_num < MIN_SERVER_VERSION:
        raise ServerMisconfigured(
            f"PostgreSQL {info.version} is not supported; hospital-sim needs PostgreSQL 13 or newer"
        )
