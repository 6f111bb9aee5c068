"""Opt-in hospital events that exercise what breaks CDC pipelines.

Each scenario is declared in one of the modules of this package (see
:class:`~hospital_sim.scenarios.base.Scenario`) and listed in :data:`SCENARIOS`.
``hospital-sim scenario run NAME`` runs one on its own; mixing them into the stream is not
available yet.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from hospital_sim.errors import UserError
from hospital_sim.scenarios.base import Changes, Scenario
from hospital_sim.scenarios.batch import MONTH_END_BILLING, NIGHTLY_CLEANUP
from hospital_sim.scenarios.deletions import CANCELLED_ORDERS, LGPD_ERASURE
from hospital_sim.scenarios.edge import EDGE_VALUES
from hospital_sim.scenarios.merge import PATIENT_MERGE
from hospital_sim.scenarios.migration import SCHEMA_MIGRATION
from hospital_sim.scenarios.notes import CLINICAL_NOTES

__all__ = ["EXTRA_TABLES", "SCENARIOS", "Changes", "Scenario", "get_scenario"]

SCENARIOS: Final[Mapping[str, Scenario]] = MappingProxyType(
    {
        s.name: s
        for s in (
            LGPD_ERASURE,
            CANCELLED_ORDERS,
            CLINICAL_NOTES,
            PATIENT_MERGE,
            SCHEMA_MIGRATION,
            NIGHTLY_CLEANUP,
            MONTH_END_BILLING,
            EDGE_VALUES,
        )
    }
)

EXTRA_TABLES: Final = tuple(t for s in SCENARIOS.values() for t in s.extra_tables)
"""Tables scenarios create; ``reset`` drops them with the hospital tables."""


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``, or a UserError listing the names (with a guess)."""
    found = SCENARIOS.get(name)
    if found is not None:
        return found
    close = difflib.get_close_matches(name, SCENARIOS, n=1)
    guess = f"; did you mean {close[0]}?" if close else ""
    raise UserError(f"unknown scenario {name!r}{guess} (accepted: {', '.join(SCENARIOS)})")
