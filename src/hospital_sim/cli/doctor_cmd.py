"""``hospital-sim doctor`` and ``test-connection``."""

from __future__ import annotations

import typer

from hospital_sim.cli.common import settings
from hospital_sim.db.doctor import diagnose, test_connection


def doctor(ctx: typer.Context) -> None:
    """Check the server for what streaming and CDC need, and say what to fix."""
    target, checks = diagnose(settings(ctx))
    typer.echo(f"target: {target.display}{' (embedded)' if target.embedded else ''}")
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        line = f"[{mark}] {check.name}: {check.detail}"
        if check.fix:
            line += f"  -> {check.fix}"
        typer.echo(line)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def test_connection_cmd(ctx: typer.Context) -> None:
    """Connect once, retrying up to HOSPITAL_SIM_CONNECT_TIMEOUT seconds; exit 2 on failure."""
    target, info = test_connection(settings(ctx))
    typer.echo(
        f"connected to {target.host_port}: PostgreSQL {info.version}, wal_level={info.wal_level}"
    )


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("test-connection")(test_connection_cmd)
