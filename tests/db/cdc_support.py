"""Helpers for the CDC database tests: unique slot/publication/role names, and cleanup.

Slots and roles belong to the whole cluster, so every test gets its own names and drops
what it created: a leftover slot blocks DROP DATABASE and holds WAL forever.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from hospital_sim.cdc.schema_types import TABLE_SCHEMAS
from hospital_sim.config import Settings
from tests.db.support import FreshDb

SMALL = {
    "seed_pacientes": 120,
    "seed_medicos": 15,
    "seed_convenios": 6,
    "seed_consultas": 200,
    "seed_exames": 150,
    "seed_internacoes": 60,
    "seed_pacientes_convenios": 150,
}


@dataclass
class CdcDb:
    """A fresh database plus CDC names no other test uses."""

    db: FreshDb
    slot: str
    publication: str
    role: str

    def settings(self, **values: object) -> Settings:
        base: dict[str, object] = {
            "cdc_slot": self.slot,
            "cdc_publication": self.publication,
            "cdc_role": self.role,
            **SMALL,
        }
        base.update(values)
        return self.db.settings(**base)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "CDC_SLOT": self.slot,
            "CDC_PUBLICATION": self.publication,
            "CDC_ROLE": self.role,
            **{k.upper(): str(v) for k, v in SMALL.items()},
        }
        env.update(extra or {})
        return self.db.env(env)

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return self.db.connect()

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        with psycopg.connect(self.db.dsn, row_factory=dict_row) as conn:
            return {
                t: conn.execute(
                    sql.SQL("SELECT * FROM {} ORDER BY id").format(sql.Identifier(t))
                ).fetchall()
                for t in TABLE_SCHEMAS
            }


def new_cdc_db(db: FreshDb) -> CdcDb:
    tag = uuid.uuid4().hex[:8]
    return CdcDb(db, slot=f"t_slot_{tag}", publication=f"t_pub_{tag}", role=f"t_cdc_{tag}")


def cleanup(server_dsn: str, cdc: CdcDb, *, extra_databases: tuple[str, ...] = ()) -> None:
    """Drop the test's slots (in its databases) and its role."""
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        for name in (cdc.db.name, *extra_databases):
            for (slot,) in conn.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (name,)
            ).fetchall():
                conn.execute(
                    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                    " WHERE slot_name = %s AND active_pid IS NOT NULL",
                    (slot,),
                )
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (cdc.role,)).fetchone()
    if exists:
        with psycopg.connect(cdc.db.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(cdc.role)))
        for name in extra_databases:
            try:
                with psycopg.connect(
                    psycopg.conninfo.make_conninfo(server_dsn, dbname=name), autocommit=True
                ) as conn:
                    conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(cdc.role)))
            except psycopg.OperationalError:
                pass
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(cdc.role)))


class Background:
    """Run a callable in a thread; ``join`` returns its result or raises its error."""

    def __init__(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = fn(*args, **kwargs)
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 120) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background task did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def current_lsn(cdc: CdcDb) -> str:
    with cdc.connect() as conn:
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])
