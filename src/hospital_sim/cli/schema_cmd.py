"""``init``, ``seed``, ``reset``, ``counts`` and ``run``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hospital_sim.cli.common import settings
from hospital_sim.cli.stream_cmd import DashboardOpt, ScenarioEveryOpt, ScenariosOpt
from hospital_sim.config import Settings
from hospital_sim.db.lifecycle import count_rows, init_database, reset_database

if TYPE_CHECKING:
    from hospital_sim.db.seed import Progress, SeedResult

SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help="Random seed: the same seed and volumes give the same rows (env HOSPITAL_SIM_SEED).",
        show_default=False,
    ),
]


def _volume(name: str, env: str, least: int = 0) -> Any:
    # No min= here: the settings model checks the range and the error names this flag.
    return typer.Option(
        f"--{name}", help=f"Rows of {name}, >= {least} (overrides {env}).", show_default=False
    )


ScaleOpt = Annotated[
    int | None,
    typer.Option(
        "--scale",
        help=(
            "Multiply every volume but convenios (75: about 1M rows, 7500: about 100M; "
            "overrides SEED_SCALE)."
        ),
        show_default=False,
    ),
]
PacientesOpt = Annotated[int | None, _volume("pacientes", "SEED_PACIENTES")]
MedicosOpt = Annotated[int | None, _volume("medicos", "SEED_MEDICOS")]
ConveniosOpt = Annotated[int | None, _volume("convenios", "SEED_CONVENIOS", 2)]
ConsultasOpt = Annotated[int | None, _volume("consultas", "SEED_CONSULTAS")]
ExamesOpt = Annotated[int | None, _volume("exames", "SEED_EXAMES")]
InternacoesOpt = Annotated[int | None, _volume("internacoes", "SEED_INTERNACOES")]
LinksOpt = Annotated[int | None, _volume("pacientes-convenios", "SEED_PACIENTES_CONVENIOS")]


def _volumes(
    scale: int | None,
    pacientes: int | None,
    medicos: int | None,
    convenios: int | None,
    consultas: int | None,
    exames: int | None,
    internacoes: int | None,
    pacientes_convenios: int | None,
) -> dict[str, Any]:
    return {
        "seed_scale": scale,
        "seed_pacientes": pacientes,
        "seed_medicos": medicos,
        "seed_convenios": convenios,
        "seed_consultas": consultas,
        "seed_exames": exames,
        "seed_internacoes": internacoes,
        "seed_pacientes_convenios": pacientes_convenios,
    }


def init(ctx: typer.Context) -> None:
    """Create the 7 tables, triggers, indexes and lookup rows (safe to run again)."""
    applied = init_database(settings(ctx))
    typer.echo(f"schema ready ({len(applied)} SQL files applied)")


@contextmanager
def _progress() -> Iterator[Progress | None]:
    if not sys.stderr.isatty():
        yield _plain_progress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>16}"),
        TextColumn("{task.fields[eta]}"),
        transient=False,
    ) as bar:
        tasks: dict[str, Any] = {}
        started: dict[str, float] = {}

        def update(table: str, done: int, total: int) -> None:
            now = time.perf_counter()
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total, rate="", eta="")
                started[table] = now  # the seed calls with 0 rows as the table starts
            seconds = now - started[table]
            rate = done / seconds if seconds > 0 else 0.0
            left = (total - done) / rate if rate else 0.0
            bar.update(
                tasks[table],
                completed=done,
                rate=f"{rate:,.0f} rows/s",
                eta=f"ETA {left:4.0f} s" if done < total else "",
            )

        yield update


def _plain_progress() -> Progress:
    """One line per table when stderr is not a terminal: rows and rows/s."""
    started: dict[str, float] = {}

    def plain(table: str, done: int, total: int) -> None:
        now = time.perf_counter()
        started.setdefault(table, now)  # the seed calls with 0 rows as the table starts
        if done >= total:
            seconds = now - started[table]
            rate = done / seconds if seconds > 0 else 0.0
            typer.echo(f"  {table}: {done} rows ({rate:,.0f} rows/s)", err=True)

    return plain


def _report(result: SeedResult) -> None:
    typer.echo(
        f"seeded {result.total} rows in {result.seconds:.2f} s "
        f"(seed {result.seed}; pass --seed {result.seed} to repeat)"
    )


def _seed(s: Settings, seed: int | None) -> SeedResult:
    from hospital_sim.db.seed import seed_database  # numpy and Faker load only when seeding

    with _progress() as progress:
        return seed_database(s, seed=seed, progress=progress)


def seed(
    ctx: typer.Context,
    seed: SeedOpt = None,
    scale: ScaleOpt = None,
    pacientes: PacientesOpt = None,
    medicos: MedicosOpt = None,
    convenios: ConveniosOpt = None,
    consultas: ConsultasOpt = None,
    exames: ExamesOpt = None,
    internacoes: InternacoesOpt = None,
    pacientes_convenios: LinksOpt = None,
) -> None:
    """Fill the empty schema with generated rows, bulk-loaded with COPY."""
    volumes = _volumes(
        scale, pacientes, medicos, convenios, consultas, exames, internacoes, pacientes_convenios
    )
    s = settings(ctx, random_seed=seed, **volumes)
    _report(_seed(s, None))


def reset(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    seed: SeedOpt = None,
    scale: ScaleOpt = None,
    pacientes: PacientesOpt = None,
    medicos: MedicosOpt = None,
    convenios: ConveniosOpt = None,
    consultas: ConsultasOpt = None,
    exames: ExamesOpt = None,
    internacoes: InternacoesOpt = None,
    pacientes_convenios: LinksOpt = None,
) -> None:
    """Drop all hospital tables, create them again and seed (with these volumes)."""
    volumes = _volumes(
        scale, pacientes, medicos, convenios, consultas, exames, internacoes, pacientes_convenios
    )
    s = settings(ctx, random_seed=seed, **volumes)
    from hospital_sim.db.seed import volumes_from

    volumes_from(s)  # refuse impossible volumes before dropping anything
    if not yes:
        typer.confirm("This drops every hospital table and its rows. Continue?", abort=True)
    reset_database(s, seed=lambda cfg: _report(_seed(cfg, None)))


def counts(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Print the number of rows in each table."""
    rows = count_rows(settings(ctx, log_to_file=False))
    if as_json:
        typer.echo(json.dumps(rows))
        return
    width = max(map(len, rows))
    for table, n in rows.items():
        typer.echo(f"{table:<{width}}  {n:>10}")
    typer.echo(f"{'total':<{width}}  {sum(rows.values()):>10}")


