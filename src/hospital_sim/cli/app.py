"""The root ``hospital-sim`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hospital_sim import __version__
from hospital_sim.cli import (
    cdc_cmd,
    config_cmd,
    dashboard_cmd,
    db_cmd,
    doctor_cmd,
    scenario_cmd,
    schema_cmd,
    stream_cmd,
)
from hospital_sim.cli.common import State, silence_stdout
from hospital_sim.config import DEFAULT_CONFIG_DIR
from hospital_sim.errors import HospitalSimError

app = typer.Typer(
    name="hospital-sim",
    help="A realistic hospital OLTP simulator for PostgreSQL, for testing CDC pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # DSNs hold passwords
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hospital-sim {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config_dir: Annotated[
        Path | None,
        typer.Option(
            "--config-dir",
            envvar="HOSPITAL_SIM_CONFIG_DIR",
            help="Folder holding settings.toml and .env (must exist when given).",
            show_default="config",
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="DEBUG, INFO, WARNING, ERROR or CRITICAL (overrides LOG_LEVEL).",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Console log format: text or json.")
    ] = "text",
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Create, seed and stream a hospital database; verify what a CDC pipeline captured."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter(f"{log_format!r}; accepted: text, json", param_hint="--log-format")
    ctx.obj = State(
        config_dir=config_dir or DEFAULT_CONFIG_DIR,
        config_dir_given=config_dir is not None,
        log_level=log_level,
        log_format="json" if log_format == "json" else "text",
    )


schema_cmd.register(app)
stream_cmd.register(app)
doctor_cmd.register(app)
cdc_cmd.register(app)
scenario_cmd.register(app)
dashboard_cmd.register(app)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")


def _usage_line(exc: typer.TyperException) -> str:
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        return f"error: {message} (see '{ctx.command_path} --help')"
    return f"error: {message}"


# SQLSTATE 42501: the role lacks a privilege (a table's, the database's, a schema's).
_INSUFFICIENT_PRIVILEGE = "42501"


def _refused_line(exc: BaseException) -> str | None:
    """The one line for a database error that is the user's to fix, else None."""
    if getattr(exc, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
        return None
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "permission denied"
    return (
        f"error: the server refused: {reason}; connect as a role that holds that privilege "
        "(the tables' owner or a superuser, see PG_USER/DATABASE_URL) or GRANT it to this one"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: every user error is one line on stderr and exit code 2.

    Library errors carry their own message; usage errors (unknown flag, bad flag value)
    are Click's, flattened to one line instead of the framed block.
    """
    try:
        code = app(args=argv, prog_name="hospital-sim", standalone_mode=False)
    except HospitalSimError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.TyperException as exc:
        typer.echo(_usage_line(exc), err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except BrokenPipeError:
        # The reader went away (e.g. '| head'): stop quietly, as other command-line tools do.
        silence_stdout()
        sys.exit(141)
    except Exception as exc:
        line = _refused_line(exc)
        if line is None:
            raise
        typer.echo(line, err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
