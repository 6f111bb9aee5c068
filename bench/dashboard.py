"""What the dashboard costs the database, and whether its memory stays flat.

Run: ``.venv/bin/python bench/dashboard.py [--scale N] [--phase S] [--rounds R]
[--memory-minutes M] [--refresh S] [--quick]`` (``make bench`` runs it too).

The tables are seeded with ``hospital-sim seed --scale N`` (750: about 10M rows, once per
server). One stream runs at 1,000 events/s (``hospital-sim stream --rate 1000 --workers
4``, its own process) for the whole run. A dashboard (``hospital-sim dashboard``, its own
process, refreshing every ``--refresh`` s) with a headless client reading its server-sent
events, as the page does, is switched off and on in alternating phases of the same run.

Two figures compare the page with the stream, side by side in the same run:

* the CPU time of the database backends: the dashboard's connection against the
  stream's (``/proc/<pid>/stat`` of each backend, found by ``application_name`` in
  ``pg_stat_activity``; the server must run on this machine). This is what the page
  costs the database, as a share of what the stream costs it;
* the stream's committed events/s in the "on" phases against the "off" phases.

Then one dashboard runs for ``--memory-minutes`` (10 by default) and its RSS is read once
a minute from ``/proc`` (its history is bounded to the last 10 minutes: memory should be
flat), with the backend CPU shares over that whole time. The load average is printed
next to every figure: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import signal
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

from _server import bench_server  # bench/ is on sys.path when run as a script
from hospital_sim.web import hospital
from hospital_sim.web.run import free_local_port
from hospital_sim.web.scrape import fetch

ROOT = Path(__file__).resolve().parent.parent
RATE = 1000.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def cli_env(dsn: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "HOSPITAL_SIM_"))}
    env.update({"DATABASE_URL": dsn, "HOSPITAL_SIM_LOG_FILE": os.devnull, **extra})
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def database(server_dsn: str, scale: int) -> str:
    """A database seeded at ``scale`` (made once, then reused), vacuumed and analysed."""
    name = f"hsim_dash_s{scale}"
    dsn = conninfo.make_conninfo(server_dsn, dbname=name)
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    env = cli_env(dsn)
    # init again on an existing database adds what a newer version indexes.
    subprocess.run([sys.executable, "-m", "hospital_sim", "init"], env=env, cwd=ROOT, check=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        seeded = conn.execute("SELECT 1 FROM consultas LIMIT 1").fetchone()
    if not seeded:
        began = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "hospital_sim", "seed", "--scale", str(scale), "--seed", "1"],
            env=env,
            cwd=ROOT,
            check=True,
        )
        print(f"seeded at scale {scale} in {time.monotonic() - began:.0f} s", flush=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return dsn


def backend_cpu(dsn: str) -> dict[str, float]:
    """CPU seconds used so far by the backends of the dashboard and of the stream."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    out = {"dashboard": 0.0, "stream": 0.0}
    for pid, app in rows:
        who = (
            "dashboard"
            if app == "hospital-sim-dashboard"
            else "stream"
            if str(app).startswith("hospital-sim stream")
            else None
        )
        if who is None:
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        out[who] += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sse_client(url: str, stop: threading.Event) -> None:
    """Read the page's server-sent events, as the browser's EventSource does."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url + "events", timeout=10) as response:
                while not stop.is_set() and response.readline():
                    pass
        except OSError:
            time.sleep(0.2)  # not up yet


class Dashboard:
    """``hospital-sim dashboard`` in its own process, with a client on its events."""

    def __init__(self, dsn: str, metrics: str, refresh: float) -> None:
        self.port = free_local_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = cli_env(dsn, DASHBOARD_REFRESH_SECONDS=str(refresh))
        self.proc = cli("dashboard", "--metrics-url", metrics, "--port", str(self.port), env=env)
        deadline = time.monotonic() + 30
        while not self._up():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.1)
        self.stop_client = threading.Event()
        threading.Thread(target=sse_client, args=(self.url, self.stop_client), daemon=True).start()

    def _up(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "healthz", timeout=1):
                return True
        except OSError:
            return False

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def close(self) -> None:
        self.stop_client.set()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_for_events(metrics: str, stream: subprocess.Popen[bytes]) -> None:
    """Until the stream commits (its workers load their pools first: ~30 s at 10M rows)."""
    began = time.monotonic()
    while stream.poll() is None:
        try:
            if fetch(metrics).total > 0:
                print(f"stream started after {time.monotonic() - began:.0f} s", flush=True)
                return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the stream ended (exit code {stream.returncode}) before any event")


def measure(dsn: str, metrics: str, seconds: float) -> dict[str, Any]:
    """Stream events/s and backend CPU seconds over ``seconds``."""
    cpu0, m0 = backend_cpu(dsn), fetch(metrics)
    time.sleep(seconds)
    cpu1, m1 = backend_cpu(dsn), fetch(metrics)
    return {
        "rate": (m1.total - m0.total) / (m1.t - m0.t),
        "dashboard_cpu": cpu1["dashboard"] - cpu0["dashboard"],
        "stream_cpu": cpu1["stream"] - cpu0["stream"],
        "load": load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=750, help="seed scale (750: ~10M rows)")
    parser.add_argument("--phase", type=float, default=60.0, help="seconds per on/off phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--refresh", type=float, default=2.0, help="the dashboard's refresh")
    parser.add_argument(
        "--memory-minutes", type=float, default=10.0, help="one dashboard kept this long"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: scale 10, short phases, 2 minutes"
    )
    args = parser.parse_args()
    # Started in the background by a shell, SIGINT arrives ignored: Ctrl-C or kill -INT
    # must still end the run (and the stream and dashboard it started) cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.quick:
        args.scale, args.phase, args.rounds, args.memory_minutes = 10, 10.0, 1, 2.0
    with bench_server("dashboard", 54391) as server_dsn:
        dsn = database(server_dsn, args.scale)
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = hospital.row_estimates(conn)
        shown = ", ".join(f"{t}={n:,}" for t, n in rows.items())
        print(f"rows: {sum(rows.values()):,} ({shown}), {load()}", flush=True)
        port = free_local_port()
        metrics = f"http://127.0.0.1:{port}/metrics"
        duration = args.phase * 2 * args.rounds + args.memory_minutes * 60 + 300  # ended below
        stream = cli(
            "stream", "--rate", str(RATE), "--workers", "4", "--duration", str(duration),
            "--metrics-port", str(port), env=cli_env(dsn),
        )  # fmt: skip
        phases: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
        memory: list[tuple[int, float, str]] = []
        long_run: dict[str, Any] = {}
        try:
            wait_for_events(metrics, stream)
            time.sleep(10)  # paced: the first seconds catch up with the schedule
            for _ in range(args.rounds):
                for phase in ("off", "on"):
                    dash = Dashboard(dsn, metrics, args.refresh) if phase == "on" else None
                    try:
                        phases[phase].append(measure(dsn, metrics, args.phase))
                    finally:
                        if dash is not None:
                            dash.close()
                    p = phases[phase][-1]
                    print(
                        f"  {phase:>3}: {p['rate']:7.1f} events/s, backend CPU s: dashboard "
                        f"{p['dashboard_cpu']:.2f}, stream {p['stream_cpu']:.2f} ({p['load']})",
                        flush=True,
                    )
            if args.memory_minutes > 0:
                dash = Dashboard(dsn, metrics, args.refresh)
                try:
                    cpu0, m0 = backend_cpu(dsn), fetch(metrics)
                    for minute in range(1, int(args.memory_minutes) + 1):
                        time.sleep(60)
                        memory.append((minute, dash.rss_mb(), load()))
                        print(f"  memory: {minute} min, RSS {memory[-1][1]:.1f} MB ({load()})")
                    cpu1, m1 = backend_cpu(dsn), fetch(metrics)
                    long_run = {
                        "rate": (m1.total - m0.total) / (m1.t - m0.t),
                        "dashboard_cpu": cpu1["dashboard"] - cpu0["dashboard"],
                        "stream_cpu": cpu1["stream"] - cpu0["stream"],
                    }
                finally:
                    dash.close()
        finally:
            stream.send_signal(signal.SIGINT)
            stream.wait(60)
    report(args, rows, phases, memory, long_run)


def report(
    args: argparse.Namespace,
    rows: dict[str, int],
    phases: dict[str, list[dict[str, Any]]],
    memory: list[tuple[int, float, str]],
    long_run: dict[str, Any],
) -> None:
    print(
        f"stream at {RATE:.0f}/s target, {sum(rows.values()):,} rows, dashboard refresh "
        f"{args.refresh} s, {load()} at the end:"
    )
    if phases["off"] and phases["on"]:
        off = statistics.median(p["rate"] for p in phases["off"])
        on = statistics.median(p["rate"] for p in phases["on"])
        print(f"  events/s without the dashboard (median of {len(phases['off'])}): {off:8.1f}")
        print(f"  events/s with it open (median of {len(phases['on'])}):           {on:8.1f}")
        print(f"  ratio with/without: {on / off:.4f}" if off else "  no events without it")
        dash = sum(p["dashboard_cpu"] for p in phases["on"])
        strm = sum(p["stream_cpu"] for p in phases["on"])
        if strm:
            print(
                f"  database backend CPU in the 'on' phases: dashboard {dash:.2f} s, stream "
                f"{strm:.2f} s = {dash / strm:.2%} of the stream's (target < 1%)"
            )
    if long_run and long_run["stream_cpu"]:
        share = long_run["dashboard_cpu"] / long_run["stream_cpu"]
        print(
            f"  over {args.memory_minutes:g} min with one dashboard: {long_run['rate']:.1f} "
            f"events/s; backend CPU dashboard {long_run['dashboard_cpu']:.2f} s, stream "
            f"{long_run['stream_cpu']:.2f} s = {share:.2%} of the stream's (target < 1%)"
        )
    if memory:
        shown = ", ".join(f"{m} min {mb:.1f}" for m, mb, _ in memory)
        print(f"  RSS of the dashboard process (MB): {shown}")
        print(f"  last/first (1 min): {memory[-1][1] / memory[0][1]:.3f} (flat: <= 1.10)")


if __name__ == "__main__":
    main()
