"""What the dashboard costs the database, and whether its memory stays flat.

Run: ``.venv/bin/python bench/dashboard.py [--consultas N] [--phase S] [--rounds R]
[--memory-minutes M] [--quick]`` (``make bench`` runs it too).

One stream runs at 1,000 events/s (``hospital-sim stream --rate 1000 --workers 4`` in
its own process) for the whole run against tables seeded to ``--consultas`` rows (other
tables in the default proportions). The dashboard is switched off and on in alternating phases of
the same run, polling every 0.5 s (4x its default rate), and the stream's committed
events/s in the "on" phases is compared with the "off" phases. Separately, the database
time of one refresh (every query the page makes) is timed while the stream runs and
given as a share of the refresh interval. The dashboard's RSS, with an SSE client
attached, is sampled at the end of each "on" phase, then once a minute while one
dashboard runs for ``--memory-minutes`` (10 by default; its history is bounded to the
last 10 minutes, so memory should level off).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql

from _server import DEFAULT_VOLUMES, bench_server  # bench/ is on sys.path when run as a script
from hospital_sim.config import Settings, load_settings
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.web import hospital
from hospital_sim.web.collect import COUNTS_EVERY_S
from hospital_sim.web.run import free_local_port, start_dashboard
from hospital_sim.web.scrape import fetch

ROOT = Path(__file__).resolve().parent.parent
REFRESH_S = 0.5
RATE = 1000.0


def settings_for(dsn: str, **values: Any) -> Settings:
    return load_settings(
        config_dir=Path("/nonexistent"),
        environ={},
        overrides={"database_url": dsn, "log_file": Path(os.devnull), **values},
    ).settings


def volumes(consultas: int) -> dict[str, int]:
    scale = consultas / DEFAULT_VOLUMES["seed_consultas"]
    out = {k: max(1, round(v * scale)) for k, v in DEFAULT_VOLUMES.items()}
    out["seed_convenios"] = DEFAULT_VOLUMES["seed_convenios"]
    out["seed_medicos"] = max(DEFAULT_VOLUMES["seed_medicos"], out["seed_medicos"])
    return out


def database(server_dsn: str, consultas: int) -> str:
    name = f"hsim_dash_{consultas}"
    dsn = conninfo.make_conninfo(server_dsn, dbname=name)
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('public.consultas') IS NOT NULL").fetchone()
        seeded = bool(row and row[0]) and bool(
            conn.execute("SELECT 1 FROM consultas LIMIT 1").fetchone()
        )
    if not seeded:
        s = settings_for(dsn, **volumes(consultas))
        init_database(s)
        began = time.monotonic()
        seed_database(s, seed=1)
        print(f"seeded {consultas:,} consultas in {time.monotonic() - began:.0f} s", flush=True)
    return dsn


def refresh_db_ms(dsn: str, samples: int = 20) -> tuple[list[float], list[float]]:
    """Wall time (ms) of the database part of a refresh as the collector runs it: the part
    read every refresh, and the hospital counts read every COUNTS_EVERY_S."""
    feed = hospital.Feed()
    every, counts = [], []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(samples):
            began = time.perf_counter()
            hospital.schema_ready(conn)
            hospital.wal_position(conn)
            hospital.cdc_panel(conn, publication="hospital_sim_pub", database=conn.info.dbname)
            hospital.row_estimates(conn)
            feed.read(conn)
            every.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            hospital.hospital_counts(conn, beds=300)
            counts.append((time.perf_counter() - began) * 1000)
            time.sleep(REFRESH_S)
    return every, counts


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sse_client(url: str, stop: threading.Event) -> None:
    with urllib.request.urlopen(url + "events", timeout=10) as response:
        while not stop.is_set() and response.readline():
            pass


def memory_over_time(settings: Settings, metrics: str, minutes: float) -> list[tuple[float, float]]:
    """RSS once a minute of one dashboard serving an SSE client for ``minutes``."""
    if minutes <= 0:
        return []
    dash = start_dashboard(settings, metrics_urls=[metrics])
    stop = threading.Event()
    threading.Thread(target=sse_client, args=(dash.url, stop), daemon=True).start()
    out = []
    try:
        for minute in range(1, int(minutes) + 1):
            time.sleep(60)
            out.append((float(minute), rss_mb()))
            print(f"  memory: {minute} min, RSS {out[-1][1]:.1f} MB", flush=True)
    finally:
        stop.set()
        dash.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consultas", type=int, default=1_000_000)
    parser.add_argument("--phase", type=float, default=30.0, help="seconds per on/off phase")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--memory-minutes", type=float, default=10.0, help="one dashboard kept this long"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100,000 consultas, short phases"
    )
    args = parser.parse_args()
    if args.quick:
        args.consultas, args.phase, args.rounds, args.memory_minutes = 100_000, 10.0, 1, 2.0
    with bench_server("dashboard", 54391) as server_dsn:
        dsn = database(server_dsn, args.consultas)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            rows = hospital.row_estimates(conn)
        print("rows:", ", ".join(f"{t}={n:,}" for t, n in rows.items()), flush=True)
        port = free_local_port()
        metrics = f"http://127.0.0.1:{port}/metrics"
        duration = args.phase * 2 * args.rounds + args.memory_minutes * 60 + 300  # ended below
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "HOSPITAL_SIM_"))}
        env.update({"DATABASE_URL": dsn, "HOSPITAL_SIM_LOG_FILE": os.devnull})
        stream = subprocess.Popen(
            [sys.executable, "-m", "hospital_sim", "stream", "--rate", str(RATE), "--workers", "4",
             "--duration", str(duration), "--metrics-port", str(port)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        settings = settings_for(dsn, dashboard_port=0, dashboard_refresh_seconds=REFRESH_S)
        rates: dict[str, list[float]] = {"off": [], "on": []}
        rss: list[float] = []
        try:
            time.sleep(8)  # connected and paced
            every_ms, counts_ms = refresh_db_ms(dsn)
            for _ in range(args.rounds):
                for phase in ("off", "on"):
                    dash = None
                    stop = threading.Event()
                    if phase == "on":
                        dash = start_dashboard(settings, metrics_urls=[metrics])
                        threading.Thread(
                            target=sse_client, args=(dash.url, stop), daemon=True
                        ).start()
                    start = fetch(metrics)
                    time.sleep(args.phase)
                    end = fetch(metrics)
                    rates[phase].append((end.total - start.total) / (end.t - start.t))
                    if dash is not None:
                        rss.append(rss_mb())
                        stop.set()
                        dash.stop()
                    print(f"  {phase:>3}: {rates[phase][-1]:7.1f} events/s", flush=True)
            memory = memory_over_time(settings, metrics, args.memory_minutes)
        finally:
            stream.terminate()
            stream.wait(60)
    print(f"stream at {RATE:.0f}/s target, {rows['consultas']:,} consultas:")
    if rates["off"]:
        off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
        print(f"  events/s without the dashboard (median): {off:8.1f}")
        print(f"  events/s with it polling every {REFRESH_S} s:   {on:8.1f}")
        print(f"  ratio with/without: {on / off:.4f} (target >= 0.99)")
    every, counts = statistics.median(every_ms), statistics.median(counts_ms)
    print(
        f"  database time of a refresh: {every:.1f} ms every refresh + {counts:.1f} ms of "
        f"hospital counts every {COUNTS_EVERY_S:.0f} s (medians)"
    )
    for refresh in (REFRESH_S, 2.0):
        busy = every / 1000 / refresh + counts / 1000 / max(refresh, COUNTS_EVERY_S)
        print(f"  = {busy:.2%} of one server backend's time at a {refresh} s refresh")
    if rss:
        print(f"  RSS after each 'on' phase (MB): {', '.join(f'{m:.1f}' for m in rss)}")
    if memory:
        shown = ", ".join(f"{t:.0f} min {m:.1f}" for t, m in memory)
        print(f"  RSS of one dashboard with an SSE client over time (MB): {shown}")
        print(f"  last/first (after 1 min): {memory[-1][1] / memory[0][1]:.3f} (flat: <= 1.10)")


if __name__ == "__main__":
    main()
