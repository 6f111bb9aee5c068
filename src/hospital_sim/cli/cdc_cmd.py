"""``hospital-sim cdc ...`` and ``hospital-sim demo``: thin layers over ``hospital_sim.cdc``.

Exit codes: 0 identical (or done), 1 differs, 2 unusable input or configuration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from hospital_sim.cli.common import (
    MAX_RUN_SECONDS,
    check_writable_file,
    number_range,
    settings,
    silence_stdout,
)
from hospital_sim.config import DAY
from hospital_sim.errors import UserError
from hospital_sim.signals import stop_on_signals

app = typer.Typer(
    help="Change data capture: setup, capture, verify, diff, status, teardown.",
    no_args_is_help=True,
)

# STREAM_RATE's bound: the demo's rate becomes the stream's.
MAX_DEMO_RATE = 1_000_000

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _err(message: str) -> None:
    typer.echo(message, err=True)


@app.command("setup")
def setup(
    ctx: typer.Context,
    replica_identity: Annotated[
        str | None,
        typer.Option(
            "--replica-identity",
            help="default (key only in 'before') or full (whole old row); unset: unchanged.",
            show_default=False,
        ),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="Table(s) --replica-identity applies to; default: all 7."),
    ] = None,
    register: Annotated[
        str | None,
        typer.Option(
            "--register",
            help="Kafka Connect REST URL (e.g. http://localhost:8083): create or update "
            "the connector there and report its state.",
            show_default=False,
        ),
    ] = None,
    new_password: Annotated[
        bool,
        typer.Option("--new-password", help="Generate a new password for an existing role."),
    ] = False,
    for_post: Annotated[
        bool,
        typer.Option(
            "--for-post",
            help='Print {"name", "config"}, the body of POST /connectors (default: the '
            "config alone, the body of PUT /connectors/<name>/config).",
        ),
    ] = False,
) -> None:
    """Publication, replica identity and CDC role; print a Debezium connector config."""
    from hospital_sim.cdc.capture.connector import CHOICES
    from hospital_sim.cdc.capture.setup import setup_cdc

    if replica_identity not in (None, "default", "full"):
        raise typer.BadParameter(
            f"{replica_identity!r}; accepted: default, full", param_hint="--replica-identity"
        )
    mode: Literal["default", "full"] | None = replica_identity  # type: ignore[assignment]
    result = setup_cdc(
        settings(ctx),
        replica_identity_mode=mode,
        tables=table,
        register_url=register,
        new_password=new_password,
    )
    if result.restarted_embedded:
        _err("restarted the embedded server with wal_level=logical")
    _err(f"publication {result.publication}: {result.publication_action} (7 tables)")
    _err("replica identity: " + ", ".join(f"{t}={m}" for t, m in result.replica_identity.items()))
    _err(
        f"role {result.role}: {'created' if result.role_created else 'updated'} "
        "(LOGIN REPLICATION, SELECT on the 7 tables, not superuser)"
    )
    if result.generated_password:
        _err(
            "a password was generated for the role; it is in database.password below and is "
            "shown only this once: store it (e.g. CDC_PASSWORD in config/.env)"
        )
    for key, (value, why) in CHOICES.items():
        _err(f"{key}={value}: {why}")
    body = (
        {"name": result.connector["name"], "config": result.connector}
        if for_post
        else result.connector
    )
    typer.echo(json.dumps(body, indent=2))
    if result.registered is not None:
        state = result.registered
        tasks = ", ".join(state.tasks) or "no tasks yet"
        _err(f"connector {state.name} registered: {state.state} ({tasks})")
        if state.trace:
            _err(f"  task error: {state.trace}")


@app.command("teardown")
def teardown(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop the slots (named CDC_SLOT*), the publication (and those the Debezium connector
    created for our slots) and the CDC role."""
    from hospital_sim.cdc.capture.setup import teardown_cdc

    s = settings(ctx)
    if not yes:
        typer.confirm(
            f"Drop slots {s.cdc_slot}*, publication {s.cdc_publication} and role "
            f"{s.cdc_role}? Pipelines reading them will stop",
            abort=True,
        )
    result = teardown_cdc(s)
    typer.echo(f"slots dropped: {', '.join(result.slots) or 'none'}")
    typer.echo(f"publication: {'dropped' if result.publication_dropped else 'not there'}")
    made = ", ".join(result.connector_publications)
    typer.echo(
        f"publications the Debezium connector created: {'dropped ' + made if made else 'none'}"
    )
    typer.echo(f"role: {'dropped' if result.role_dropped else 'not there'}")


