"""``hospital-sim scenario list|run``: the edge-case hospital events, one at a time."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING, Annotated

import typer

from hospital_sim.cli.common import settings

if TYPE_CHECKING:
    from hospital_sim.scenarios import Scenario

app = typer.Typer(
    help="Edge-case hospital events that exercise CDC pipelines (deletes, TOAST, key moves, "
    "TRUNCATE, huge transactions, schema changes, extreme values).",
    no_args_is_help=True,
)


@app.command("list")
def list_scenarios(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Each scenario: the hospital event, what it does, the CDC behaviour, the settings."""
    from hospital_sim.scenarios import SCENARIOS

    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "event": s.event,
                        "data": s.data,
                        "cdc": s.cdc,
                        "settings": s.settings,
                        "extra_tables": list(s.extra_tables),
                        "in_stream": _in_stream(s),
                    }
                    for s in SCENARIOS.values()
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    for s in SCENARIOS.values():
        typer.echo(s.name)
        for label, text in (
            ("event", s.event),
            ("data", s.data),
            ("cdc", s.cdc),
            ("settings", s.settings),
            ("stream", _in_stream(s)),
        ):
            wrapped = textwrap.wrap(text, 88, initial_indent=f"  {label + ':':<10}",
                                    subsequent_indent=" " * 12)  # fmt: skip
            typer.echo("\n".join(wrapped))
        typer.echo()


def _in_stream(s: Scenario) -> str:
    """How ``stream --scenarios`` runs it beside the workers."""
    if s.background:
        return (
            "runs beside the worker that drew it, on a connection of its own (the worker "
            "goes on); one at a time over the database, a draw meanwhile is skipped."
        )
    if s.serial:
        return (
            "serialized: one at a time over the database (it locks many rows or takes "
            "table locks), a draw while one runs is skipped; waits for a lock at most 1 s."
        )
    return "on the drawing worker's second connection, between two of its transactions."


@app.command("run")
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name (see scenario list).")],
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed for the choices and values; random when unset.", min=0),
    ] = None,
    times: Annotated[
        int, typer.Option("--times", help="Occurrences to run.", min=1, max=1_000_000)
    ] = 1,
    hold: Annotated[
        str | None,
        typer.Option(
            "--hold",
            "--scenario-hold",
            help="long-report: how long its transaction stays open: 180, 90s, 3m "
            "(env SCENARIO_HOLD_SECONDS, default 180 s).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run one scenario on its own against the database (its DDL first, if any)."""
    from hospital_sim.scenarios.run import run_scenario

    s = settings(ctx, scenario_hold_seconds=hold)
    result = run_scenario(s, name, seed=seed, times=times)
    for line in result.lines():
        typer.echo(line)


@app.command("prepare")
def prepare(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name (see scenario list).")],
) -> None:
    """Apply only the scenario's DDL (its extra table or columns), before a connector starts."""
    from hospital_sim.scenarios.run import prepare_scenario

    prepare_scenario(settings(ctx), name)
    typer.echo(f"scenario {name}: prepared")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="scenario")
