"""``hospital-sim db``: the embedded PostgreSQL server."""

from __future__ import annotations

import typer

from hospital_sim.cli.common import settings
from hospital_sim.db.connect import ensure_database, resolve_target
from hospital_sim.db.server import embedded_server

app = typer.Typer(help="Manage the embedded PostgreSQL server.", no_args_is_help=True)


@app.command("start")
def start(ctx: typer.Context) -> None:
    """Start the embedded server (initialising it on first use)."""
    s = settings(ctx)
    server = embedded_server(s)
    started = server.start()
    ensure_database(resolve_target(s), deadline=s.connect_timeout)
    word = "started" if started else "already running"
    typer.echo(f"embedded PostgreSQL {word} on 127.0.0.1:{server.port} (data: {server.pgdata})")


@app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the embedded server."""
    server = embedded_server(settings(ctx))
    typer.echo("stopped" if server.stop() else "not running")


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Say whether the embedded server runs; exit 1 when it does not."""
    s = settings(ctx, log_to_file=False)
    if not s.uses_embedded:
        typer.echo(
            "note: a server is configured (PG_HOST or DATABASE_URL); the embedded one is not used",
            err=True,
        )
    st = embedded_server(s).status()
    if st.running:
        typer.echo(f"running (pid {st.pid}) on 127.0.0.1:{st.port}, data in {st.pgdata}")
    else:
        typer.echo(f"not running (data in {st.pgdata})")
        raise typer.Exit(1)


@app.command("url")
def url(ctx: typer.Context) -> None:
    """Print a connection URL for psql and other clients."""
    s = settings(ctx, log_to_file=False)
    target = resolve_target(s)
    if target.embedded:
        typer.echo(f"postgresql://postgres@127.0.0.1:{s.embedded_port}/{s.pg_database}")
    else:
        typer.echo(target.display)