@app.command("capture")
def capture(
    ctx: typer.Context,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Change log file (appended to), or - for stdout.")
    ] = "-",
    idle_timeout: Annotated[
        float | None,
        typer.Option(
            "--idle-timeout",
            help="Stop after this many seconds without changes.",
            callback=number_range(0, MAX_RUN_SECONDS, low_open=True, unit="seconds"),
        ),
    ] = None,
    until_lsn: Annotated[
        str | None,
        typer.Option("--until-lsn", help="Stop once caught up to this LSN (e.g. 0/16B3748)."),
    ] = None,
    until_current: Annotated[
        bool,
        typer.Option("--until-current", help="Stop once caught up to the WAL position at start."),
    ] = False,
    snapshot: Annotated[
        bool | None,
        typer.Option(
            "--snapshot/--no-snapshot",
            help="When creating the slot, first write the existing rows as op r events "
            "(default: yes). A resumed slot never snapshots.",
            show_default=False,
        ),
    ] = None,
    slot: Annotated[
        str | None,
        typer.Option(
            "--slot",
            help="Slot name (overrides CDC_SLOT; Debezium's default is CDC_SLOT + _debezium).",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="builtin (our pgoutput decoder) or debezium (the real Debezium PostgreSQL "
            "connector in process; needs the hospital-sim[debezium] extra and Java 17+).",
        ),
    ] = "builtin",
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            help="Stop after this many seconds.",
            show_default=False,
            callback=number_range(0, MAX_RUN_SECONDS, low_open=True, unit="seconds"),
        ),
    ] = None,
    prop: Annotated[
        list[str] | None,
        typer.Option(
            "--prop",
            help="Debezium connector property key=value (repeatable), e.g. "
            "skipped.operations=none. Only with --engine debezium.",
            show_default=False,
        ),
    ] = None,
    offset_file: Annotated[
        Path | None,
        typer.Option(
            "--offset-file",
            help="Debezium's offset file (default: the change log's name + .offsets).",
            show_default=False,
        ),
    ] = None,
    transaction_metadata: Annotated[
        bool,
        typer.Option(
            "--transaction-metadata",
            help="Write Debezium's BEGIN/END transaction events with per-table event counts "
            "(like provide.transaction.metadata=true).",
        ),
    ] = False,
) -> None:
    """Write change events as Debezium JSON lines until Ctrl-C, a duration, idle or an LSN."""
    import threading

    if engine not in ("builtin", "debezium"):
        raise typer.BadParameter(f"{engine!r}; accepted: builtin, debezium", param_hint="--engine")
    if output != "-":
        check_writable_file(Path(output), "--output")
    if offset_file is not None:
        check_writable_file(offset_file, "--offset-file")
    if engine == "debezium":
        _capture_debezium(
            ctx,
            output=output,
            slot=slot,
            snapshot=snapshot,
            until_lsn=until_lsn,
            until_current=until_current,
            idle_timeout=idle_timeout,
            duration=duration,
            prop=prop,
            offset_file=offset_file,
        )
        return
    for flag, given in (("--prop", prop), ("--offset-file", offset_file)):
        if given:
            raise typer.BadParameter("only with --engine debezium", param_hint=flag)
    from hospital_sim.cdc.capture.builtin import Capture

    s = settings(ctx, cdc_slot=slot)
    cap = Capture(
        s,
        output=output,
        snapshot=snapshot,
        idle_timeout=idle_timeout,
        until_lsn=until_lsn,
        until_current=until_current,
        transaction_metadata=transaction_metadata,
    )
    timer = None
    if duration is not None:
        timer = threading.Timer(duration, cap.stop, args=("duration",))
        timer.daemon = True
        timer.start()
    try:
        with stop_on_signals(cap.stop):
            result = cap.run()
    except BrokenPipeError:
        # Closed during the snapshot: the unfinished slot was dropped, as on any failure.
        silence_stdout()
        _err("capture stopped: output closed during the snapshot; the next capture starts over")
        return
    finally:
        if timer is not None:
            timer.cancel()
    if result.stopped_by == "output closed":
        silence_stdout()  # nothing more can reach the reader; exit quietly
    for line in result.lines():
        _err(line)


def _capture_debezium(
    ctx: typer.Context,
    *,
    output: str,
    slot: str | None,
    snapshot: bool | None,
    until_lsn: str | None,
    until_current: bool,
    idle_timeout: float | None,
    duration: float | None,
    prop: list[str] | None,
    offset_file: Path | None,
) -> None:
    from hospital_sim.cdc.capture.debezium import DebeziumCapture, parse_props

    if until_lsn is not None:
        raise typer.BadParameter(
            "not with --engine debezium; use --until-current, --duration or --idle-timeout",
            param_hint="--until-lsn",
        )
    cap = DebeziumCapture(
        settings(ctx),
        output=output,
        slot=slot,
        snapshot=snapshot,
        offset_file=offset_file,
        duration=duration,
        idle_timeout=idle_timeout,
        until_current=until_current,
        props=parse_props(prop),
    )
    with stop_on_signals(cap.stop):
        result = cap.run()
    for line in result.lines():
        _err(line)


