"""Seed speed: hospital-sim's seed vs a plain COPY of the same, pre-generated rows.

Run: ``make bench`` or ``.venv/bin/python bench/seed.py [--scale 75]``.
Prints our rows/s, the reference rows/s and their ratio (target >= 0.5), the time to
seed the default volumes, and the peak memory of the 1M-row seed (target < 500 MB).
The server is a dedicated embedded PostgreSQL, or HOSPITAL_SIM_BENCH_DSN.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from _server import DEFAULT_VOLUMES, bench_server  # bench/ is on sys.path when run as a script
from hospital_sim.config import Settings, load_settings
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from hospital_sim.db.seed import LOOKUP_CONVENIOS, anchor_for, volumes_from
from hospital_sim.generate import TABLE_COLUMNS, generate_tables

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = DEFAULT_VOLUMES


def scaled(scale: int) -> dict[str, int]:
    return {k: (v * scale if k != "seed_convenios" else v) for k, v in DEFAULTS.items()}


def fresh_database(server_dsn: str, name: str) -> str:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return conninfo.make_conninfo(server_dsn, dbname=name)


def settings_for(dsn: str, volumes: dict[str, int]) -> Settings:
    return load_settings(
        config_dir=Path("/nonexistent"),
        environ={},
        overrides={"database_url": dsn, "log_file": Path(os.devnull), **volumes},
    ).settings


def our_seed(dsn: str, volumes: dict[str, int]) -> tuple[int, float, float]:
    """Seed in a child process: rows, seconds, and the child's peak RSS in MB."""
    code = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from hospital_sim.config import Settings, load_settings\n"
        "from hospital_sim.db.seed import seed_database\n"
        "v = json.loads(sys.argv[1])\n"
        "s = load_settings(config_dir=Path('/nonexistent'), environ={}, overrides={"
        "'database_url': os.environ['BENCH_DSN'], 'log_file': Path('/dev/null'), **v}).settings\n"
        "r = seed_database(s, seed=1)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "rss = int(hwm.split()[1]) / 1024\n"
        "print(json.dumps([r.total, r.seconds, rss]))\n"
    )
    import json

    out = subprocess.run(
        # The DSN holds a password: through the environment, not the command line (ps).
        [sys.executable, "-c", code, json.dumps(volumes)],
        env={**os.environ, "BENCH_DSN": dsn},
        capture_output=True,
        text=True,
        check=True,
    )
    total, seconds, rss = json.loads(out.stdout.strip().splitlines()[-1])
    return int(total), float(seconds), float(rss)


def reference_copy(dsn: str, volumes: dict[str, int]) -> tuple[int, float]:
    """COPY the same rows, generated beforehand (not timed), through psycopg."""
    s = settings_for(dsn, volumes)
    rows: dict[str, list[tuple[object, ...]]] = {t: [] for t in TABLES}
    for table, chunk in generate_tables(
        volumes_from(s), seed=1, anchor=anchor_for(), first_ids={"convenios": LOOKUP_CONVENIOS + 1}
    ):
        rows[table].extend(chunk)
    total = sum(map(len, rows.values()))
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
            for table in TABLES:
                stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(map(sql.Identifier, TABLE_COLUMNS[table])),
                )
                with cur.copy(stmt) as copy:
                    for row in rows[table]:
                        copy.write_row(row)
        seconds = time.perf_counter() - start
    return total, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scale",
        type=int,
        default=75,
        help="multiple of the default volumes (75 = ~1,000,000 rows)",
    )
    args = parser.parse_args()

    with bench_server("seed", 54331) as server_dsn:
        volumes = scaled(args.scale)
        ours_dsn = fresh_database(server_dsn, "bench_seed_ours")
        ref_dsn = fresh_database(server_dsn, "bench_seed_ref")
        default_dsn = fresh_database(server_dsn, "bench_seed_default")
        for dsn in (ours_dsn, ref_dsn, default_dsn):
            init_database(settings_for(dsn, DEFAULTS))

        ref_rows, ref_s = reference_copy(ref_dsn, volumes)
        our_rows, our_s, rss_mb = our_seed(ours_dsn, volumes)
        def_rows, def_s, _ = our_seed(default_dsn, DEFAULTS)

        ours_rate, ref_rate = our_rows / our_s, ref_rows / ref_s
        print(f"seed, {our_rows:,} rows   ours: {ours_rate:,.0f} rows/s ({our_s:.2f} s)")
        print(f"reference COPY of pre-generated rows: {ref_rate:,.0f} rows/s ({ref_s:.2f} s)")
        print(f"ratio ours/reference: {ours_rate / ref_rate:.2f}  (target >= 0.5)")
        print(f"default volumes ({def_rows:,} rows): {def_s:.3f} s  (target < 1 s)")
        print(f"peak RSS of the {our_rows:,}-row seed: {rss_mb:.0f} MB  (target < 500 MB)")
        print(
            f"bench process peak RSS (holds the reference rows): "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()