def run(
    ctx: typer.Context,
    seed: SeedOpt = None,
    scale: ScaleOpt = None,
    stream: Annotated[
        bool,
        typer.Option("--stream/--no-stream", help="Stream changes after seeding, until Ctrl-C."),
    ] = True,
    scenarios: ScenariosOpt = None,
    scenario_every: ScenarioEveryOpt = None,
    dashboard: Annotated[bool, DashboardOpt] = False,
) -> None:
    """Start the database, create the schema, seed it when empty, print the counts, stream."""
    s = settings(
        ctx,
        random_seed=seed,
        seed_scale=scale,
        stream_scenarios=scenarios,
        stream_scenario_every=scenario_every,
    )
    from hospital_sim.cli.scenario_mix import scenario_mix

    scenario_mix(s)  # an unknown scenario fails before anything is created
    from hospital_sim.db.seed import volumes_from

    volumes_from(s)  # impossible volumes fail before anything is created
    init_database(s)
    if sum(count_rows(s).values()) <= 2:
        _report(_seed(s, None))
    else:
        typer.echo("database already seeded; 'hospital-sim reset --yes' starts over")
    counts(ctx, as_json=False)
    if stream:
        from hospital_sim.cli.common import state
        from hospital_sim.cli.stream_cmd import stream_with

        stream_with(s, json_summary=state(ctx).log_format == "json", dashboard=dashboard)


def register(app: typer.Typer) -> None:
    for fn in (init, seed, reset, counts, run):
        app.command(fn.__name__)(fn)
