"""Batch jobs: the nightly purge of a work queue, the month-end billing close."""

from __future__ import annotations

import random
from typing import Final

from hospital_sim.scenarios.base import Changes, Conn, Scenario, transaction

QUEUE_TABLE: Final = "fila_integracao"
BILLING_COLUMN: Final = "lote_faturamento"


def _prepare_queue(conn: Conn) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {QUEUE_TABLE} ("
        " id BIGSERIAL PRIMARY KEY,"
        " exame_id BIGINT NOT NULL,"
        " destino VARCHAR(40) NOT NULL,"
        " payload TEXT,"
        " criado_em TIMESTAMP NOT NULL DEFAULT now())"
    )


def _nightly_cleanup(conn: Conn, rng: random.Random, changes: Changes) -> None:
    # The day's results queued for the lab and the state's system.
    with transaction(conn, changes):
        cur = conn.execute(
            f"INSERT INTO {QUEUE_TABLE} (exame_id, destino, payload)"
            " SELECT id, %s, tipo_exame || ': ' || resultado FROM exames"
            " WHERE resultado IS NOT NULL ORDER BY id DESC LIMIT %s",
            (rng.choice(("LIS", "e-SUS", "RNDS")), rng.randint(50, 500)),
        )
        changes.add(QUEUE_TABLE, "insert", cur.rowcount)
    with transaction(conn, changes):  # midnight: the queue is emptied in one statement
        conn.execute(f"TRUNCATE {QUEUE_TABLE}")
        changes.add(QUEUE_TABLE, "truncate")


NIGHTLY_CLEANUP = Scenario(
    name="nightly-cleanup",
    event="The integration queue (results waiting for the lab system and RNDS) purged at midnight.",
    data=f"Creates {QUEUE_TABLE} if missing (not one of the 7 hospital tables), queues 50-500 "
    "exam results in it, then empties it with TRUNCATE.",
    cdc="A TRUNCATE: no per-row 'd' events, one 't' event at most. Debezium skips it unless "
    "told otherwise, so a downstream copy keeps every queued row forever.",
    settings=f"Debezium: skipped.operations=none (default 't' skips truncates) and "
    f"public.{QUEUE_TABLE} in table.include.list and in the publication.",
    apply=_nightly_cleanup,
    prepare=_prepare_queue,
    extra_tables=(QUEUE_TABLE,),
    serial=True,
)


def _prepare_billing(conn: Conn) -> None:
    conn.execute(f"ALTER TABLE consultas ADD COLUMN IF NOT EXISTS {BILLING_COLUMN} VARCHAR(20)")


def _month_end_billing(conn: Conn, rng: random.Random, changes: Changes) -> None:
    batch = rng.randint(1, 999)
    with transaction(conn, changes):
        cur = conn.execute(
            f"UPDATE consultas SET {BILLING_COLUMN} ="
            " 'FAT-' || to_char(localtimestamp, 'YYYY-MM') || '-' || lpad(%s::text, 3, '0')"
            " WHERE status = 'realizada' AND data < date_trunc('month', localtimestamp)",
            (batch,),
        )
        changes.add("consultas", "update", cur.rowcount)


MONTH_END_BILLING = Scenario(
    name="month-end-billing",
    event="The month's billing closed: every appointment held before this month is stamped "
    "with the billing batch sent to the health plans.",
    data=f"Adds consultas.{BILLING_COLUMN} (VARCHAR) if missing, then updates every 'realizada' "
    "appointment dated before this month in ONE transaction (about 70% of consultas).",
    cdc="One very large transaction: thousands to millions of 'u' events with one txId, "
    "which a consumer must not hold in memory at once, and slot lag while it decodes.",
    settings="Debezium: max.batch.size, max.queue.size (back-pressure); PostgreSQL: "
    "logical_decoding_work_mem (spills to disk), streaming of in-progress transactions.",
    apply=_month_end_billing,
    prepare=_prepare_billing,
    serial=True,
)
