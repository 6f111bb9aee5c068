"""``hospital-sim dashboard``: a live web page over the database and the streams' metrics."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from hospital_sim.cli.common import settings
from hospital_sim.errors import ConfigError
from hospital_sim.signals import stop_on_signals

FLAG_OF = {
    "dashboard_host": "host",
    "dashboard_port": "port",
    "dashboard_refresh_seconds": "refresh",
    "dashboard_beds": "beds",
}


def _opt(flag: str, env: str, help: str, **kw: Any) -> Any:
    return typer.Option(f"--{flag}", help=f"{help} (env {env})", show_default=False, **kw)


def dashboard(
    ctx: typer.Context,
    metrics_url: Annotated[
        list[str] | None,
        typer.Option(
            "--metrics-url",
            help="A stream's /metrics (stream --metrics-port); repeat for several streams.",
            show_default=False,
        ),
    ] = None,
    verify_report: Annotated[
        Path | None,
        typer.Option(
            "--verify-report",
            help="JSON of 'cdc verify --json' to show its verdict (re-read when it changes).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str | None, _opt("host", "DASHBOARD_HOST", "Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, _opt("port", "DASHBOARD_PORT", "Port to listen on; 0: any free one.")
    ] = None,
    refresh: Annotated[
        float | None, _opt("refresh", "DASHBOARD_REFRESH_SECONDS", "Seconds between reads.")
    ] = None,
    beds: Annotated[
        int | None,
        _opt("beds", "DASHBOARD_BEDS", "Beds, for occupancy (default: the hospital model's)."),
    ] = None,
) -> None:
    """Serve a live dashboard of the hospital, the streams and CDC until Ctrl-C."""
    from hospital_sim.web.run import start_dashboard

    flags: dict[str, Any] = {
        "dashboard_host": host,
        "dashboard_port": port,
        "dashboard_refresh_seconds": refresh,
        "dashboard_beds": beds,
    }
    try:
        s = settings(ctx, **flags)
    except ConfigError as exc:
        message = exc.message
        for field, flag in FLAG_OF.items():
            message = message.replace(f"--{field.replace('_', '-')}=", f"--{flag}=")
        raise ConfigError(message) from None
    server = start_dashboard(s, metrics_urls=metrics_url or [], verify_report=verify_report)
    typer.echo(f"dashboard: {server.url} (Ctrl-C to stop)")
    stop = threading.Event()
    with stop_on_signals(lambda _name: stop.set()):
        while not stop.wait(0.5):
            if not server.thread.is_alive():
                break
    server.stop()


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)
