"""The scenarios, as the stream mixes them in (``stream --scenarios``).

An adapter between two layers that do not know each other: the stream decides when an
occurrence runs and counts it (``stream.mixing``), the scenarios know what it does. The
command line hands this object to ``run_stream``; it is pickled by reference into worker
processes, so it holds only names and numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import psycopg

from hospital_sim.config import Settings
from hospital_sim.db.connect import Conn
from hospital_sim.scenarios import configured, expand, get_scenario
from hospital_sim.scenarios.base import Changes
from hospital_sim.stream.failures import Flag
from hospital_sim.stream.mixing import Occurred, Scope

__all__ = ["ScenarioMix", "scenario_mix"]


@dataclass(frozen=True)
class ScenarioMix:
    """Scenarios ``names``, one occurrence per ``every`` stream transactions on average."""

    names: tuple[str, ...]
    every: float
    hold: float

    def prepare(self, conn: Conn) -> None:
        for name in self.names:
            get_scenario(name).prepare(conn)

    def serial(self, name: str) -> bool:
        return get_scenario(name).serial

    def background(self, name: str) -> bool:
        return get_scenario(name).background

    def occur(
        self, name: str, conn: Conn, rng: random.Random, stop: Flag, scope: Scope | None
    ) -> Occurred:
        scenario = configured(name, hold=self.hold, wait=stop.wait)
        changes = Changes(scope=scope)
        error: psycopg.Error | None = None
        try:
            scenario.apply(conn, rng, changes)
        except psycopg.Error as exc:
            error = exc
        doubt = None
        if changes.doubt is not None:
            xid, staged = changes.doubt
            doubt = (xid, staged.rows, staged.transactions)
        return Occurred(
            changes.rows,
            changes.transactions,
            doubt,
            error,
            changes.gone,
            changes.erased,
            changes.moved,
        )


def scenario_mix(settings: Settings) -> ScenarioMix | None:
    """The mix STREAM_SCENARIOS asks for (None: none); a UserError names an unknown one."""
    if not settings.stream_scenarios:
        return None
    return ScenarioMix(
        names=expand(settings.stream_scenarios),
        every=settings.stream_scenario_every,
        hold=settings.scenario_hold_seconds,
    )
