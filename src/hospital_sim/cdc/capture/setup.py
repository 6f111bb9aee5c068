"""``cdc setup`` and ``cdc teardown``: what a CDC pipeline needs on the source database.

Setup checks ``wal_level``, creates or updates the publication of the seven tables, sets
their replica identity, creates a login role with REPLICATION and SELECT on the seven
tables only, and builds the Debezium connector config. Every step is idempotent.
Passwords are sent to the server already hashed (SCRAM), so they appear in no statement
the server might log, and never in our own logs or errors.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Literal

import psycopg
from psycopg import sql

from hospital_sim.cdc.capture.connector import ConnectorState, connector_config, register_connector
from hospital_sim.cdc.capture.slots import drop_slots, wal_fix
from hospital_sim.cdc.capture.status import (
    connector_publications,
    publication_tables,
    replica_identity,
)
from hospital_sim.config import Settings
from hospital_sim.db.connect import Conn, Target, check_version, connection, server_info
from hospital_sim.db.lifecycle import require_schema
from hospital_sim.db.schema import TABLES, missing_tables
from hospital_sim.db.server import embedded_server, prepare_target
from hospital_sim.errors import ServerMisconfigured, UserError

__all__ = ["SetupResult", "TeardownResult", "ensure_logical", "setup_cdc", "teardown_cdc"]

log = logging.getLogger(__name__)

Identity = Literal["default", "full"]


class NotPermitted(UserError):
    """The connected role lacks a privilege setup or teardown needs."""


def ensure_logical(settings: Settings, target: Target) -> bool:
    """Make sure ``wal_level`` is logical; restart the embedded server if it is not.

    Returns True when the embedded server was restarted. A configured server is never
    touched: the error says how to change it.
    """
    with connection(target, deadline=settings.connect_timeout) as conn:
        info = server_info(conn)
        check_version(info)
        if info.wal_level == "logical":
            return False
        fix = wal_fix(conn)
    if not target.embedded:
        raise ServerMisconfigured(
            f"wal_level is {info.wal_level} on {target.host_port} but CDC needs logical; {fix}"
        )
    log.info("restarting the embedded server to turn wal_level=logical on")
    embedded_server(settings).restart()
    with connection(target, deadline=settings.connect_timeout) as conn:
        if server_info(conn).wal_level != "logical":
            raise ServerMisconfigured(
                "the embedded server still runs with wal_level != logical; "
                "check its postgresql.auto.conf for a wal_level override"
            )
    return True


def _table_list() -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier("public", t) for t in TABLES)


def ensure_publication(conn: Conn, name: str) -> str:
    """Create the publication or make it cover exactly the seven tables.

    Returns what was done: ``created``, ``updated`` or ``unchanged``.
    """
    row = conn.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (name,))
    found = row.fetchone()
    pub = sql.Identifier(name)
    if found is None:
        conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(pub, _table_list()))
        return "created"
    if found[0]:
        return "unchanged"  # FOR ALL TABLES already covers ours
    if publication_tables(conn, name) == list(TABLES):
        return "unchanged"
    conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(pub, _table_list()))
    return "updated"


def set_replica_identity(conn: Conn, mode: Identity, tables: list[str]) -> list[str]:
    """Set REPLICA IDENTITY on ``tables``; returns the tables that changed."""
    current = replica_identity(conn)
    changed = []
    for table in tables:
        if current.get(table) == mode:
            continue
        conn.execute(
            sql.SQL("ALTER TABLE {} REPLICA IDENTITY {}").format(
                sql.Identifier("public", table), sql.SQL(mode.upper())
            )
        )
        changed.append(table)
    return changed


def _hashed(conn: Conn, role: str, password: str) -> str:
    # libpq hashes with the server's password_encryption (SCRAM by default), so the
    # clear password never travels in, or is logged with, a SQL statement.
    return conn.pgconn.encrypt_password(password.encode(), role.encode()).decode()


def _grants_replication_by_rds_role(conn: Conn) -> bool:
    """True on Amazon RDS-style servers: rds_replication exists and we are no superuser."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_replication'),"
        " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    ).fetchone()
    return row is not None and bool(row[0]) and not bool(row[1])


