"""Run one scenario on its own against the database: ``hospital-sim scenario run``."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from hospital_sim.config import Settings
from hospital_sim.db.connect import connection
from hospital_sim.db.lifecycle import require_schema
from hospital_sim.db.schema import missing_tables
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import UserError
from hospital_sim.scenarios import configured, get_scenario
from hospital_sim.scenarios.base import Changes

__all__ = ["ScenarioResult", "prepare_scenario", "run_scenario"]

log = logging.getLogger(__name__)


@dataclass
class ScenarioResult:
    """What a scenario run committed."""

    name: str
    seed: int
    times: int
    changes: Changes
    seconds: float

    def lines(self) -> list[str]:
        rows = self.changes.rows
        out = [
            f"scenario {self.name} x{self.times}: {self.changes.total()} rows changed in "
            f"{self.changes.transactions} transactions, {self.seconds:.2f} s "
            f"(seed {self.seed}; pass --seed {self.seed} to repeat)"
        ]
        for (table, op), n in sorted(rows.items()):
            out.append(f"  {table} {op}: {n}")
        return out


def prepare_scenario(settings: Settings, name: str) -> None:
    """Apply only scenario ``name``'s DDL (idempotent), e.g. before a connector starts."""
    scenario = get_scenario(name)
    target = prepare_target(settings)
    with connection(target, deadline=settings.connect_timeout) as conn:
        require_schema(missing_tables(conn))
        scenario.prepare(conn)


def run_scenario(
    settings: Settings, name: str, *, seed: int | None = None, times: int = 1
) -> ScenarioResult:
    """Prepare scenario ``name`` (its DDL) and run it ``times`` times, committing each.

    The long report holds its transaction ``settings.scenario_hold_seconds``."""
    scenario = configured(name, hold=settings.scenario_hold_seconds)
    if times < 1:
        raise UserError(f"--times {times} must be at least 1")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    log.info("scenario %s x%d with seed %d", name, times, seed)
    rng = random.Random(seed)
    changes = Changes()
    target = prepare_target(settings)
    started = time.monotonic()
    with connection(target, deadline=settings.connect_timeout) as conn:
        require_schema(missing_tables(conn))
        scenario.prepare(conn)
        for _ in range(times):
            scenario.apply(conn, rng, changes)
    return ScenarioResult(name, seed, times, changes, time.monotonic() - started)
