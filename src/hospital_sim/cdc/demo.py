"""``hospital-sim demo``: the whole CDC story on one screen, in its own database.

Embedded (or configured) server -> a fresh ``<database>_demo`` -> init -> cdc setup ->
capture in a background thread -> seed -> stream for N seconds -> stop -> the capture
catches up to the WAL position at that moment -> verify the change log against the
source. The demo never touches the user's own database; its slot is dropped at the end
(a forgotten slot would hold WAL forever), its database and change log are kept.
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
from hospital_sim.cdc.capture.setup import setup_cdc
from hospital_sim.cdc.capture.slots import drop_slot
from hospital_sim.cdc.verify.check import verify_log
from hospital_sim.cdc.verify.compare import VerifyReport
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
    capture: CaptureResult
    report: VerifyReport

    @property
    def identical(self) -> bool:
        return self.report.identical

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
        out += ["", "verify against the source", self.report.render_table()]
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

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.result: CaptureResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="cdc-capture", daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.capture.run()
        except BaseException as exc:  # re-raised in the caller's thread
            self.error = exc

    def join(self) -> CaptureResult:
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
) -> DemoResult:
    """Run the demo end to end and return what happened; see the module docstring."""
    from hospital_sim.db.seed import seed_database  # Faker and numpy load only here

    def step(message: str) -> None:
        log.info("demo: %s", message)
        if say is not None:
            say(message)

    cfg = demo_settings(settings, rate=rate)
    target = prepare_target(cfg, create=True)
    step(f"creating database {target.dbname} on {target.host_port}")
    _recreate_database(target, cfg)
    init_database(cfg)
    setup_cdc(cfg)
    path = log_path or settings.embedded_dir.resolve() / "demo" / "changes.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    background = _Background(Capture(cfg, output=path, snapshot=True))
    background.thread.start()
    background.capture.ready.wait()
    if background.error is not None:
        background.join()
    try:
        step(f"capture running (slot {cfg.cdc_slot}); seeding")
        seeded = seed_database(cfg)
        step(f"streaming for {seconds:g} s at {rate or 'interval-paced'} events/s")
        events, elapsed = _stream(cfg, seconds)
        lsn = _current_lsn(target, cfg)
        step(f"stream stopped; capture catching up to {lsn}")
        background.capture.stop_at(lsn)
        captured = background.join()
    finally:
        background.capture.stop()
        background.thread.join()
        with connection(target, deadline=cfg.connect_timeout) as conn:
            drop_slot(conn, cfg.cdc_slot)
    step("verifying the change log against the source")
    report = verify_log(cfg, path, wait_quiescent=0)
    return DemoResult(
        database=target.dbname,
        log_path=path,
        seed_rows=seeded.rows,
        stream_events=events,
        stream_seconds=elapsed,
        capture=captured,
        report=report,
    )