def ensure_role(
    conn: Conn, role: str, *, dbname: str, password: str | None, new_password: bool
) -> tuple[bool, str | None]:
    """Create or update the CDC role. Returns (created, password to show, if any)."""
    found = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if found is not None and found[0]:
        raise UserError(
            f"CDC_ROLE={role} is a superuser; CDC needs a dedicated role without it: "
            "set CDC_ROLE to a new name (default hospital_sim_cdc)"
        )
    ident = sql.Identifier(role)
    created = found is None
    shown: str | None = None
    if password is None and (created or new_password):
        password = shown = secrets.token_urlsafe(24)
    # On Amazon RDS nobody may grant the REPLICATION attribute: replication comes with
    # membership of the rds_replication role instead.
    rds = _grants_replication_by_rds_role(conn)
    replication = sql.SQL("" if rds else " REPLICATION")
    if created:
        conn.execute(
            sql.SQL("CREATE ROLE {} WITH LOGIN{} NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
                ident, replication
            )
        )
    else:
        conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN{} NOSUPERUSER").format(ident, replication))
    if rds:
        conn.execute(sql.SQL("GRANT rds_replication TO {}").format(ident))
    if password is not None:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                ident, sql.Literal(_hashed(conn, role, password))
            )
        )
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), ident)
    )
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
    conn.execute(sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(_table_list(), ident))
    return created, shown


@dataclass(frozen=True)
class SetupResult:
    database: str
    publication: str
    publication_action: str
    replica_identity: dict[str, str]
    identity_changed: list[str]
    role: str
    role_created: bool
    generated_password: str | None = field(repr=False)
    """Shown once to the user; None when the password came from settings or was kept."""
    connector: dict[str, str] = field(repr=False)
    registered: ConnectorState | None = None
    restarted_embedded: bool = False


def _permission_error(what: str) -> NotPermitted:
    return NotPermitted(
        f"permission denied to {what}; run cdc setup as a superuser, or as a role with "
        "CREATEROLE that owns the hospital tables"
    )


def setup_cdc(
    settings: Settings,
    *,
    replica_identity_mode: Identity | None = None,
    tables: list[str] | None = None,
    register_url: str | None = None,
    new_password: bool = False,
) -> SetupResult:
    """Prepare the source database for CDC; see the module docstring."""
    chosen = list(tables or TABLES)
    unknown = [t for t in chosen if t not in TABLES]
    if unknown:
        raise UserError(
            f"--table {unknown[0]} is not a hospital table; accepted: {', '.join(TABLES)}"
        )
    target = prepare_target(settings)
    restarted = ensure_logical(settings, target)
    password = settings.cdc_password.get_secret_value() if settings.cdc_password else None
    with connection(target, deadline=settings.connect_timeout) as conn:
        require_schema(missing_tables(conn))
        try:
            with conn.transaction():
                action = ensure_publication(conn, settings.cdc_publication)
                changed = (
                    set_replica_identity(conn, replica_identity_mode, chosen)
                    if replica_identity_mode
                    else []
                )
                created, shown = ensure_role(
                    conn, settings.cdc_role, dbname=target.dbname,
                    password=password, new_password=new_password,
                )  # fmt: skip
                if register_url and password is None and shown is None:
                    # Rolled back: a connector with a placeholder password cannot work.
                    raise UserError(
                        f"--register needs the password of the existing role "
                        f"{settings.cdc_role}: set CDC_PASSWORD, or add --new-password "
                        "to generate a new one"
                    )
        except psycopg.errors.InsufficientPrivilege:
            raise _permission_error("create the publication or the CDC role") from None
        identity = replica_identity(conn)
    log.info(
        "cdc setup: publication %s %s, role %s %s",
        settings.cdc_publication, action, settings.cdc_role,
        "created" if created else "updated",
    )  # fmt: skip
    config = connector_config(settings, target, password=password or shown)
    registered = register_connector(register_url, config) if register_url else None
    if registered is not None and (registered.state == "FAILED" or "FAILED" in registered.tasks):
        why = f": {registered.trace}" if registered.trace else ""
        raise UserError(
            f"connector {registered.name} was registered but is FAILED "
            f"(connector {registered.state}, tasks {', '.join(registered.tasks) or 'none'})"
            f"{why}; fix the cause and run 'cdc setup --register' again"
        )
    return SetupResult(
        database=target.dbname,
        publication=settings.cdc_publication,
        publication_action=action,
        replica_identity=identity,
        identity_changed=changed,
        role=settings.cdc_role,
        role_created=created,
        generated_password=shown,
        connector=config,
        registered=registered,
        restarted_embedded=restarted,
    )


