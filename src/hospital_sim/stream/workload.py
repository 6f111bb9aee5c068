"""The stream's workload: which operation runs next, and what runs when it cannot.

The operations themselves (names, verbs, tables, default weights) are declared in
:mod:`hospital_sim.mix`; what each does to the rows lives in
:mod:`hospital_sim.stream.operations`.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Mapping

from hospital_sim.mix import (
    CATALOGUE,
    DEFAULT_WEIGHTS,
    OPERATIONS,
    Kind,
    Operation,
    parse_weights,
    resolve_weights,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_WEIGHTS",
    "FALLBACK",
    "OPERATIONS",
    "Kind",
    "Operation",
    "OperationPicker",
    "parse_weights",
    "resolve_weights",
]

# When an operation has no candidate row, this one runs instead. Chains end at
# insert_paciente, which always has a candidate.
FALLBACK: dict[str, str] = {
    "update_consulta": "insert_consulta",
    "update_exame": "insert_exame",
    "update_internacao": "insert_internacao",
    "collect_exame": "insert_exame",
    "transfer_internacao": "insert_internacao",
    "update_paciente": "insert_paciente",
    "change_convenio": "update_paciente",
    "insert_internacao": "insert_consulta",
    "insert_consulta": "insert_paciente",
    "insert_exame": "insert_paciente",
}


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
