"""``hospital-sim demo``: the whole CDC story on one screen, in its own database.

Embedded (or configured) server -> a fresh ``<database>_demo`` -> init -> cdc setup ->
a reference capture and the capture under test in background threads (each on its own
slot) -> seed -> stream for N seconds -> stop -> both captures catch up to the WAL position
at that moment -> verify the change log against the source (the state comparison) and
against the reference log (the event-level proof), and print both verdicts. The demo never
touches the user's own database; its slots are dropped at the end (a forgotten slot would
hold WAL forever), its database and change logs are kept.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import conninfo as pg_conninfo
from psycopg import sql
from pydantic import SecretStr

from hospital_sim.cdc.capture.builtin import Capture, CaptureResult
from hospital_sim.cdc.capture.debezium import DebeziumCapture, DebeziumResult
from hospital_sim.cdc.capture.setup import ensure_logical, setup_cdc
from hospital_sim.cdc.capture.slots import drop_slot
from hospital_sim.cdc.verify.check import prove_log, verify_log
from hospital_sim.cdc.verify.compare import VerifyReport
from hospital_sim.cdc.verify.proof import ProofReport
from hospital_sim.config import Settings
from hospital_sim.db.connect import Target, connection
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import HospitalSimError

__all__ = ["DemoResult", "demo_settings", "run_demo"]

log = logging.getLogger(__name__)

Say = Callable[[str], None]


@dataclass
class DemoResult:
    database: str
    log_path: Path
    seed_rows: dict[str, int]
    stream_events: Counter[tuple[str, str]]
    """(operation, table) -> committed events of the stream."""
    stream_seconds: float
    capture: CaptureResult | DebeziumResult
    report: VerifyReport
    proof: ProofReport
    reference_path: Path

    @property
    def identical(self) -> bool:
        return self.report.identical and self.proof.ok

    def lines(self) -> list[str]:
        seeded = ", ".join(f"{t} {n}" for t, n in self.seed_rows.items())
        total_stream = sum(self.stream_events.values())
        per_op: Counter[str] = Counter()
        for (op, _), n in self.stream_events.items():
            per_op[op] += n
        ops = ", ".join(f"{op} {n}" for op, n in sorted(per_op.items()))
        cap = self.capture
        by_op = Counter(op for (_, op) in cap.by_table_op.elements())
        out = [
            f"database {self.database}",
            "",
            "generated",
            f"  seed: {sum(self.seed_rows.values())} rows ({seeded})",
            f"  stream: {total_stream} row changes in {self.stream_seconds:.1f} s "
            f"({ops or 'none'})",
            "",
            f"captured ({self.log_path})",
            f"  {sum(cap.by_table_op.values())} events: "
            + ", ".join(f"{op} {by_op[op]}" for op in "rcud" if by_op[op]),
        ]
        for table in TABLES:
            counts = {op: cap.by_table_op[(table, op)] for op in "rcud"}
            shown = ", ".join(f"{op} {n}" for op, n in counts.items() if n)
            out.append(f"    {table:<20} {shown or '-'}")
        if cap.latencies_ms:
            out.append(
                f"  commit-to-written latency per transaction: p50 {cap.latency_ms(50)} ms, "
                f"p99 {cap.latency_ms(99)} ms"
            )
        out += ["", "verify against the source (state comparison)", self.report.render_table()]
        out += [
            "",
            f"verify against the reference log {self.reference_path} (event-level proof)",
            self.proof.render(),
            "",
            f"state:  {self.report.verdict()}",
            f"events: {self.proof.summary()}",
        ]
        return out


def demo_settings(settings: Settings, *, rate: float | None) -> Settings:
    """The settings pointed at ``<database>_demo``, with the demo's stream rate."""
    base = prepare_target(settings)
    name = f"{base.dbname}_demo"
    update: dict[str, Any] = {"stream_rate": rate, "cdc_slot": f"{settings.cdc_slot}_demo"}
    if settings.database_url is not None:
        url = pg_conninfo.make_conninfo(settings.database_url.get_secret_value(), dbname=name)
        update["database_url"] = SecretStr(url)
    else:
        update["pg_database"] = name
    return settings.model_copy(update=update)


def _recreate_database(target: Target, settings: Settings) -> None:
    """Drop the previous demo database (its slots first: they block DROP DATABASE)."""
    with connection(target.with_dbname("postgres"), deadline=settings.connect_timeout) as conn:
        slots = conn.execute(
            "SELECT slot_name::text FROM pg_replication_slots WHERE database = %s",
            (target.dbname,),
        ).fetchall()
        for (slot,) in slots:
            drop_slot(conn, str(slot))
        ident = sql.Identifier(target.dbname)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


