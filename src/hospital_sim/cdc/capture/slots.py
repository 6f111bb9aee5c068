"""Logical replication slots: create (optionally with a consistent baseline), inspect, drop.

A consistent start without the replication protocol
---------------------------------------------------
Over the replication protocol, ``CREATE_REPLICATION_SLOT ... USE_SNAPSHOT`` hands out a
snapshot that matches the slot's start exactly; psycopg 3 cannot speak that protocol and
the SQL function ``pg_create_logical_replication_slot`` exports no snapshot. So
:func:`create_slot_with_baseline` builds the same guarantee from locks:

1. ``BEGIN ISOLATION LEVEL REPEATABLE READ`` and ``LOCK`` the seven tables ``IN SHARE
   MODE``. LOCK takes no snapshot, and SHARE waits for every transaction that is writing
   to the tables and keeps new writers out until we commit (readers are not blocked).
2. ``SELECT pg_create_logical_replication_slot(...)``: the statement fixes the
   transaction's snapshot, then creates the slot, which waits for the transactions
   running elsewhere to end and returns its consistent point.
3. Read the seven tables in that same transaction (emitted as ``op: r`` events), commit.

The scenarios' own tables (``fila_integracao``, ``relatorios_mensais``) are locked and read
with them when the capture's publication includes them, as Debezium's snapshot includes
every published table it captures: otherwise their rows from before the slot would be in
neither the baseline nor the log.

No write to the tables can commit between the snapshot and the slot's consistent point
(the locks forbid it), so every row is either in the baseline or decoded from the slot,
never both and never neither. Checked on PostgreSQL 15 and 18: the slot may be created
in a transaction that already holds a snapshot, but not in one that has written
(the server refuses that), which is why we only lock and read here.
Writers wait while the tables are read; for a few million rows that is seconds.
If reading fails the slot is dropped again; if the process is killed mid-snapshot, the
slot is left without a complete baseline: drop it (``cdc teardown``) and start over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader
from psycopg.types.string import TextLoader

from hospital_sim.cdc.schema_types import SCENARIO_TABLE_SCHEMAS
from hospital_sim.db.connect import Conn, Target, connect, server_info
from hospital_sim.db.schema import TABLES
from hospital_sim.errors import ServerMisconfigured, UserError

__all__ = [
    "PLUGIN",
    "SlotInUse",
    "SlotInfo",
    "create_slot",
    "create_slot_with_baseline",
    "drop_slot",
    "drop_slots",
    "get_slot",
    "require_logical",
    "wal_fix",
]

log = logging.getLogger(__name__)


PLUGIN = "pgoutput"
_SNAPSHOT_ROWS_PER_FETCH = 5000


def wal_fix(conn: Conn) -> str:
    """How to turn ``wal_level=logical`` on for the server behind ``conn``."""
    rds = conn.execute(
        "SELECT 1 FROM pg_settings WHERE name = 'rds.logical_replication'"
    ).fetchone()
    if rds is not None:
        return "set rds.logical_replication = 1 in the DB parameter group and reboot the instance"
    return "run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"


def require_logical(conn: Conn, target: Target) -> None:
    """Refuse, saying how to fix it, a server whose ``wal_level`` cannot decode changes."""
    level = server_info(conn).wal_level
    if level != "logical":
        fix = (
            "run 'hospital-sim cdc setup', which restarts the embedded server with it"
            if target.embedded
            else wal_fix(conn)
        )
        raise ServerMisconfigured(
            f"wal_level is {level} on {target.host_port} but CDC needs logical; {fix}"
        )


class SlotInUse(UserError):
    """A slot is held by another consumer or belongs to another database or plugin."""


@dataclass(frozen=True)
class SlotInfo:
    name: str
    plugin: str | None
    database: str | None
    active: bool
    active_pid: int | None
    confirmed_flush_lsn: str | None


def get_slot(conn: Conn, name: str) -> SlotInfo | None:
    """The slot called ``name``, or None."""
    row = conn.execute(
        "SELECT slot_name::text, plugin::text, database::text, active, active_pid,"
        " confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    return SlotInfo(
        name=str(row[0]),
        plugin=None if row[1] is None else str(row[1]),
        database=None if row[2] is None else str(row[2]),
        active=bool(row[3]),
        active_pid=None if row[4] is None else int(str(row[4])),
        confirmed_flush_lsn=None if row[5] is None else str(row[5]),
    )


def check_usable(slot: SlotInfo, database: str) -> None:
    """Refuse a slot we cannot resume: other plugin, other database, already in use."""
    if slot.plugin != PLUGIN or slot.database != database:
        raise SlotInUse(
            f"slot {slot.name} exists with plugin {slot.plugin} in database {slot.database}; "
            f"choose another name (--slot or CDC_SLOT) or drop it with pg_drop_replication_slot"
        )
    if slot.active:
        raise SlotInUse(
            f"slot {slot.name} is in use by process {slot.active_pid}; stop that consumer "
            "or choose another slot (--slot or CDC_SLOT)"
        )


def create_slot(conn: Conn, name: str) -> str:
    """Create a pgoutput slot now; returns its consistent point (an LSN)."""
    row = conn.execute(
        "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, %s)", (name, PLUGIN)
    ).fetchone()
    assert row is not None
    log.info("created replication slot %s at %s", name, row[0])
    return str(row[0])


SnapshotSink = Callable[[str, str, dict[str, Any]], None]
"""Receives (slot consistent point, table, row) for every row of the baseline."""


def _or_text(loader: type[Any]) -> type[Any]:
    """``loader``, except that a value Python has no date for (``infinity``, a BC date)
    stays text, as the decoded changes keep it."""

    class OrText(loader):  # type: ignore[misc]
        def load(self, data: Any) -> object:
            try:
                return super().load(data)
            except psycopg.DataError:
                return bytes(data).decode()

    return OrText


_LOADERS: dict[str, type[Any]] = {
    "date": _or_text(DateLoader),
    "timestamp": _or_text(TimestampLoader),
    "timestamptz": _or_text(TimestamptzLoader),
    "numeric": TextLoader,  # the server's own text, as the decoded changes carry it
}


def _rows(conn: Conn, table: str) -> Iterator[dict[str, Any]]:
    query = sql.SQL("SELECT * FROM {} ORDER BY id").format(sql.Identifier(table))
    with conn.cursor(name=f"hsim_snapshot_{table}", row_factory=dict_row) as cur:
        for name, loader in _LOADERS.items():
            cur.adapters.register_loader(name, loader)
        cur.itersize = _SNAPSHOT_ROWS_PER_FETCH
        cur.execute(query)
        yield from cur


def _published_scenario_tables(conn: Conn, publication: str | None) -> list[str]:
    """The scenarios' tables that ``publication`` includes (sorted), none without one."""
    if publication is None:
        return []
    rows = conn.execute(
        "SELECT tablename::text FROM pg_publication_tables WHERE pubname = %s"
        " AND schemaname = 'public' AND tablename = ANY(%s) ORDER BY 1",
        (publication, list(SCENARIO_TABLE_SCHEMAS)),
    ).fetchall()
    return [str(r[0]) for r in rows]


