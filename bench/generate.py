"""Throughput of the seed data generator, next to Faker building patients row by row.

Run by hand: .venv/bin/python bench/generate.py [total_rows]

Both are timed by the wall clock and by this process's CPU time: on a shared machine
the CPU figure shows what the code costs when other processes compete for the cores.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable

from faker import Faker

from hospital_sim.generate import Volumes, generate_tables

DEFAULT_VOLUMES = Volumes(
    convenios=12,
    medicos=200,
    pacientes=2000,
    pacientes_convenios=2500,
    consultas=4000,
    exames=3500,
    internacoes=1200,
)
FAKER_PATIENTS = 5_000


def timed(work: Callable[[], int]) -> tuple[int, float, float]:
    """(rows, rows per wall-clock second, rows per CPU second)."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return rows, rows / wall, rows / cpu


def generate_all(total: int) -> Callable[[], int]:
    volumes = DEFAULT_VOLUMES.scaled(total / DEFAULT_VOLUMES.total)
    anchor = dt.datetime.now(dt.UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)

    def work() -> int:
        return sum(len(chunk) for _, chunk in generate_tables(volumes, seed=42, anchor=anchor))

    return work


def faker_patients(n: int) -> Callable[[], int]:
    fake = Faker("pt_BR")
    fake.seed_instance(42)

    def work() -> int:
        for i in range(n):
            (
                i,
                fake.name(),
                fake.date_of_birth(minimum_age=0, maximum_age=100),
                fake.cpf(),
                fake.cellphone_number(),
                fake.address().replace("\n", ", "),
                fake.date_time_between(start_date="-5y", end_date="-1d"),
            )
        return n

    return work


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rows, ours, ours_cpu = timed(generate_all(total))
    ref_rows, ref, ref_cpu = timed(faker_patients(FAKER_PATIENTS))
    print(f"generate_tables, all 7 tables: {rows:,} rows, {ours:,.0f} rows/s", end="")
    print(f" ({ours_cpu:,.0f} rows per CPU second)")
    print(f"Faker pt_BR, one paciente row per call: {ref_rows:,} rows, {ref:,.0f} rows/s", end="")
    print(f" ({ref_cpu:,.0f} rows per CPU second)")
    print(f"ratio: {ours / ref:.0f}x wall clock, {ours_cpu / ref_cpu:.0f}x CPU")


if __name__ == "__main__":
    main()