@app.command("verify")
def verify(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Change log: JSON lines, or - for stdin.")],
    expected_dir: Annotated[
        Path | None,
        typer.Option("--expected-dir", help="Compare with <table>.csv dumps, not the source."),
    ] = None,
    baseline_dir: Annotated[
        Path | None,
        typer.Option("--baseline-dir", help="Rows before the log began (<table>.csv dumps)."),
    ] = None,
    as_json: JsonOpt = False,
    wait_quiescent: Annotated[
        float,
        typer.Option(
            "--wait-quiescent",
            help="Seconds the source and the log must stay unchanged before comparing.",
            callback=number_range(0, DAY, unit="seconds"),
        ),
    ] = 2.0,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="Event-level proof instead: match every change event with this reference "
            "log (written by 'cdc capture' started before the workload); needs no database.",
            show_default=False,
        ),
    ] = None,
    allow_redelivery: Annotated[
        bool,
        typer.Option(
            "--allow-redelivery",
            help="Accept duplicate events (at-least-once redelivery); still counted and shown.",
        ),
    ] = False,
) -> None:
    """Replay a change log and compare it with the source; exit 1 when it differs."""
    from hospital_sim.cdc.verify.check import prove_log, verify_log

    if reference is not None:
        if expected_dir is not None or baseline_dir is not None:
            raise UserError(
                "--reference compares two change logs; --expected-dir and --baseline-dir "
                "belong to the state comparison (run it without --reference)"
            )
        proof = prove_log(file, reference, allow_redelivery=allow_redelivery)
        typer.echo(json.dumps(proof.to_dict(), indent=2) if as_json else proof.render())
        if not proof.ok:
            raise typer.Exit(1)
        return
    report = verify_log(
        settings(ctx, log_to_file=False),
        file,
        expected_dir=expected_dir,
        baseline_dir=baseline_dir,
        wait_quiescent=wait_quiescent,
        allow_redelivery=allow_redelivery,
    )
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.render_table())
    if not report.identical:
        raise typer.Exit(1)


@app.command("diff")
def diff(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Option("--target", help="DSN of the database the pipeline writes to.")
    ],
    target_schema: Annotated[
        str, typer.Option("--target-schema", help="Schema of the tables in the target.")
    ] = "public",
    table_prefix: Annotated[
        str, typer.Option("--table-prefix", help="Prefix of the table names in the target.")
    ] = "",
    chunk: Annotated[int, typer.Option("--chunk", help="Rows per hashed chunk.", min=1)] = 10_000,
    as_json: JsonOpt = False,
) -> None:
    """Compare the 7 source tables with a target database by key; exit 1 when they differ."""
    from hospital_sim.cdc.verify.diff import diff_databases, render_diff

    report = diff_databases(
        settings(ctx, log_to_file=False),
        target,
        target_schema=target_schema,
        table_prefix=table_prefix,
        chunk=chunk,
    )
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else render_diff(report))
    if not report.identical:
        raise typer.Exit(1)


@app.command("status")
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Slots and their WAL lag, publication coverage, replica identity per table."""
    from hospital_sim.cdc.capture.status import cdc_status

    result = cdc_status(settings(ctx, log_to_file=False))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    for line in result.lines():
        typer.echo(line)


def demo(
    ctx: typer.Context,
    seconds: Annotated[
        float,
        typer.Option(
            "--seconds",
            help="How long to stream.",
            min=0,
            callback=number_range(0, DAY, unit="seconds"),
        ),
    ] = 10.0,
    rate: Annotated[
        float,
        typer.Option(
            "--rate",
            help="Stream events/s.",
            min=0.1,
            callback=number_range(0.1, MAX_DEMO_RATE, unit="events/s"),
        ),
    ] = 200.0,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="Where to write the change log.", show_default=False),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="Capture with builtin (our decoder) or debezium (the real connector in "
            "process; needs the hospital-sim[debezium] extra and Java 17+).",
        ),
    ] = "builtin",
) -> None:
    """Seed, stream, capture and verify in a fresh demo database; exit 0 when identical."""
    from hospital_sim.demo import run_demo

    if engine not in ("builtin", "debezium"):
        raise typer.BadParameter(f"{engine!r}; accepted: builtin, debezium", param_hint="--engine")
    if log is not None:
        check_writable_file(log, "--log")  # and its folder, where the reference log goes
    result = run_demo(settings(ctx), seconds=seconds, rate=rate, log_path=log, engine=engine)
    for line in result.lines():
        typer.echo(line)
    if not result.identical:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cdc")
    root.command("demo")(demo)
