"""``hospital-sim db``: the embedded PostgreSQL server."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from hospital_sim.cli.common import settings
from hospital_sim.db.connect import ensure_database, resolve_target
from hospital_sim.db.locate import record
from hospital_sim.db.server import embedded_server

app = typer.Typer(help="Manage the embedded PostgreSQL server.", no_args_is_help=True)


@app.command("start")
def start(ctx: typer.Context) -> None:
    """Start the embedded server (initialising it on first use)."""
    s = settings(ctx)
    server = embedded_server(s)
    started = server.start()
    record(server)
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
    elif st.stale_pid is not None:
        typer.echo(
            f"not running: it stopped unexpectedly (pid {st.stale_pid} is gone); "
            f"'hospital-sim db start' starts it again (data in {st.pgdata})"
        )
        raise typer.Exit(1)
    else:
        typer.echo(f"not running (data in {st.pgdata})")
        raise typer.Exit(1)


@app.command("url")
def url(
    ctx: typer.Context,
    with_password: Annotated[
        bool,
        typer.Option(
            "--with-password",
            help="Put the embedded superuser's password in the URL, for clients that do "
            "not read libpq's passfile (JDBC...).",
        ),
    ] = False,
) -> None:
    """Print a connection URL for psql and other clients.

    For the embedded server the URL names its password file (passfile=, read by psql and
    every libpq client), so the password itself is not printed.
    """
    s = settings(ctx, log_to_file=False)
    target = resolve_target(s)
    if not target.embedded:
        typer.echo(target.display)
        return
    server = embedded_server(s)
    where = f"127.0.0.1:{s.embedded_port}/{quote(s.pg_database)}"
    password = server.password()
    if with_password and password is not None:
        typer.echo(f"postgresql://postgres:{quote(password, safe='')}@{where}")
    else:
        passfile = quote(str(server.password_file), safe="/")
        typer.echo(f"postgresql://postgres@{where}?passfile={passfile}")
