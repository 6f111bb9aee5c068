"""Opt-in hospital events that exercise what breaks CDC pipelines.

Each scenario is declared in one of the modules of this package (see
:class:`~hospital_sim.scenarios.base.Scenario`) and listed in :data:`SCENARIOS`.
``hospital-sim scenario run NAME`` runs one on its own; ``stream --scenarios`` mixes them
into the stream (the glue is ``cli.scenario_mix``, since the stream is a layer beside this
one).
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
from hospital_sim.scenarios.report import DEFAULT_HOLD as LONG_REPORT_HOLD
from hospital_sim.scenarios.report import LONG_REPORT, Wait, long_report

__all__ = [
    "EXTRA_TABLES",
    "SCENARIOS",
    "Changes",
    "Scenario",
    "configured",
    "expand",
    "get_scenario",
]

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
            LONG_REPORT,
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


def configured(name: str, *, hold: float | None = None, wait: Wait | None = None) -> Scenario:
    """Scenario ``name`` with its options: the long report's ``hold`` and ``wait``."""
    scenario = get_scenario(name)
    if scenario.name == LONG_REPORT.name and (hold is not None or wait is not None):
        return long_report(
            LONG_REPORT_HOLD if hold is None else hold, *(() if wait is None else (wait,))
        )
    return scenario


def expand(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` checked (a UserError names the unknown one), "all" standing for every one."""
    out: list[str] = []
    for name in names:
        for each in SCENARIOS if name == "all" else (get_scenario(name).name,):
            if each not in out:
                out.append(each)
    if not out:
        raise UserError(
            f"--scenarios: give at least one name (accepted: all, {', '.join(SCENARIOS)})"
        )
    return tuple(out)
