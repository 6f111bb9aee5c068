"""Throughput of the seed data generator, next to Faker building patients row by row.

Run by hand: .venv/bin/python bench/generate.py [total_rows]
"""

from __future__ import annotations

import datetime as dt
import sys
import time

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


def generated_rows_per_second(total: int) -> tuple[int, float]:
    volumes = DEFAULT_VOLUMES.scaled(total / DEFAULT_VOLUMES.total)
    anchor = dt.datetime.now(dt.UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    rows = 0
    for _table, chunk in generate_tables(volumes, seed=42, anchor=anchor):
        rows += len(chunk)
    return rows, rows / (time.perf_counter() - started)


def faker_rows_per_second(n: int) -> float:
    fake = Faker("pt_BR")
    fake.seed_instance(42)
    started = time.perf_counter()
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
    return n / (time.perf_counter() - started)


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rows, ours = generated_rows_per_second(total)
    reference = faker_rows_per_second(FAKER_PATIENTS)
    print(f"generate_tables: {rows:,} rows, {ours:,.0f} rows/s (all 7 tables)")
    print(f"Faker pt_BR per row: {FAKER_PATIENTS:,} pacientes, {reference:,.0f} rows/s")
    print(f"ratio: {ours / reference:.1f}x")


if __name__ == "__main__":
    main()
