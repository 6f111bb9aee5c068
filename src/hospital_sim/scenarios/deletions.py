"""Rows that leave: a patient's LGPD erasure, exam requests cancelled right after ordering."""

from __future__ import annotations

import random

import psycopg
from psycopg import sql

from hospital_sim.generate.vocab import EXAMES
from hospital_sim.scenarios.base import Changes, Conn, Scenario, pick_id, transaction

_CHILDREN = ("exames", "consultas", "internacoes", "pacientes_convenios")
_ATTEMPTS = 5


def _erase(conn: Conn, rng: random.Random, changes: Changes) -> None:
    for _ in range(_ATTEMPTS):
        patient = pick_id(conn, rng, "pacientes", scope=changes.scope)
        if patient is None:
            return
        try:
            with transaction(conn, changes):
                for table in (*_CHILDREN, "pacientes"):
                    column = "id" if table == "pacientes" else "paciente_id"
                    cur = conn.execute(
                        sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                            sql.Identifier(table), sql.Identifier(column)
                        ),
                        (patient,),
                    )
                    changes.add(table, "delete", cur.rowcount)
                changes.gone.add(patient)
        except psycopg.errors.ForeignKeyViolation:
            # A writer added a child row meanwhile: the request is served for someone else.
            continue
        changes.erased.add(patient)  # committed: its stay, visits and exams are gone
        return


LGPD_ERASURE = Scenario(
    name="lgpd-erasure",
    event="A patient's data-deletion request under Brazil's LGPD (Lei 13.709/2018, art. 18).",
    data="Deletes one patient's exams, appointments, stays and plan links, then the patient, "
    "in one transaction, children first (the foreign keys are ON DELETE RESTRICT).",
    cdc="'d' events for 5 tables in one transaction, each followed by a tombstone; a "
    "consumer must apply them in order and delete the rows downstream.",
    settings="tombstones.on.delete (default true: a null-value record after each 'd'); "
    "REPLICA IDENTITY FULL puts the whole old row in 'before' (DEFAULT: only the key).",
    apply=_erase,
)


def _cancel(conn: Conn, rng: random.Random, changes: Changes) -> None:
    patient = pick_id(conn, rng, "pacientes", "data_cadastro < localtimestamp", scope=changes.scope)
    if patient is None:
        return
    tests = rng.sample([t.text for t in EXAMES.terms if t.unrestricted], rng.randint(1, 3))
    ids = []
    with transaction(conn, changes):
        for test in tests:
            row = conn.execute(
                "INSERT INTO exames (paciente_id, tipo_exame, data) VALUES (%s, %s, localtimestamp)"
                " RETURNING id",
                (patient, test),
            ).fetchone()
            assert row is not None
            ids.append(row[0])
            changes.add("exames", "insert")
    with transaction(conn, changes):
        cur = conn.execute("DELETE FROM exames WHERE id = ANY(%s)", (ids,))
        changes.add("exames", "delete", cur.rowcount)


CANCELLED_ORDERS = Scenario(
    name="cancelled-orders",
    event="Exam requests ordered by mistake and cancelled moments later.",
    data="Inserts 1-3 exams for one patient in one transaction, then deletes them in the next.",
    cdc="A 'c' and a 'd' of the same key close together (often in one poll or batch): the "
    "key must end up absent downstream, not resurrected by an out-of-order upsert.",
    settings="tombstones.on.delete; with log compaction on the topic, the tombstone is what "
    "finally removes the key.",
    apply=_cancel,
)
