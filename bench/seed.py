"""Seed speed: hospital-sim's seed vs the server's own ingest limit for the same rows.

Run: ``make bench`` or ``.venv/bin/python bench/seed.py [--scale 75] [--huge]``.

Ours: ``seed_database`` at ``--scale`` (75 = about 1M rows) in a child process, which
reports its rows/s and its peak RSS. The reference, timed in the same run: the very rows
ours wrote, dumped with ``COPY ... TO STDOUT`` to files (not timed), then loaded with a
raw ``COPY FROM STDIN`` of those bytes, in one transaction, into an empty twin database
with the same schema, indexes and triggers. No Python formats a row in the reference: it
is what the server can ingest. Targets: ratio >= 0.6; the default volumes in < 0.5 s
inside the process and the whole ``hospital-sim seed`` command in < 1.5 s wall;
``--huge`` adds a 100M-row seed (``--scale 7500``, long; the server needs about 25 GB of
disk) with its rows/s and peak RSS (target < 500 MB). The server is a dedicated embedded
PostgreSQL, or HOSPITAL_SIM_BENCH_DSN.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from _server import bench_server  # bench/ is on sys.path when run as a script
from hospital_sim.config import Settings, load_settings
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from hospital_sim.generate import TABLE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
READ_BYTES = 1 << 20
HUGE_SCALE = 7500


def fresh_database(server_dsn: str, name: str) -> str:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return conninfo.make_conninfo(server_dsn, dbname=name)


def drop_database(server_dsn: str, name: str) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def settings_for(dsn: str, scale: int = 1) -> Settings:
    return load_settings(
        config_dir=Path("/nonexistent"),
        environ={},
        overrides={"database_url": dsn, "log_file": Path(os.devnull), "seed_scale": scale},
    ).settings


def our_seed(dsn: str, scale: int) -> tuple[int, float, float]:
    """Seed in a child process: rows, seconds inside it, and its peak RSS in MB."""
    code = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from hospital_sim.config import load_settings\n"
        "from hospital_sim.db.seed import seed_database\n"
        "s = load_settings(config_dir=Path('/nonexistent'), environ={}, overrides={"
        "'database_url': os.environ['BENCH_DSN'], 'log_file': Path('/dev/null'),"
        " 'seed_scale': int(sys.argv[1])}).settings\n"
        "r = seed_database(s, seed=1)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "rss = int(hwm.split()[1]) / 1024\n"
        "print(json.dumps([r.total, r.seconds, rss]))\n"
    )
    out = subprocess.run(
        # The DSN may hold a password: through the environment, not the command line (ps).
        [sys.executable, "-c", code, str(scale)],
        env={**os.environ, "BENCH_DSN": dsn},
        capture_output=True,
        text=True,
        check=True,
    )
    total, seconds, rss = json.loads(out.stdout.strip().splitlines()[-1])
    return int(total), float(seconds), float(rss)


def cli_seed_wall(dsn: str) -> tuple[float, float]:
    """Wall time of the whole ``hospital-sim seed`` command (start-up included), and the
    CPU seconds it used: on a busy machine the CPU time is what an idle one would wait."""
    env = {**os.environ, "DATABASE_URL": dsn, "HOSPITAL_SIM_LOG_FILE": os.devnull}
    env.pop("HOSPITAL_SIM_SEED", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).with_name("hospital-sim")), "seed", "--seed", "1"],
        env=env,
        capture_output=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def _copy_columns(table: str) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, TABLE_COLUMNS[table]))


def dump(dsn: str, folder: Path) -> int:
    """Write each table's seeded rows, as COPY text, to a file; return the row count."""
    total = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for table in TABLES:
            # The lookup plans are created by init in the twin too.
            where = sql.SQL("WHERE id > 2") if table == "convenios" else sql.SQL("")
            stmt = sql.SQL("COPY (SELECT {} FROM {} {} ORDER BY id) TO STDOUT").format(
                _copy_columns(table), sql.Identifier(table), where
            )
            with (folder / table).open("wb") as out, cur.copy(stmt) as copy:
                for data in copy:
                    out.write(data)
            total += cur.rowcount
    return total


def reference_copy(dsn: str, folder: Path) -> float:
    """Load the dumped bytes with a raw COPY FROM STDIN, one transaction; the seconds."""
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
            for table in TABLES:
                stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), _copy_columns(table)
                )
                with (folder / table).open("rb") as source, cur.copy(stmt) as copy:
                    while data := source.read(READ_BYTES):
                        copy.write(data)
        return time.perf_counter() - start


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scale",
        type=int,
        default=75,
        help="multiple of the default volumes (75 = ~1,000,000 rows)",
    )
    parser.add_argument(
        "--huge",
        action="store_true",
        help=f"also seed --scale {HUGE_SCALE} (~100M rows; long) and report rows/s and RSS",
    )
    args = parser.parse_args()

    print(f"load average before: {load_average()} ({os.cpu_count()} CPUs)")
    with bench_server("seed", 54331) as server_dsn:
        ours_dsn = fresh_database(server_dsn, "bench_seed_ours")
        ref_dsn = fresh_database(server_dsn, "bench_seed_ref")
        default_dsn = fresh_database(server_dsn, "bench_seed_default")
        cli_dsn = fresh_database(server_dsn, "bench_seed_cli")
        for dsn in (ours_dsn, ref_dsn, default_dsn, cli_dsn):
            init_database(settings_for(dsn))

        our_rows, our_s, rss_mb = our_seed(ours_dsn, args.scale)
        with tempfile.TemporaryDirectory(prefix="hospital-sim-bench-seed-") as tmp:
            ref_rows = dump(ours_dsn, Path(tmp))
            ref_s = reference_copy(ref_dsn, Path(tmp))
        def_rows, def_s, _ = our_seed(default_dsn, 1)
        cli_s, cli_cpu = cli_seed_wall(cli_dsn)

        ours_rate, ref_rate = our_rows / our_s, ref_rows / ref_s
        print(f"seed, {our_rows:,} rows   ours: {ours_rate:,.0f} rows/s ({our_s:.2f} s)")
        print(
            f"reference: raw COPY of the same rows' bytes: {ref_rate:,.0f} rows/s "
            f"({ref_rows:,} rows, {ref_s:.2f} s)"
        )
        print(f"ratio ours/reference: {ours_rate / ref_rate:.2f}  (target >= 0.6)")
        print(f"peak RSS of the {our_rows:,}-row seed: {rss_mb:.0f} MB  (target < 500 MB)")
        print(f"default volumes ({def_rows:,} rows): {def_s:.3f} s in the process (target < 0.5 s)")
        print(
            f"'hospital-sim seed', default volumes: {cli_s:.2f} s wall, {cli_cpu:.2f} s CPU in "
            "the command  (target < 1.5 s wall on an idle machine)"
        )
        for name in ("bench_seed_ours", "bench_seed_ref", "bench_seed_default", "bench_seed_cli"):
            drop_database(server_dsn, name)

        if args.huge:
            huge_dsn = fresh_database(server_dsn, "bench_seed_huge")
            init_database(settings_for(huge_dsn))
            rows, seconds, rss = our_seed(huge_dsn, HUGE_SCALE)
            print(
                f"--scale {HUGE_SCALE}: {rows:,} rows in {seconds:.0f} s, "
                f"{rows / seconds:,.0f} rows/s, peak RSS {rss:.0f} MB  (target < 500 MB)"
            )
            drop_database(server_dsn, "bench_seed_huge")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
