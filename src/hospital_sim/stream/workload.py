"""The stream's workload, declared: the 8 operations, their tables and weights.

What each operation does to the rows lives in :mod:`hospital_sim.stream.operations`; this module
stays free of heavy imports because :mod:`hospital_sim.config` validates weights with it.
"""

from __future__ import annotations

import bisect
import itertools
import random
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
)
"""The original design's operations and weights (70% INSERT / 30% UPDATE)."""

OPERATIONS: dict[str, Operation] = {op.name: op for op in CATALOGUE}
DEFAULT_WEIGHTS: dict[str, float] = {op.name: op.weight for op in CATALOGUE}

# When an operation has no candidate row, this one runs instead. Chains end at
# insert_paciente, which always has a candidate.
FALLBACK: dict[str, str] = {
    "update_consulta": "insert_consulta",
    "update_exame": "insert_exame",
    "update_internacao": "insert_internacao",
    "update_paciente": "insert_paciente",
    "insert_internacao": "insert_consulta",
    "insert_consulta": "insert_paciente",
    "insert_exame": "insert_paciente",
}

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


class OperationPicker:
    """Draws operation names by weight with one ``random()`` and a bisect (O(log 8))."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        names = [n for n in OPERATIONS if weights.get(n, 0) > 0]
        if not names:
            raise ValueError("no operation has a weight > 0")
        self._names = names
        self._cumulative = list(itertools.accumulate(weights[n] for n in names))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> str:
        i = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return self._names[min(i, len(self._names) - 1)]  # guards float rounding at the top
