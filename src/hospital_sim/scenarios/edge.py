"""Values at the edges of their types, written the way a hospital's old records hold them."""

from __future__ import annotations

import random
from typing import Final

from hospital_sim.scenarios.base import Changes, Conn, Scenario, new_cpf, pick_id, transaction

AMOUNT_COLUMN: Final = "valor_cobrado"

# Names, addresses and reasons as they arrive from other systems and legacy imports.
NAMES: Final = (
    'Maria D\'Ávila "Mariazinha" dos Santos',
    "José \\ da Silva 🩺",
    "Ana Lúcia Ñúñez Çelik 👩🏽‍⚕️",
    "Pedro O'Connor\tFilho",
)
ADDRESSES: Final = (
    "Rua do Ouvidor, 50\r\nCentro, Rio de Janeiro - RJ\r\n20040-030",
    'Av. Paulista, 1000 "Conj. 12"\nBela Vista, São Paulo - SP',
    "Travessa C:\\Arquivos\\Legado, s/n - Zona Rural 🏥",
)
# NUMERIC values no float holds exactly, from tiny to the widest a bill would ever show.
AMOUNTS: Final = (
    "0.000000000000000000000000000001",
    "99999999999999999999999999999999999999.99",
    "-12345678901234567890.123456789012345678",
    "0",
)


def _prepare(conn: Conn) -> None:
    conn.execute(f"ALTER TABLE exames ADD COLUMN IF NOT EXISTS {AMOUNT_COLUMN} NUMERIC")


def _edge_values(conn: Conn, rng: random.Random, changes: Changes) -> None:
    plans = [pick_id(conn, rng, "convenios") for _ in range(2)]
    with transaction(conn, changes):
        # Born before 1900 or the day before the Unix epoch; registered a microsecond
        # after it (a legacy import's placeholder date).
        row = conn.execute(
            "INSERT INTO pacientes (nome, nascimento, cpf, telefone, endereco, data_cadastro)"
            " VALUES (%s, %s, %s, NULL, %s, '1970-01-01 00:00:00.000001') RETURNING id",
            (
                rng.choice(NAMES),
                rng.choice(("1899-12-31", "1969-12-31", "1900-01-01")),
                new_cpf(conn, rng),
                rng.choice(ADDRESSES),
            ),
        ).fetchone()
        assert row is not None
        patient = row[0]
        changes.add("pacientes", "insert")
        # Cards that never expire, written both ways legacy systems write "never".
        for plan, validade in zip(dict.fromkeys(plans), ("9999-12-31", "infinity"), strict=False):
            conn.execute(
                "INSERT INTO pacientes_convenios (paciente_id, convenio_id, numero_carteira,"
                " validade) VALUES (%s, %s, %s, %s)",
                (patient, plan, "0" * 16, validade),
            )
            changes.add("pacientes_convenios", "insert")
        medico = pick_id(conn, rng, "medicos")
        conn.execute(
            "INSERT INTO consultas (paciente_id, medico_id, data, motivo, status)"
            " VALUES (%s, %s, '1970-01-01 00:00:00.5', %s, 'realizada')",
            (patient, medico, "Queixa: \"dor\" \\ 'aguda'\r\nretorno 🗓️"),
        )
        changes.add("consultas", "insert")
        for amount in AMOUNTS:
            conn.execute(
                f"INSERT INTO exames (paciente_id, tipo_exame, data, resultado, {AMOUNT_COLUMN})"
                " VALUES (%s, 'Hemograma completo', '1970-01-01 00:00:01', %s, %s)",
                (patient, 'Resultado:\n\tHb 13,5 g/dL\r\n"normal" ✅', amount),
            )
            changes.add("exames", "insert")
        conn.execute(
            "INSERT INTO internacoes (paciente_id, data_entrada, data_saida, motivo, quarto)"
            " VALUES (%s, '1970-01-01 12:00', '1970-01-02 08:00', %s, %s)",
            (patient, "Observação\r\nalta no dia seguinte", "Obs-\\01"),
        )
        changes.add("internacoes", "insert")


EDGE_VALUES = Scenario(
    name="edge-values",
    event="A legacy import: very old patients, placeholder dates, never-expiring plan cards, "
    "names and notes with emoji, quotes, backslashes and line breaks.",
    data=f"Adds exames.{AMOUNT_COLUMN} (NUMERIC) if missing; inserts one patient (born 1899 or "
    "1969, registered 1970-01-01 00:00:00.000001) with plan cards valid until 9999-12-31 and "
    "'infinity', a 1970 appointment, 4 exams with NUMERIC extremes (1e-30, 38 integer "
    "digits, negative with 18 decimals) and a 1970 stay, all in one transaction.",
    cdc="Encodings at the limits: negative epoch days/µs, DATE 'infinity' (no epoch number), "
    "NUMERIC beyond a double, UTF-8 outside the BMP, CR/LF and backslashes inside JSON strings.",
    settings="Debezium: time.precision.mode (adaptive/connect), decimal.handling.mode "
    "(precise = base64 bytes, string, double = precision lost).",
    apply=_edge_values,
    prepare=_prepare,
)