@dataclass(frozen=True)
class TeardownResult:
    slots: list[str]
    publication_dropped: bool
    role_dropped: bool
    connector_publications: list[str] = field(default_factory=list)
    """Publications Debezium captures created (``<slot>_pub`` or their publication.name)."""


def _other_databases(conn: Conn, role: str) -> list[str]:
    """Databases other than this one where ``role`` owns objects or holds privileges."""
    rows = conn.execute(
        "SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid"
        " WHERE s.refclassid = 'pg_authid'::regclass"
        " AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = %s)"
        " AND d.datname <> current_database() AND d.datallowconn ORDER BY 1",
        (role,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _release_elsewhere(target: Target, conn: Conn, role: str) -> list[str]:
    """Revoke ``role``'s grants in every other database (e.g. the demo's), so it can go."""
    released = []
    ident = sql.Identifier(role)
    for dbname in _other_databases(conn, role):
        with connection(target.with_dbname(dbname), deadline=10) as other:
            other.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
            other.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        released.append(dbname)
    if released:
        log.info("cdc teardown: removed %s's privileges in %s", role, ", ".join(released))
    return released


def _drop_role(conn: Conn, role: str, target: Target | None = None) -> bool:
    found = conn.execute(
        "SELECT rolname = current_user FROM pg_roles WHERE rolname = %s", (role,)
    ).fetchone()
    if found is None:
        return False
    if found[0]:
        raise UserError(
            f"CDC_ROLE={role} is the role teardown is connected as; it cannot drop itself: "
            "connect as another role (PG_USER) or set CDC_ROLE"
        )
    ident = sql.Identifier(role)
    if target is not None:
        _release_elsewhere(target, conn, role)
    with conn.transaction():
        conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        try:
            conn.execute(sql.SQL("DROP ROLE {}").format(ident))
        except psycopg.errors.DependentObjectsStillExist:
            raise UserError(
                f"role {role} still has privileges in another database; run "
                f"'DROP OWNED BY {role}' there, then cdc teardown again"
            ) from None
    return True


def teardown_cdc(settings: Settings) -> TeardownResult:
    """Drop our slots (names starting with CDC_SLOT), the publication, the publications
    the Debezium connector created for our slots, and the CDC role."""
    target = prepare_target(settings)
    with connection(target, deadline=settings.connect_timeout) as conn:
        try:
            slots = drop_slots(conn, database=target.dbname, prefix=settings.cdc_slot)
            pub = conn.execute(
                "SELECT 1 FROM pg_publication WHERE pubname = %s", (settings.cdc_publication,)
            ).fetchone()
            if pub is not None:
                conn.execute(
                    sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(settings.cdc_publication))
                )
            made = [p for p in connector_publications(conn, settings.cdc_slot)
                    if p != settings.cdc_publication]  # fmt: skip
            for name in made:
                conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(name)))
            role = _drop_role(conn, settings.cdc_role, target)
        except psycopg.errors.InsufficientPrivilege:
            raise _permission_error("drop the slots, the publication or the CDC role") from None
    log.info("cdc teardown: slots %s, publication and role removed", slots)
    return TeardownResult(
        slots=slots,
        publication_dropped=pub is not None,
        role_dropped=role,
        connector_publications=made,
    )
