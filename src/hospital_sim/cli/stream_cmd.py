"""``hospital-sim stream``: a paced, resilient INSERT/UPDATE stream with a final summary."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hospital_sim.cli.common import (
    MAX_RUN_SECONDS,
    check_writable_file,
    number_range,
    settings,
    state,
)
from hospital_sim.config import Settings

if TYPE_CHECKING:
    from hospital_sim.cli.scenario_mix import ScenarioMix

DashboardOpt = typer.Option(
    "--dashboard",
    help="Also serve the live web dashboard (DASHBOARD_HOST/DASHBOARD_PORT); prints its URL.",
)


def _opt(flag: str, env: str, help: str, **kw: Any) -> Any:
    return typer.Option(
        f"--{flag}", envvar=None, help=f"{help} (env {env})", show_default=False, **kw
    )


ScenariosOpt = Annotated[
    str | None,
    _opt(
        "scenarios",
        "STREAM_SCENARIOS",
        "Scenarios mixed into the stream, e.g. lgpd-erasure,clinical-notes, or all.",
    ),
]
ScenarioEveryOpt = Annotated[
    float | None,
    _opt(
        "scenario-every",
        "STREAM_SCENARIO_EVERY",
        "One scenario occurrence per N stream transactions on average (default 100).",
    ),
]
ScenarioHoldOpt = Annotated[
    str | None,
    _opt(
        "scenario-hold",
        "SCENARIO_HOLD_SECONDS",
        "How long long-report keeps its transaction open: 180, 90s, 3m (default 180 s).",
    ),
]


def print_summary(summary: Any, *, as_json: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps({"summary": summary.as_dict()}, sort_keys=True))
        return
    for line in summary.lines():
        typer.echo(line)


def write_summary(path: Path, summary: Any) -> None:
    """Write the summary JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(summary.as_dict(), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def stream(
    ctx: typer.Context,
    rate: Annotated[
        float | None, _opt("rate", "STREAM_RATE", "Events/s over all workers, open loop.")
    ] = None,
    workers: Annotated[
        int | None, _opt("workers", "STREAM_WORKERS", "Concurrent connections.")
    ] = None,
    txn_size: Annotated[
        int | None, _opt("txn-size", "STREAM_TXN_SIZE", "Events per transaction.")
    ] = None,
    profile: Annotated[
        str | None,
        _opt("profile", "STREAM_PROFILE", "Rate shape: constant, ramp or hospital-day."),
    ] = None,
    time_scale: Annotated[
        float | None,
        _opt("time-scale", "STREAM_TIME_SCALE", "Profile clock speed (24: a day per hour)."),
    ] = None,
    ramp_seconds: Annotated[
        float | None, _opt("ramp-seconds", "STREAM_RAMP_SECONDS", "Ramp profile duration.")
    ] = None,
    model: Annotated[
        str | None,
        _opt("model", "STREAM_MODEL", "mix (weighted draw) or hospital (lifecycles, beds)."),
    ] = None,
    beds: Annotated[int | None, _opt("beds", "STREAM_BEDS", "Beds of the hospital model.")] = None,
    occupancy: Annotated[
        float | None,
        _opt("occupancy", "STREAM_OCCUPANCY", "Target bed occupancy of the hospital model."),
    ] = None,
    clinic_slots: Annotated[
        int | None,
        _opt(
            "clinic-slots",
            "STREAM_CLINIC_SLOTS",
            "Hospital model: appointments per doctor per day, at most.",
        ),
    ] = None,
    weights: Annotated[
        str | None,
        _opt(
            "weights",
            "STREAM_WEIGHTS",
            "Weights over the defaults: insert_consulta=40,update_exame=0.",
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            help="Stop after this many seconds.",
            min=0,
            callback=number_range(0, MAX_RUN_SECONDS, unit="seconds"),
        ),
    ] = None,
    events: Annotated[
        int | None, typer.Option("--events", help="Stop after this many events.", min=0)
    ] = None,
    seed: Annotated[
        int | None, _opt("seed", "HOSPITAL_SIM_SEED", "Same seed: same operations and values.")
    ] = None,
    shard_index: Annotated[
        int | None, _opt("shard-index", "STREAM_SHARD_INDEX", "This process's shard.")
    ] = None,
    shard_count: Annotated[
        int | None, _opt("shard-count", "STREAM_SHARD_COUNT", "Processes sharing the database.")
    ] = None,
    metrics_port: Annotated[
        int | None, _opt("metrics-port", "STREAM_METRICS_PORT", "Serve Prometheus /metrics.")
    ] = None,
    interval: Annotated[
        float | None,
        _opt("interval", "STREAM_INTERVAL_SECONDS", "Pause between events without --rate."),
    ] = None,
    jitter_ms: Annotated[
        int | None, _opt("jitter-ms", "MAX_JITTER_MS", "Random extra pause, 0..N ms.")
    ] = None,
    max_lag: Annotated[
        float | None,
        _opt(
            "max-lag",
            "STREAM_MAX_LAG_SECONDS",
            "With --rate: skip events later than this many seconds (bounded catch-up).",
        ),
    ] = None,
    summary_json: Annotated[
        Path | None,
        typer.Option(
            "--summary-json",
            help="Also write the final summary as JSON to this file (also on Ctrl-C/SIGTERM).",
            show_default=False,
        ),
    ] = None,
    scenarios: ScenariosOpt = None,
    scenario_every: ScenarioEveryOpt = None,
    scenario_hold: ScenarioHoldOpt = None,
    dashboard: Annotated[bool, DashboardOpt] = False,
) -> None:
    """Write a continuous stream of INSERTs and UPDATEs until Ctrl-C (or --duration/--events)."""
    flags: dict[str, Any] = {
        "stream_scenarios": scenarios,
        "stream_scenario_every": scenario_every,
        "scenario_hold_seconds": scenario_hold,
        "stream_rate": rate,
        "stream_workers": workers,
        "stream_txn_size": txn_size,
        "stream_profile": profile,
        "stream_time_scale": time_scale,
        "stream_ramp_seconds": ramp_seconds,
        "stream_weights": weights,
        "stream_model": model,
        "stream_beds": beds,
        "stream_occupancy": occupancy,
        "stream_clinic_slots": clinic_slots,
        "random_seed": seed,
        "stream_shard_index": shard_index,
        "stream_shard_count": shard_count,
        "metrics_port": metrics_port,
        "stream_interval_seconds": interval,
        "max_jitter_ms": jitter_ms,
        "stream_max_lag_seconds": max_lag,
    }
    if summary_json is not None:
        check_writable_file(summary_json, "--summary-json")
    stream_with(
        settings(ctx, **flags),
        duration=duration,
        events=events,
        summary_json=summary_json,
        json_summary=state(ctx).log_format == "json",
        dashboard=dashboard,
    )


def stream_with(
    s: Settings,
    *,
    duration: float | None = None,
    events: int | None = None,
    summary_json: Path | None = None,
    json_summary: bool = False,
    dashboard: bool = False,
) -> None:
    """Run the stream with loaded settings and print the summary (also used by ``run``)."""
    from hospital_sim.cli.scenario_mix import scenario_mix

    mix = scenario_mix(s)  # an unknown scenario fails here, before anything runs
    run = functools.partial(
        _stream,
        duration=duration,
        events=events,
        summary_json=summary_json,
        json_summary=json_summary,
        mix=mix,
    )
    if dashboard:
        with _dashboard(s) as s:
            run(s)
    else:
        run(s)


@contextmanager
def _dashboard(s: Settings) -> Iterator[Settings]:
    """Serve the dashboard next to the stream; it reads the stream's own /metrics."""
    from hospital_sim.web.run import start_dashboard, with_stream_metrics

    s, url = with_stream_metrics(s)
    server = start_dashboard(s, metrics_urls=[url])
    typer.echo(f"dashboard: {server.url}", err=True)
    try:
        yield s
    finally:
        server.stop()


def _stream(
    s: Settings,
    *,
    duration: float | None,
    events: int | None,
    summary_json: Path | None,
    json_summary: bool,
    mix: ScenarioMix | None = None,
) -> None:
    from hospital_sim.cli.slot_metrics import slot_collectors
    from hospital_sim.stream.run import run_stream

    if s.stream_rate is not None and sys.stderr.isatty():
        # On a terminal, a live view replaces the once-a-second progress lines.
        from hospital_sim.cli.live import live_view

        with live_view() as show:
            summary = run_stream(
                s,
                duration=duration,
                events=events,
                progress=show,
                collectors=slot_collectors,
                scenarios=mix,
            )
    else:
        summary = run_stream(
            s, duration=duration, events=events, collectors=slot_collectors, scenarios=mix
        )
    if summary_json is not None:
        write_summary(summary_json, summary)
    print_summary(summary, as_json=json_summary)
    if summary.failure:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("stream")(stream)
