"""The hospital schema: SQL files applied in name order, idempotently."""

from __future__ import annotations

from importlib import resources

import psycopg
from psycopg import sql

from hospital_sim.tables import TABLES

__all__ = [
    "TABLES",
    "apply_schema",
    "drop_schema",
    "missing_tables",
    "restore_lookups",
    "table_counts",
]
LOOKUPS_FILE = "04_lookups.sql"


# Serialises concurrent `init`/`reset` runs against one database.
_LOCK_KEY = 0x4853494D  # "HSIM"


def _sql_files() -> list[str]:
    root = resources.files(__package__)
    return sorted(
        p.name for p in root.iterdir() if p.name[:2].isdigit() and p.name.endswith(".sql")
    )


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def apply_schema(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Create tables, triggers, indexes and lookup rows; running it again changes nothing."""
    applied = _sql_files()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for name in applied:
            conn.execute(_read(name).encode())
    return applied


def restore_lookups(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Insert the lookup rows again if they are gone (e.g. after TRUNCATE); idempotent."""
    conn.execute(_read(LOOKUPS_FILE).encode())


def drop_schema(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Drop everything :func:`apply_schema` created."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(_read("drop.sql").encode())


def missing_tables(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """The hospital tables that do not exist in the ``public`` schema."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
        (list(TABLES),),
    ).fetchall()
    present = {str(r[0]) for r in rows}
    return [t for t in TABLES if t not in present]


WRITER_PRIVILEGES = ("SELECT", "INSERT", "UPDATE")
"""What the stream needs on every table (it reads its pools, inserts and updates)."""


def missing_privileges(
    conn: psycopg.Connection[tuple[object, ...]],
    privileges: tuple[str, ...] = WRITER_PRIVILEGES,
) -> list[str]:
    """``"PRIVILEGE ON table"`` for each of ``privileges`` the current role lacks on a
    hospital table, plus ``"USAGE ON the id sequences of ..."`` where it cannot draw ids."""
    rows = conn.execute(
        "SELECT t, p FROM unnest(%s::text[]) t, unnest(%s::text[]) p"
        " WHERE NOT has_table_privilege('public.' || quote_ident(t), p)"
        " UNION ALL"
        " SELECT t, 'USAGE' FROM unnest(%s::text[]) t"
        " WHERE NOT has_sequence_privilege("
        "  pg_get_serial_sequence('public.' || quote_ident(t), 'id'), 'USAGE, UPDATE')",
        (list(TABLES), list(privileges), list(TABLES)),
    ).fetchall()
    lacking: dict[str, list[str]] = {}
    for table, privilege in rows:
        lacking.setdefault(str(privilege), []).append(str(table))
    return [
        f"{p} ON {'the id sequences of ' if p == 'USAGE' else ''}{', '.join(tables)}"
        for p, tables in lacking.items()
    ]


def table_counts(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, int]:
    """Exact row count per table, in FK order."""
    parts = [
        sql.SQL("SELECT {name}, count(*) FROM {table}").format(
            name=sql.Literal(t), table=sql.Identifier(t)
        )
        for t in TABLES
    ]
    rows = conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall()
    found = {str(r[0]): int(str(r[1])) for r in rows}
    return {t: found[t] for t in TABLES}  # UNION ALL gives no order: the planner's
