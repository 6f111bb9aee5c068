"""Patient identity fixes: a duplicate registration merged, a CPF corrected, a key moved."""

from __future__ import annotations

import random

from hospital_sim.generate.vocab import EXAMES, MOTIVOS_CONSULTA_GERAL
from hospital_sim.scenarios.base import Changes, Conn, Scenario, new_cpf, pick_id, transaction


def _new_patient_id(conn: Conn, scope: tuple[int, int] | None) -> int:
    """The next patient id, within ``scope`` when the occurrence runs in a stream.

    The duplicate lives between two transactions: an id in another worker's partition could
    enter that worker's pool (loaded at its start) and be deleted under it by the merge.
    Sequence values skipped to reach the partition leave gaps, as rolled-back inserts do.
    """
    while True:
        got = conn.execute("SELECT nextval(pg_get_serial_sequence('pacientes', 'id'))").fetchone()
        assert got is not None
        new_id = int(str(got[0]))
        if scope is None or new_id % scope[0] == scope[1]:
            return new_id


def _register_duplicate(
    conn: Conn, rng: random.Random, survivor: int, changes: Changes
) -> int | None:
    """The same person registered again under a mistyped CPF, seen once since; None when
    the patient is gone by now (deleted or renumbered by another client)."""
    cpf = new_cpf(conn, rng)
    days = rng.randint(1, 900)
    with transaction(conn, changes):
        row = conn.execute(
            "INSERT INTO pacientes (id, nome, nascimento, cpf, telefone, endereco, data_cadastro)"
            " SELECT %s, nome, nascimento, %s, telefone, endereco,"
            "  least(data_cadastro + make_interval(days => %s), date_trunc('day', localtimestamp)"
            "   - interval '1 day')"
            " FROM pacientes WHERE id = %s RETURNING id, data_cadastro",
            (_new_patient_id(conn, changes.scope), cpf, days, survivor),
        ).fetchone()
        if row is None:
            return None  # the transaction wrote nothing
        duplicate = int(str(row[0]))
        # One past visit and one exam, dated between the registration and the start of
        # today (the seed's anchor), so that a seed gives the same dates all day.
        when = "data_cadastro + (date_trunc('day', localtimestamp) - data_cadastro) * %s"
        medico = pick_id(conn, rng, "medicos")
        conn.execute(
            "INSERT INTO consultas (paciente_id, medico_id, data, motivo, status)"
            f" SELECT id, %s, {when}, %s, 'realizada' FROM pacientes WHERE id = %s",
            (medico, rng.uniform(0.1, 0.9), rng.choice(MOTIVOS_CONSULTA_GERAL.terms).text,
             duplicate),
        )  # fmt: skip
        conn.execute(
            "INSERT INTO exames (paciente_id, tipo_exame, data, resultado)"
            f" SELECT id, %s, {when}, 'Normal' FROM pacientes WHERE id = %s",
            (rng.choice([t for t in EXAMES.terms if t.unrestricted]).text,
             rng.uniform(0.1, 0.9), duplicate),
        )  # fmt: skip
        plan = pick_id(conn, rng, "convenios")
        conn.execute(
            "INSERT INTO pacientes_convenios (paciente_id, convenio_id, numero_carteira, validade)"
            " VALUES (%s, %s, %s, (localtimestamp + interval '1 year')::date)",
            (duplicate, plan, f"{rng.randrange(10**15, 10**16)}"),
        )
        changes.add("pacientes", "insert")
        changes.add("consultas", "insert")
        changes.add("exames", "insert")
        changes.add("pacientes_convenios", "insert")
    return duplicate


