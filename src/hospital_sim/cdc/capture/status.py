"""CDC health: replication slots and their lag, publication coverage, replica identity.

:func:`slot_lag` is cheap (one catalog query) so the stream's Prometheus endpoint can call
it on every scrape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hospital_sim.config import Settings
from hospital_sim.db.connect import Conn, connection
from hospital_sim.db.schema import TABLES
from hospital_sim.db.server import prepare_target

__all__ = [
    "CdcStatus",
    "SlotLag",
    "cdc_status",
    "publication_tables",
    "replica_identity",
    "slot_lag",
]


IDENTITY_NAMES = {"d": "default", "f": "full", "n": "nothing", "i": "index"}


@dataclass(frozen=True)
class SlotLag:
    """One replication slot and how much WAL it holds back."""

    slot_name: str
    slot_type: str
    plugin: str | None
    database: str | None
    active: bool
    active_pid: int | None
    restart_lsn: str | None
    confirmed_flush_lsn: str | None
    retained_wal_bytes: int | None
    """WAL the server keeps for this slot: current WAL position minus ``restart_lsn``."""
    confirmed_flush_lag_bytes: int | None
    """WAL not yet confirmed by the consumer: current WAL position minus ``confirmed_flush``."""


# pg_current_wal_lsn() fails on a standby; pg_last_wal_replay_lsn() is its counterpart there.
_SLOTS_SQL = """
WITH here AS (
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                ELSE pg_current_wal_lsn() END AS lsn
)
SELECT s.slot_name::text, s.slot_type, s.plugin::text, s.database::text, s.active,
       s.active_pid, s.restart_lsn::text, s.confirmed_flush_lsn::text,
       pg_wal_lsn_diff(here.lsn, s.restart_lsn)::bigint,
       pg_wal_lsn_diff(here.lsn, s.confirmed_flush_lsn)::bigint
  FROM pg_replication_slots s, here
 WHERE %s::text IS NULL OR s.database = %s::text
 ORDER BY s.slot_name
"""


def slot_lag(conn: Conn, *, database: str | None = None) -> list[SlotLag]:
    """Every replication slot of the cluster (or of ``database``) with its WAL lag in bytes."""
    rows = conn.execute(_SLOTS_SQL, (database, database)).fetchall()
    return [
        SlotLag(
            slot_name=str(r[0]),
            slot_type=str(r[1]),
            plugin=None if r[2] is None else str(r[2]),
            database=None if r[3] is None else str(r[3]),
            active=bool(r[4]),
            active_pid=None if r[5] is None else int(str(r[5])),
            restart_lsn=None if r[6] is None else str(r[6]),
            confirmed_flush_lsn=None if r[7] is None else str(r[7]),
            retained_wal_bytes=None if r[8] is None else int(str(r[8])),
            confirmed_flush_lag_bytes=None if r[9] is None else int(str(r[9])),
        )
        for r in rows
    ]


def publication_tables(conn: Conn, publication: str) -> list[str] | None:
    """The hospital tables ``publication`` covers, or None when it does not exist."""
    exists = conn.execute(
        "SELECT puballtables FROM pg_publication WHERE pubname = %s", (publication,)
    ).fetchone()
    if exists is None:
        return None
    rows = conn.execute(
        "SELECT tablename::text FROM pg_publication_tables"
        " WHERE pubname = %s AND schemaname = 'public'",
        (publication,),
    ).fetchall()
    covered = {str(r[0]) for r in rows}
    return [t for t in TABLES if t in covered]


def replica_identity(conn: Conn) -> dict[str, str]:
    """REPLICA IDENTITY of each hospital table that exists: default, full, nothing or index."""
    rows = conn.execute(
        "SELECT c.relname::text, c.relreplident::text FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relname = ANY(%s)",
        (list(TABLES),),
    ).fetchall()
    found = {str(r[0]): IDENTITY_NAMES.get(str(r[1]), str(r[1])) for r in rows}
    return {t: found[t] for t in TABLES if t in found}


@dataclass(frozen=True)
class CdcStatus:
    """What ``hospital-sim cdc status`` reports."""

    database: str
    publication: str
    publication_tables: list[str] | None
    replica_identity: dict[str, str]
    slots: list[SlotLag]

    @property
    def uncovered(self) -> list[str]:
        """Hospital tables the publication misses (all of them when it does not exist)."""
        covered = set(self.publication_tables or ())
        return [t for t in TABLES if t not in covered]

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "publication": {
                "name": self.publication,
                "exists": self.publication_tables is not None,
                "tables": self.publication_tables or [],
                "missing_tables": self.uncovered,
            },
            "replica_identity": self.replica_identity,
            "slots": [asdict(s) for s in self.slots],
        }

    def lines(self) -> list[str]:
        out = [f"database: {self.database}"]
        if self.publication_tables is None:
            out.append(f"publication {self.publication}: missing (run: hospital-sim cdc setup)")
        elif self.uncovered:
            out.append(
                f"publication {self.publication}: misses {', '.join(self.uncovered)} "
                "(run: hospital-sim cdc setup)"
            )
        else:
            out.append(f"publication {self.publication}: covers all {len(TABLES)} tables")
        ident = ", ".join(f"{t}={v}" for t, v in self.replica_identity.items())
        out.append(f"replica identity: {ident}")
        if not self.slots:
            out.append("slots: none in this database")
        for s in self.slots:
            state = f"active (pid {s.active_pid})" if s.active else "inactive"
            out.append(
                f"slot {s.slot_name} ({s.plugin or s.slot_type}, {state}): "
                f"retains {_bytes(s.retained_wal_bytes)} of WAL, "
                f"confirmed_flush lag {_bytes(s.confirmed_flush_lag_bytes)}"
            )
        return out


def _bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def cdc_status(settings: Settings) -> CdcStatus:
    """Slots of the target database, publication coverage and replica identity."""
    target = prepare_target(settings)
    with connection(target, deadline=settings.connect_timeout) as conn:
        return CdcStatus(
            database=target.dbname,
            publication=settings.cdc_publication,
            publication_tables=publication_tables(conn, settings.cdc_publication),
            replica_identity=replica_identity(conn),
            slots=slot_lag(conn, database=target.dbname),
        )


PUBLICATION_MARK = "hospital-sim: created by the Debezium connector for slot"
"""The comment a Debezium capture puts on the publication its connector created."""


def publication_exists(conn: Conn, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
    return row is not None


def connector_publications(conn: Conn, slot_prefix: str) -> list[str]:
    """Publications Debezium captures created: marked by them, or named ``<slot>_pub``
    after one of our slots (the connector's default, also when the mark could not be set)."""
    pattern = slot_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        "SELECT pubname FROM pg_publication WHERE"
        " obj_description(oid, 'pg_publication') LIKE %s OR pubname LIKE %s ORDER BY pubname",
        (PUBLICATION_MARK.replace("_", "\\_") + " %", pattern + "%\\_pub"),
    ).fetchall()
    return [str(r[0]) for r in rows]
