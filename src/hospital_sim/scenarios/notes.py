"""Long clinical notes: values stored out of line (TOAST), then the row's other columns change."""

from __future__ import annotations

import random
from typing import Final

from hospital_sim.scenarios.base import Changes, Conn, Scenario, pick_id, transaction

NOTES_COLUMN: Final = "evolucao_clinica"
MIN_NOTE: Final = 4_000
MAX_NOTE: Final = 100_000

# Phrases of a daily progress note ("evolução clínica") in a Brazilian ward; the numbers
# drawn into them keep the text from compressing to nothing.
_PHRASES: Final = (
    "Paciente em regular estado geral, lúcido e orientado, PA {a}x{b} mmHg, FC {c} bpm.",
    "Afebril nas últimas {d} h, Tax {t} °C, SpO2 {s}% em ar ambiente.",
    "Aceitando dieta via oral, diurese presente ({u} mL/24 h), evacuação ausente há {d2} dias.",
    "Ausculta pulmonar com murmúrio vesicular presente, estertores em base {lado}.",
    "Glicemia capilar {g} mg/dL às {h}h; mantida insulina conforme esquema.",
    "Hb {hb} g/dL, leucócitos {leu}/mm³, PCR {pcr} mg/L; aguardando culturas.",
    "Conduta: manter antibioticoterapia (D{dia}), fisioterapia respiratória, reavaliar em 24 h.",
    "Familiar orientado sobre quadro clínico e plano terapêutico.",
)


def clinical_note(rng: random.Random, size: int) -> str:
    """A progress note of about ``size`` characters, deterministic under ``rng``."""
    parts: list[str] = []
    length = 0
    day = 1
    while length < size:
        parts.append(f"\n[D{day}] ")
        for phrase in rng.sample(_PHRASES, rng.randint(3, len(_PHRASES))):
            text = phrase.format(
                a=rng.randint(90, 180), b=rng.randint(50, 110), c=rng.randint(50, 130),
                d=rng.randint(12, 72), t=f"{rng.uniform(35.5, 38.9):.1f}",
                s=rng.randint(86, 100), u=rng.randint(300, 2500), d2=rng.randint(1, 4),
                lado=rng.choice(("direita", "esquerda", "bilateral")), g=rng.randint(60, 380),
                h=rng.randint(0, 23), hb=f"{rng.uniform(6.5, 16.0):.1f}",
                leu=rng.randint(2500, 25000), pcr=f"{rng.uniform(0.2, 30.0):.1f}", dia=day,
            )  # fmt: skip
            parts.append(text + " ")
            length += len(text) + 1
        day += 1
    return "".join(parts)[:size]


def _prepare(conn: Conn) -> None:
    conn.execute(f"ALTER TABLE internacoes ADD COLUMN IF NOT EXISTS {NOTES_COLUMN} TEXT")
    # Out of line and uncompressed: every note above ~2 kB is TOASTed, whatever its text.
    conn.execute(f"ALTER TABLE internacoes ALTER COLUMN {NOTES_COLUMN} SET STORAGE EXTERNAL")


def _write_note(conn: Conn, rng: random.Random, changes: Changes) -> None:
    stay = pick_id(conn, rng, "internacoes", "data_saida IS NULL")
    if stay is None:
        stay = pick_id(conn, rng, "internacoes")
    if stay is None:
        return
    size = int(MIN_NOTE * (MAX_NOTE / MIN_NOTE) ** rng.random())
    note = clinical_note(rng, size)
    with transaction(conn, changes):
        cur = conn.execute(
            f"UPDATE internacoes SET {NOTES_COLUMN} = %s WHERE id = %s",
            (note, stay),
        )
        changes.add("internacoes", "update", cur.rowcount)
    room = f"{rng.choice(('Enf', 'Apto', 'UTI', 'Semi'))}-{rng.randint(1, 40):02d}"
    with transaction(conn, changes):  # a transfer: the note is not touched
        cur = conn.execute("UPDATE internacoes SET quarto = %s WHERE id = %s", (room, stay))
        changes.add("internacoes", "update", cur.rowcount)


CLINICAL_NOTES = Scenario(
    name="clinical-notes",
    event="A stay's daily progress notes written, then the patient moved to another room.",
    data=f"Adds internacoes.{NOTES_COLUMN} (TEXT, STORAGE EXTERNAL) if missing; writes a "
    f"{MIN_NOTE // 1000}-{MAX_NOTE // 1000} kB note on a stay, then updates only its room.",
    cdc="The room change carries the unchanged note as TOAST: under REPLICA IDENTITY DEFAULT "
    "Debezium sends '__debezium_unavailable_value' in its place; a consumer that stores it "
    "(or nulls the column) corrupts the note.",
    settings="REPLICA IDENTITY of internacoes (cdc setup --replica-identity full --table "
    "internacoes); Debezium's unavailable.value.placeholder.",
    apply=_write_note,
    prepare=_prepare,
)
