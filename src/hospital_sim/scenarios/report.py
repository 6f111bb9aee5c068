"""The monthly management report: one REPEATABLE READ transaction kept open for minutes."""

from __future__ import annotations

import functools
import json
import random
import threading
from collections.abc import Callable
from typing import Final

from hospital_sim.scenarios.base import Changes, Conn, Scenario, transaction

REPORT_TABLE: Final = "relatorios_mensais"
DEFAULT_HOLD: Final = 180.0

Wait = Callable[[float], bool]
"""Waits up to the given seconds; True when asked to stop early."""

# What a hospital's monthly report reads: volumes by status, pending work, stays.
_QUERIES: Final = {
    "consultas_por_status": "SELECT status, count(*) FROM consultas"
    " WHERE data >= date_trunc('month', localtimestamp) - interval '1 month'"
    " GROUP BY status ORDER BY status",
    "exames_pendentes": "SELECT count(*) FROM exames WHERE resultado IS NULL",
    "internacoes": "SELECT count(*) FILTER (WHERE data_saida IS NULL),"
    " round(avg(extract(epoch FROM data_saida - data_entrada) / 86400)::numeric, 2)"
    " FROM internacoes",
    "pacientes": "SELECT count(*) FROM pacientes",
}


def _prepare(conn: Conn) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {REPORT_TABLE} ("
        " id BIGSERIAL PRIMARY KEY,"
        " mes DATE NOT NULL,"
        " conteudo TEXT NOT NULL,"
        " aberto_em TIMESTAMP NOT NULL,"
        " gerado_em TIMESTAMP NOT NULL DEFAULT clock_timestamp())"
    )


def _read(conn: Conn) -> dict[str, object]:
    return {
        key: [[str(v) for v in row] for row in conn.execute(query).fetchall()]
        for key, query in _QUERIES.items()
    }


def _sleep(seconds: float) -> bool:
    threading.Event().wait(seconds)
    return False


def _report(
    conn: Conn, rng: random.Random, changes: Changes, *, hold: float, wait: Wait = _sleep
) -> None:
    with transaction(conn, changes, isolation="REPEATABLE READ"):
        first = _read(conn)  # the snapshot is taken here and kept until the commit
        wait(hold)  # the analyst reads, filters, exports: the snapshot stays open
        second = _read(conn)
        # Under REPEATABLE READ the second pass sees what the first did, whatever the
        # stream committed meanwhile: the figures the report stores are consistent.
        body = json.dumps({"leitura": first, "conferencia": second == first}, sort_keys=True)
        conn.execute(
            f"INSERT INTO {REPORT_TABLE} (mes, conteudo, aberto_em)"
            " VALUES (date_trunc('month', localtimestamp)::date, %s,"
            " transaction_timestamp()::timestamp)",
            (body,),
        )
        changes.add(REPORT_TABLE, "insert")


def long_report(hold: float = DEFAULT_HOLD, wait: Wait = _sleep) -> Scenario:
    """The long-report scenario holding its transaction ``hold`` seconds (``wait`` may
    end the hold early, e.g. when the stream stops)."""
    return Scenario(
        name="long-report",
        event="The month's management report: an analyst's session reads appointments by "
        "status, pending exams and stays, and keeps its snapshot open while working on it.",
        data=f"Creates {REPORT_TABLE} if missing; one REPEATABLE READ transaction reads "
        f"aggregates, stays open SCENARIO_HOLD_SECONDS (default {DEFAULT_HOLD:g} s, "
        "scenario run --hold), reads them again, and stores the report as one row.",
        cdc="An old transaction: its xmin (pg_stat_activity.backend_xmin) holds back vacuum "
        "and its xid holds the slot's restart_lsn, so retained WAL and slot lag grow while "
        "the stream goes on; the report row then arrives with a commit minutes after its "
        "transaction began. In a stream it runs on a connection of its own.",
        settings="PostgreSQL: idle_in_transaction_session_timeout, max_slot_wal_keep_size "
        "(a slot past it is invalidated); Debezium: heartbeat.interval.ms keeps the "
        "confirmed position moving on a quiet database.",
        apply=functools.partial(_report, hold=hold, wait=wait),
        prepare=_prepare,
        extra_tables=(REPORT_TABLE,),
        serial=True,
        background=True,
    )


LONG_REPORT: Final = long_report()
