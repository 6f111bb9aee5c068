"""CDC speed: capture and verify throughput next to the stream's own write rate.

Run: ``make bench`` or ``.venv/bin/python bench/cdc.py [--events 200000]``.

1. Reference: the stream at its maximum rate with 1 worker (no pacing pause), writing
   ``--events`` operations into a seeded database while a slot retains every change.
2. Capture: drain that backlog into a change log; events/s vs the stream's events/s
   (target ratio >= 1.0: capture keeps up with the stream at full speed).
3. Verify: replay the log and compare with the source tables; events/s (target >= 20,000).
4. Latency: the stream paced at 1,000 events/s with the capture running alongside;
   commit-to-written latency p50/p99 (target p99 < 500 ms).

Both rates count the same thing: row change events, as captured. The server is a
dedicated embedded PostgreSQL, or HOSPITAL_SIM_BENCH_DSN; the bench databases run
with ``synchronous_commit = off`` so that the stream, not the disk's fsync, sets the pace.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql

from _server import DEFAULT_VOLUMES, bench_server  # bench/ is on sys.path when run as a script
from hospital_sim.cdc.capture.builtin import Capture, CaptureResult
from hospital_sim.cdc.capture.setup import setup_cdc
from hospital_sim.cdc.capture.slots import create_slot, drop_slot
from hospital_sim.cdc.verify.check import verify_log
from hospital_sim.config import Settings, load_settings
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.stream.run import run_stream

VERIFY_TARGET = 20_000
VOLUMES = DEFAULT_VOLUMES


def fresh_database(server_dsn: str, name: str, *, async_commit: bool) -> str:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        for (slot,) in conn.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (name,)
        ).fetchall():
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        # Without it every single-event commit waits for a WAL fsync, and the reference
        # would measure the disk, not the stream.
        if async_commit:
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                    sql.Identifier(name)
                )
            )
    return conninfo.make_conninfo(server_dsn, dbname=name)


def settings_for(dsn: str, **extra: Any) -> Settings:
    overrides = {
        "database_url": dsn,
        "log_file": Path(os.devnull),
        "log_level": "WARNING",
        "cdc_slot": "bench_slot",
        "cdc_role": "bench_cdc",
        **VOLUMES,
        **extra,
    }
    return load_settings(config_dir=Path("/nonexistent"), environ={}, overrides=overrides).settings


def dsn_of(s: Settings) -> str:
    assert s.database_url is not None
    return s.database_url.get_secret_value()


def prepared(
    server_dsn: str, name: str, *, slot_first: bool, async_commit: bool
) -> tuple[Settings, int]:
    """A seeded database with the publication and a slot; returns the seeded rows.

    ``slot_first``: the slot exists before the seed, so the log holds every row.
    """
    s = settings_for(fresh_database(server_dsn, name, async_commit=async_commit))
    init_database(s)
    setup_cdc(s)
    with psycopg.connect(dsn_of(s), autocommit=True) as conn:
        if slot_first:
            # init's two lookup rows predate the slot: make them part of the log too.
            conn.execute("UPDATE convenios SET cobertura = cobertura")
            create_slot(conn, s.cdc_slot)
            conn.execute("UPDATE convenios SET cobertura = cobertura")
        seeded = seed_database(s, seed=1).total
        if not slot_first:
            create_slot(conn, s.cdc_slot)
    return s, seeded


def drop(s: Settings) -> None:
    with psycopg.connect(dsn_of(s), autocommit=True) as conn:
        drop_slot(conn, s.cdc_slot)


def stream_max(s: Settings, operations: int) -> float:
    """Seconds the stream (1 worker, no pause) takes to commit ``operations``."""
    fast = s.model_copy(
        update={"stream_interval_seconds": 0.0, "max_jitter_ms": 0, "stream_workers": 1}
    )
    summary = run_stream(fast, events=operations, seed=2)
    if summary.failure:
        raise SystemExit(f"stream failed: {summary.failure}")
    return summary.elapsed


def drain(s: Settings, log: Path) -> tuple[CaptureResult, float]:
    start = time.perf_counter()
    result = Capture(s, output=log, snapshot=False, until_current=True).run()
    return result, time.perf_counter() - start


def latency_run(server_dsn: str, seconds: float, tmp: Path) -> CaptureResult:
    # Durable commits here: with synchronous_commit=off decoding would wait for the WAL
    # writer, and we would be timing wal_writer_delay. Workers enough for 1,000 fsyncs/s.
    s, _ = prepared(server_dsn, "bench_cdc_latency", slot_first=False, async_commit=False)
    paced = s.model_copy(update={"stream_rate": 1000.0, "stream_workers": 8})
    capture = Capture(s, output=tmp / "latency.jsonl", snapshot=False)
    holder: dict[str, CaptureResult] = {}
    thread = threading.Thread(target=lambda: holder.setdefault("r", capture.run()))
    thread.start()
    capture.ready.wait()
    run_stream(paced, duration=seconds, seed=3)
    with psycopg.connect(dsn_of(s)) as conn:
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    assert row is not None
    capture.stop_at(str(row[0]))
    thread.join()
    drop(s)
    return holder["r"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="stream operations")
    parser.add_argument("--latency-seconds", type=float, default=15.0)
    args = parser.parse_args()

    with bench_server("cdc", 54333) as server_dsn:
        tmp = Path(tempfile.mkdtemp(prefix="hospital-sim-bench-cdc-"))
        s, seeded = prepared(server_dsn, "bench_cdc", slot_first=True, async_commit=True)
        stream_seconds = stream_max(s, args.events)
        log = tmp / "changes.jsonl"
        captured, capture_seconds = drain(s, log)
        drop(s)
        verify_seconds = float("inf")
        for _ in range(3):  # best of 3, like bench/verify.py
            start = time.perf_counter()
            report = verify_log(s, log, wait_quiescent=0)
            verify_seconds = min(verify_seconds, time.perf_counter() - start)
        latency = latency_run(server_dsn, args.latency_seconds, tmp)

    events = captured.events
    stream_rate = (events - seeded - 2) / stream_seconds
    capture_rate = events / capture_seconds
    verify_rate = report.events / verify_seconds
    print(
        f"change events: {events} (a default seed of {seeded} rows, then "
        f"{args.events} stream operations)"
    )
    print(
        f"stream (reference, 1 worker, max rate): {stream_rate:,.0f} events/s "
        f"({stream_seconds:.1f} s)"
    )
    print(
        f"capture: {capture_rate:,.0f} events/s ({capture_seconds:.1f} s); "
        f"capture/stream = {capture_rate / stream_rate:.2f} (target >= 1.0)"
    )
    print(
        f"verify: {verify_rate:,.0f} events/s ({verify_seconds:.1f} s, "
        f"{'identical' if report.identical else 'NOT IDENTICAL'}); "
        f"verify/stream = {verify_rate / stream_rate:.2f}; target >= {VERIFY_TARGET:,} events/s"
    )
    print(
        f"commit-to-written latency at 1,000 events/s: p50 {latency.latency_ms(50)} ms, "
        f"p99 {latency.latency_ms(99)} ms over {latency.transactions} transactions of "
        f"{latency.events} events (target p99 < 500 ms)"
    )


if __name__ == "__main__":
    main()
