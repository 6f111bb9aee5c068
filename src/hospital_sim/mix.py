"""The stream's operation mix, declared: the 8 operations, their verbs, tables and weights.

It sits below :mod:`hospital_sim.config`, which validates ``STREAM_WEIGHTS`` with it, and
below :mod:`hospital_sim.stream`, which runs it; it imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["INSERT", "UPDATE"]


@dataclass(frozen=True)
class Operation:
    """One kind of event: its name, the SQL verb, the table it changes, its default weight."""

    name: str
    kind: Kind
    table: str
    weight: float


CATALOGUE: tuple[Operation, ...] = (
    Operation("insert_paciente", "INSERT", "pacientes", 5),
    Operation("insert_consulta", "INSERT", "consultas", 30),
    Operation("insert_exame", "INSERT", "exames", 15),
    Operation("insert_internacao", "INSERT", "internacoes", 20),
    Operation("update_paciente", "UPDATE", "pacientes", 8),
    Operation("update_consulta", "UPDATE", "consultas", 10),
    Operation("update_exame", "UPDATE", "exames", 7),
    Operation("update_internacao", "UPDATE", "internacoes", 5),
    # Lifecycle steps the hospital model runs; the original mix gives them no weight.
    Operation("collect_exame", "UPDATE", "exames", 0),
    Operation("transfer_internacao", "UPDATE", "internacoes", 0),
    Operation("change_convenio", "UPDATE", "pacientes_convenios", 0),
)
"""The original design's operations and weights (70% INSERT / 30% UPDATE), and three
steps of weight 0 that the hospital model runs: an exam's sample collected (its ``data``
moves to the collection time), a patient moved to another room (``quarto``), and a
patient's enrolment moved to another health plan (``convenio_id``, a new card)."""

OPERATIONS: dict[str, Operation] = {op.name: op for op in CATALOGUE}
DEFAULT_WEIGHTS: dict[str, float] = {op.name: op.weight for op in CATALOGUE}

_ACCEPTED = ", ".join(OPERATIONS)
MAX_WEIGHT = 1_000_000


def parse_weights(text: str) -> dict[str, float]:
    """Parse ``op=weight,op=weight`` (the ``--weights`` and STREAM_WEIGHTS form)."""
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"'{item}' is not op=weight (e.g. insert_consulta=40)")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(
                f"weight '{value.strip()}' of {name.strip()} is not a number"
            ) from None
    return weights


def resolve_weights(given: Mapping[str, Any]) -> dict[str, float]:
    """The default weights with ``given`` on top; raises ValueError naming what is wrong."""
    merged = dict(DEFAULT_WEIGHTS)
    for name, value in given.items():
        if name not in OPERATIONS:
            raise ValueError(f"unknown operation '{name}'; accepted operations: {_ACCEPTED}")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"weight of {name} is not a number: {value!r}") from None
        # Bounded so the sum of the weights stays exact and finite.
        if not 0 <= weight <= MAX_WEIGHT:
            raise ValueError(f"weight of {name} must be 0..{MAX_WEIGHT}, not {value}")
        merged[name] = weight
    if not any(merged.values()):
        raise ValueError(f"all weights are 0; give at least one of {_ACCEPTED} a weight > 0")
    return merged