class _Background:
    """Runs the capture in a thread and hands back its result or its exception."""

    def __init__(self, capture: Capture | DebeziumCapture) -> None:
        self.capture = capture
        self.result: CaptureResult | DebeziumResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="cdc-capture", daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.capture.run()
        except BaseException as exc:  # re-raised in the caller's thread
            self.error = exc

    def join(self) -> CaptureResult | DebeziumResult:
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _stream(settings: Settings, seconds: float) -> tuple[Counter[tuple[str, str]], float]:
    from hospital_sim.stream.run import run_stream  # Faker and numpy load only here

    summary = run_stream(settings, duration=seconds)
    if summary.failure:
        raise HospitalSimError(f"the demo's stream failed: {summary.failure}")
    committed = Counter(
        {
            (op, table): n
            for (op, table, outcome), n in summary.stats.events.items()
            if outcome == "committed"
        }
    )
    return committed, summary.elapsed


def _current_lsn(target: Target, settings: Settings) -> str:
    with connection(target, deadline=settings.connect_timeout) as conn:
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def run_demo(
    settings: Settings,
    *,
    seconds: float = 10.0,
    rate: float | None = 200.0,
    log_path: Path | None = None,
    say: Say | None = None,
    engine: str = "builtin",
) -> DemoResult:
    """Run the demo end to end and return what happened; see the module docstring.

    ``engine="debezium"`` captures with the real Debezium connector in process
    (:mod:`hospital_sim.cdc.capture.debezium`) instead of the built-in decoder.
    """
    from hospital_sim.db.seed import seed_database  # Faker and numpy load only here

    def step(message: str) -> None:
        log.info("demo: %s", message)
        if say is not None:
            say(message)

    cfg = demo_settings(settings, rate=rate)
    target = prepare_target(cfg, create=True)
    # Before anything is created: a server that cannot decode changes leaves no demo
    # database behind (the embedded one is restarted with wal_level=logical here).
    ensure_logical(cfg, target.with_dbname("postgres"))
    step(f"creating database {target.dbname} on {target.host_port}")
    _recreate_database(target, cfg)
    init_database(cfg)
    setup_cdc(cfg)
    path = log_path or settings.embedded_dir.resolve() / "demo" / "changes.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    reference_path = path.with_name("reference.jsonl")
    reference_path.unlink(missing_ok=True)
    reference_slot = f"{cfg.cdc_slot}_ref"
    # The reference starts first, so it sees every change the capture under test sees.
    ref_capture = Capture(
        cfg.model_copy(update={"cdc_slot": reference_slot}), output=reference_path
    )
    reference = _Background(ref_capture)
    reference.thread.start()
    reference.capture.ready.wait()
    if reference.error is not None:
        reference.join()
    capture: Capture | DebeziumCapture
    if engine == "debezium":
        # A fresh database every time: no offsets to resume from, no slot to keep.
        Path(f"{path}.offsets").unlink(missing_ok=True)
        capture = DebeziumCapture(
            cfg, output=path, snapshot=True, props={"slot.drop.on.stop": "true"}
        )
    else:
        capture = Capture(cfg, output=path, snapshot=True)
    background = _Background(capture)
    background.thread.start()
    background.capture.ready.wait()
    if background.error is not None:
        reference.capture.stop()
        reference.thread.join()
        background.join()
    try:
        step(f"capture running (slot {cfg.cdc_slot}); seeding")
        seeded = seed_database(cfg)
        step(f"streaming for {seconds:g} s at {rate or 'interval-paced'} events/s")
        events, elapsed = _stream(cfg, seconds)
        lsn = _current_lsn(target, cfg)
        step(f"stream stopped; capture catching up to {lsn}")
        if isinstance(capture, DebeziumCapture):
            capture.stop_at_current()
        else:
            capture.stop_at(lsn)
        ref_capture.stop_at(lsn)
        captured = background.join()
        reference.join()
    finally:
        for running in (background, reference):
            running.capture.stop()
            running.thread.join()
        with connection(target, deadline=cfg.connect_timeout) as conn:
            drop_slot(conn, cfg.cdc_slot)
            drop_slot(conn, reference_slot)
    step("verifying the change log against the source")
    report = verify_log(cfg, path, wait_quiescent=0)
    step("proving the change log event by event against the reference log")
    proof = prove_log(path, reference_path)
    return DemoResult(
        database=target.dbname,
        log_path=path,
        seed_rows=seeded.rows,
        stream_events=events,
        stream_seconds=elapsed,
        capture=captured,
        report=report,
        proof=proof,
        reference_path=reference_path,
    )
