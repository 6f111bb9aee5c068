"""Health checks of the target server: what ``doctor`` and ``test-connection`` report."""

from __future__ import annotations

from dataclasses import dataclass

from hospital_sim.config import Settings
from hospital_sim.db.connect import MIN_SERVER_VERSION, ServerInfo, Target, connection, server_info
from hospital_sim.db.schema import missing_tables
from hospital_sim.db.server import prepare_target


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _wal_fix(target: Target) -> str:
    if target.embedded:
        return "restart the embedded server: hospital-sim db stop && hospital-sim db start"
    return (
        "run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL "
        "(on Amazon RDS set rds.logical_replication = 1 in the parameter group)"
    )


def test_connection(settings: Settings) -> tuple[Target, ServerInfo]:
    """Connect once (with the startup retry deadline) and read the server's facts."""
    target = prepare_target(settings)
    with connection(target, deadline=settings.connect_timeout) as conn:
        return target, server_info(conn)


def diagnose(settings: Settings) -> tuple[Target, list[Check]]:
    """Everything a user should know before streaming and capturing."""
    target = prepare_target(settings)
    with connection(target, deadline=settings.connect_timeout) as conn:
        info = server_info(conn)
        missing = missing_tables(conn)
    checks = [
        Check(
            "server",
            info.version_num >= MIN_SERVER_VERSION,
            f"PostgreSQL {info.version}",
            "" if info.version_num >= MIN_SERVER_VERSION else "use PostgreSQL 13 or newer",
        ),
        Check(
            "wal_level",
            info.wal_level == "logical",
            info.wal_level,
            "" if info.wal_level == "logical" else _wal_fix(target),
        ),
        Check(
            "replication slots",
            info.max_replication_slots >= 1,
            f"max_replication_slots={info.max_replication_slots}, "
            f"max_wal_senders={info.max_wal_senders}",
            "" if info.max_replication_slots >= 1 else "set max_replication_slots >= 4",
        ),
        Check(
            "role",
            info.is_superuser or info.can_replicate,
            "superuser"
            if info.is_superuser
            else ("REPLICATION" if info.can_replicate else "no REPLICATION attribute"),
            ""
            if info.is_superuser or info.can_replicate
            else "cdc tools need a role WITH REPLICATION (hospital-sim cdc setup creates one)",
        ),
        Check(
            "schema",
            not missing,
            "all 7 tables present" if not missing else f"missing: {', '.join(missing)}",
            "" if not missing else "run: hospital-sim init",
        ),
    ]
    return target, checks