def _merge(conn: Conn, survivor: int, duplicate: int, changes: Changes) -> None:
    with transaction(conn, changes):
        for table in ("consultas", "exames", "internacoes"):
            cur = conn.execute(
                f"UPDATE {table} SET paciente_id = %s WHERE paciente_id = %s",
                (survivor, duplicate),
            )
            changes.add(table, "update", cur.rowcount)
        # A plan the survivor already has is a duplicate link: dropped, not moved.
        cur = conn.execute(
            "DELETE FROM pacientes_convenios d WHERE d.paciente_id = %s AND EXISTS ("
            " SELECT 1 FROM pacientes_convenios s"
            " WHERE s.paciente_id = %s AND s.convenio_id = d.convenio_id)",
            (duplicate, survivor),
        )
        changes.add("pacientes_convenios", "delete", cur.rowcount)
        cur = conn.execute(
            "UPDATE pacientes_convenios SET paciente_id = %s WHERE paciente_id = %s",
            (survivor, duplicate),
        )
        changes.add("pacientes_convenios", "update", cur.rowcount)
        cur = conn.execute("DELETE FROM pacientes WHERE id = %s", (duplicate,))
        changes.add("pacientes", "delete", cur.rowcount)


def _patient_merge(conn: Conn, rng: random.Random, changes: Changes) -> None:
    survivor = pick_id(
        conn,
        rng,
        "pacientes",
        "data_cadastro < localtimestamp - interval '2 days'",
        scope=changes.scope,
    )
    if survivor is None:
        return
    duplicate = _register_duplicate(conn, rng, survivor, changes)
    if duplicate is not None:
        _merge(conn, survivor, duplicate, changes)

    corrected = pick_id(conn, rng, "pacientes", scope=changes.scope)
    if corrected is not None:
        with transaction(conn, changes):
            cur = conn.execute(
                "UPDATE pacientes SET cpf = %s WHERE id = %s", (new_cpf(conn, rng), corrected)
            )
            changes.add("pacientes", "update", cur.rowcount)

    moved = pick_id(conn, rng, "pacientes", scope=changes.scope)
    if moved is not None:
        # A new key for the record (e.g. renumbered on a migration between systems); the
        # children follow through ON UPDATE CASCADE.
        with transaction(conn, changes):
            # Locked first, so no child can be added between the count and the move.
            conn.execute("SELECT 1 FROM pacientes WHERE id = %s FOR UPDATE", (moved,))
            children = {
                t: int(str(conn.execute(
                    f"SELECT count(*) FROM {t} WHERE paciente_id = %s", (moved,)
                ).fetchone()[0]))  # type: ignore[index]
                for t in ("pacientes_convenios", "consultas", "exames", "internacoes")
            }  # fmt: skip
            # In a stream the new id stays in the worker's partition: no other worker
            # may pick (and erase) a patient whose stay this worker's model holds.
            new_id = _new_patient_id(conn, changes.scope)
            cur = conn.execute("UPDATE pacientes SET id = %s WHERE id = %s", (new_id, moved))
            changes.gone.add(moved)
            renumbered = cur.rowcount > 0
            if renumbered:
                changes.add("pacientes", "update", cur.rowcount)
                for table, n in children.items():
                    changes.add(table, "update", n)
        if renumbered:
            changes.moved[moved] = new_id  # committed


PATIENT_MERGE = Scenario(
    name="patient-merge",
    event="A duplicate registration found and merged; a mistyped CPF corrected; a patient "
    "record renumbered.",
    data="Registers a duplicate of a patient (new CPF, one visit, one exam, one plan), then in "
    "one transaction re-points its children to the original and deletes it; changes another "
    "patient's CPF; changes a third patient's id (children follow by ON UPDATE CASCADE).",
    cdc="Children moved between parents, a natural-key (UNIQUE cpf) update, and a primary-key "
    "update, which Debezium emits as a 'd' of the old key (plus tombstone) and a 'c' of the "
    "new one, with cascaded 'u' events on the children in the same transaction.",
    settings="tombstones.on.delete; REPLICA IDENTITY (FULL shows the old row in 'before'); "
    "a sink keyed by id must apply the delete before the create.",
    apply=_patient_merge,
)
