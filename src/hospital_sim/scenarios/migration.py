"""A schema migration applied while the hospital keeps writing."""

from __future__ import annotations

import random

from hospital_sim.scenarios.base import Changes, Conn, Scenario, new_cpf, pick_id, transaction
from hospital_sim.scenarios.edge import AMOUNT_COLUMN

_SOCIAL_NAMES = ("Alex", "Bia", "Dandara", "Léo", "Nicolas", "Valentina", "Kaio", "Luna")


_MIGRATED = (
    "SELECT count(*) = 3 FROM information_schema.columns WHERE table_schema = current_schema()"
    " AND ((table_name, column_name) IN (('pacientes', 'nome_social'), ('exames', %s))"
    " OR (table_name, column_name, character_maximum_length) = ('pacientes', 'telefone', 30))"
)


def _migrate(conn: Conn, rng: random.Random, changes: Changes) -> None:
    row = conn.execute(_MIGRATED, (AMOUNT_COLUMN,)).fetchone()
    if not (row and row[0]):  # a release is migrated once; later occurrences only use it
        with transaction(conn, changes):  # the migration: two new columns, one wider type
            conn.execute("ALTER TABLE pacientes ADD COLUMN IF NOT EXISTS nome_social VARCHAR(150)")
            conn.execute(f"ALTER TABLE exames ADD COLUMN IF NOT EXISTS {AMOUNT_COLUMN} NUMERIC")
            conn.execute("ALTER TABLE pacientes ALTER COLUMN telefone TYPE VARCHAR(30)")
    for _ in range(rng.randint(3, 8)):  # then the application uses them
        patient = pick_id(conn, rng, "pacientes", scope=changes.scope)
        if patient is None:
            return
        with transaction(conn, changes):
            cur = conn.execute(
                "UPDATE pacientes SET nome_social = %s, telefone = %s WHERE id = %s",
                (rng.choice(_SOCIAL_NAMES), f"+55 (11) 9{rng.randrange(10**8):08d}", patient),
            )
            changes.add("pacientes", "update", cur.rowcount)
    with transaction(conn, changes):  # a registration using the social name, and its exam
        row = conn.execute(
            "INSERT INTO pacientes (nome, nome_social, nascimento, cpf, telefone, data_cadastro)"
            " VALUES (%s, %s, %s, %s, %s, date_trunc('day', localtimestamp) - interval '1 day')"
            " RETURNING id",
            ("Registro com nome social", rng.choice(_SOCIAL_NAMES),
             f"{rng.randint(1950, 2005)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
             new_cpf(conn, rng), "+55 (21) 3333-4444 r.12"),
        ).fetchone()  # fmt: skip
        assert row is not None
        conn.execute(
            f"INSERT INTO exames (paciente_id, tipo_exame, data, {AMOUNT_COLUMN})"
            " VALUES (%s, 'Hemograma completo', date_trunc('day', localtimestamp), %s)",
            (row[0], f"{rng.randint(20, 400)}.{rng.randint(0, 99):02d}"),
        )
        changes.add("pacientes", "insert")
        changes.add("exames", "insert")


SCHEMA_MIGRATION = Scenario(
    name="schema-migration",
    event="A release adds the social name (nome social, a right under Decreto 8.727/2016) to "
    "registration and the billed amount to exams, and widens the phone column.",
    data=f"ALTER TABLE: pacientes.nome_social VARCHAR(150), exames.{AMOUNT_COLUMN} NUMERIC "
    "(if missing), pacientes.telefone VARCHAR(20) -> VARCHAR(30), unless already migrated; "
    "then updates 3-8 patients and inserts a patient and an exam using the new columns.",
    cdc="Relation changes mid-stream: new columns appear in the events of the same table, and "
    "a type change; a sink must evolve its schema (or fail loudly), not drop the new fields.",
    settings="Debezium: column.include.list/exclude; a schema registry's compatibility mode; "
    "with JsonConverter schemas on, the value schema changes version.",
    apply=_migrate,
    serial=True,
)