def create_slot_with_baseline(
    target: Target, name: str, sink: SnapshotSink, *, publication: str | None = None
) -> str:
    """Create slot ``name`` and pass every row the slot will not decode to ``sink``.

    The seven tables are read, then the scenarios' tables ``publication`` includes.
    Returns the slot's consistent point. The slot is dropped again if reading fails, so
    a retry starts clean.
    """
    conn = connect(target, autocommit=False)
    created = False
    try:
        every = [*TABLES, *_published_scenario_tables(conn, publication)]
        conn.commit()  # that read's snapshot must not be the baseline's: it comes next
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        tables = sql.SQL(", ").join(sql.Identifier(t) for t in every)
        try:
            conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(tables))
        except psycopg.errors.InsufficientPrivilege:
            raise UserError(
                "a snapshot locks the 7 tables IN SHARE MODE, which needs the UPDATE privilege; "
                "capture as the tables' owner (PG_USER) or pass --no-snapshot"
            ) from None
        lsn = create_slot(conn, name)
        created = True
        for table in every:
            for row in _rows(conn, table):
                sink(lsn, table, row)
        conn.commit()
        return lsn
    except BaseException:
        with suppress(psycopg.Error):
            conn.rollback()
        if created:
            # Slots are not transactional: the rollback left it behind.
            with suppress(psycopg.Error):
                conn.autocommit = True
                drop_slot(conn, name)
        raise
    finally:
        conn.close()


def drop_slot(conn: Conn, name: str) -> bool:
    """Drop slot ``name`` if it exists and is idle. Returns whether it was dropped."""
    slot = get_slot(conn, name)
    if slot is None:
        return False
    if slot.active:
        raise SlotInUse(
            f"slot {name} is in use by process {slot.active_pid}; stop that consumer "
            "(cdc capture or the Debezium connector) first"
        )
    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
    log.info("dropped replication slot %s", name)
    return True


def drop_slots(conn: Conn, *, database: str, prefix: str) -> list[str]:
    """Drop the slots of ``database`` whose name starts with ``prefix``; return their names."""
    rows = conn.execute(
        "SELECT slot_name::text FROM pg_replication_slots"
        " WHERE database = %s AND starts_with(slot_name::text, %s) ORDER BY 1",
        (database, prefix),
    ).fetchall()
    return [str(r[0]) for r in rows if drop_slot(conn, str(r[0]))]
