"""The seed data set: all seven tables, generated in load order, in bounded memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields

import numpy as np

from hospital_sim.generate.cohort import Cohort, build_cohort, patient_rows
from hospital_sim.generate.coverage import enrolment_blocks
from hospital_sim.generate.documents import MAX_CRM_ID, MAX_DOCUMENT_ID
from hospital_sim.generate.encounters import consulta_blocks, exame_blocks
from hospital_sim.generate.staff import Staff, build_staff, doctor_rows, plan_rows
from hospital_sim.generate.stays import stay_blocks
from hospital_sim.generate.timeline import Horizon
from hospital_sim.tables import TABLES, Row

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "convenios": ("id", "nome", "cnpj", "tipo", "cobertura"),
    "medicos": ("id", "nome", "crm", "especialidade", "telefone"),
    "pacientes": ("id", "nome", "nascimento", "cpf", "telefone", "endereco", "data_cadastro"),
    "pacientes_convenios": ("id", "paciente_id", "convenio_id", "numero_carteira", "validade"),
    "consultas": ("id", "paciente_id", "medico_id", "data", "motivo", "status"),
    "exames": ("id", "paciente_id", "tipo_exame", "data", "resultado"),
    "internacoes": ("id", "paciente_id", "data_entrada", "data_saida", "motivo", "quarto"),
}

# Beyond this many stays per patient over five years, non-overlapping stays stop fitting.
MAX_STAYS_PER_PATIENT = 10

# Rows are generated in blocks of this size whatever chunk_rows is, so the data only
# depends on volumes, seed and anchor.
BLOCK_ROWS = 8_192


@dataclass(frozen=True)
class Volumes:
    """How many rows to generate per table."""

    convenios: int
    medicos: int
    pacientes: int
    pacientes_convenios: int
    consultas: int
    exames: int
    internacoes: int

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Volumes.{f.name} must be an integer >= 0, got {value!r}")

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in TABLES)

    def scaled(self, factor: float) -> Volumes:
        """These volumes multiplied by ``factor`` (rounded), in the same proportions."""
        return Volumes(**{name: round(getattr(self, name) * factor) for name in TABLES})


def _stream(seed: int, *key: int) -> np.random.Generator:
    # One independent, reproducible stream per (table, block): numpy's SeedSequence
    # spawn keys guarantee distinct streams without any shared mutable state.
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


_COHORT, _STAFF, _COVERAGE_SETUP, _RESULTS = 100, 101, 102, 103


def generate_tables(
    volumes: Volumes,
    *,
    seed: int,
    anchor: dt.datetime,
    chunk_rows: int = 20_000,
    first_ids: Mapping[str, int] | None = None,
) -> Iterator[tuple[str, list[Row]]]:
    """Yield (table, rows) chunks of at most ``chunk_rows`` rows, tables in TABLES order.

    Each row is a tuple in TABLE_COLUMNS order with explicit ids; table ids start at
    ``first_ids.get(table, 1)``. Foreign keys point at the generated rows, except
    convenio ids, which run from 1 so that plans created before the seed (the lookup
    rows) are used too. ``anchor`` is a naive UTC datetime, normally the start of today:
    past events end by anchor - 1 day, scheduled ones start after anchor + 1 day.
    The same arguments always give the same rows.
    """
    starts = _first_ids(first_ids)
    _validate(volumes, seed=seed, anchor=anchor, chunk_rows=chunk_rows, starts=starts)
    return _generate(volumes, seed, Horizon.at(anchor), anchor, chunk_rows, starts)


def _first_ids(first_ids: Mapping[str, int] | None) -> dict[str, int]:
    given = dict(first_ids or {})
    unknown = sorted(set(given) - set(TABLES))
    if unknown:
        raise ValueError(f"first_ids has unknown tables {unknown}; expected some of {TABLES}")
    for table, first in given.items():
        if isinstance(first, bool) or not isinstance(first, int) or first < 1:
            raise ValueError(f"first_ids[{table!r}] must be an integer >= 1, got {first!r}")
    return {table: given.get(table, 1) for table in TABLES}


def check_volumes(volumes: Volumes, first_ids: Mapping[str, int] | None = None) -> None:
    """Raise ValueError when these volumes cannot be generated coherently."""
    _validate(
        volumes, seed=0, anchor=dt.datetime(2000, 1, 1), chunk_rows=1, starts=_first_ids(first_ids)
    )


def _validate(
    volumes: Volumes, *, seed: int, anchor: dt.datetime, chunk_rows: int, starts: dict[str, int]
) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if not isinstance(anchor, dt.datetime) or anchor.tzinfo is not None:
        raise ValueError(f"anchor must be a naive UTC datetime, got {anchor!r}")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be an integer >= 1, got {chunk_rows!r}")
    plans = starts["convenios"] + volumes.convenios - 1
    needs = {
        "pacientes_convenios": (("pacientes", volumes.pacientes), ("convenios", plans)),
        "consultas": (("pacientes", volumes.pacientes), ("medicos", volumes.medicos)),
        "exames": (("pacientes", volumes.pacientes),),
        "internacoes": (("pacientes", volumes.pacientes),),
    }
    for table, parents in needs.items():
        for parent, available in parents:
            if getattr(volumes, table) and not available:
                raise ValueError(f"cannot generate {table} without {parent}: set {parent} > 0")
    # Documents are bijections of the id over a fixed range (see documents.py).
    limits = {
        "convenios": MAX_DOCUMENT_ID,
        "medicos": MAX_CRM_ID,
        "pacientes": MAX_DOCUMENT_ID,
        "pacientes_convenios": MAX_DOCUMENT_ID,
    }
    for table, limit in limits.items():
        last = starts[table] + getattr(volumes, table) - 1
        if last > limit:
            raise ValueError(
                f"{table} ids would reach {last}; documents exist for ids up to {limit}"
            )
    if volumes.internacoes > MAX_STAYS_PER_PATIENT * volumes.pacientes:
        raise ValueError(
            f"internacoes={volumes.internacoes} is more than {MAX_STAYS_PER_PATIENT} stays per "
            f"paciente (pacientes={volumes.pacientes}); stays of a patient cannot overlap"
        )
    if volumes.pacientes_convenios > volumes.pacientes * plans:
        raise ValueError(
            f"pacientes_convenios={volumes.pacientes_convenios} exceeds the "
            f"{volumes.pacientes * plans} distinct (paciente, convenio) pairs available"
        )


def _generate(
    volumes: Volumes,
    seed: int,
    horizon: Horizon,
    anchor: dt.datetime,
    chunk_rows: int,
    starts: dict[str, int],
) -> Iterator[tuple[str, list[Row]]]:
    cohort: Cohort | None = None
    staff: Staff | None = None

    def streams(table: str) -> Callable[[int], np.random.Generator]:
        index = TABLES.index(table)
        return lambda block: _stream(seed, index, block)

    def get_cohort() -> Cohort:
        nonlocal cohort
        if cohort is None:
            cohort = build_cohort(
                _stream(seed, _COHORT), volumes.pacientes, starts["pacientes"], horizon
            )
        return cohort

    def get_staff() -> Staff:
        nonlocal staff
        if staff is None:
            staff = build_staff(
                _stream(seed, _STAFF), volumes.medicos, starts["medicos"], anchor.year
            )
        return staff

    def blocks(table: str) -> Iterator[list[Row]]:
        n, first = getattr(volumes, table), starts[table]
        rng = streams(table)
        if n == 0:
            return
        if table == "convenios":
            for offset in range(0, n, BLOCK_ROWS):
                size = min(BLOCK_ROWS, n - offset)
                yield plan_rows(rng(offset // BLOCK_ROWS), first + offset, size)
        elif table == "medicos":
            for start in range(0, n, BLOCK_ROWS):
                yield doctor_rows(
                    rng(start // BLOCK_ROWS), get_staff(), start, min(n, start + BLOCK_ROWS)
                )
        elif table == "pacientes":
            for start in range(0, n, BLOCK_ROWS):
                yield patient_rows(
                    rng(start // BLOCK_ROWS), get_cohort(), start, min(n, start + BLOCK_ROWS)
                )
        elif table == "pacientes_convenios":
            yield from enrolment_blocks(
                rng, _stream(seed, _COVERAGE_SETUP), volumes.pacientes, starts["pacientes"],
                starts["convenios"] + volumes.convenios - 1, n, first, BLOCK_ROWS, anchor,
            )  # fmt: skip
        elif table == "consultas":
            yield from consulta_blocks(
                rng, get_cohort(), get_staff(), horizon, n, first, BLOCK_ROWS
            )
        elif table == "exames":
            result_seed = int(_stream(seed, _RESULTS).integers(2**63))
            yield from exame_blocks(rng, get_cohort(), horizon, n, first, BLOCK_ROWS, result_seed)
        else:
            yield from stay_blocks(rng, get_cohort(), horizon, n, first, BLOCK_ROWS)

    for table in TABLES:
        for chunk in rechunk(blocks(table), chunk_rows):
            yield table, chunk


def rechunk(blocks: Iterable[list[Row]], size: int) -> Iterator[list[Row]]:
    """Regroup lists of rows into lists of exactly ``size`` rows (the last may be shorter)."""
    pending: list[Row] = []
    for block in blocks:
        pending = block if not pending else pending + block
        full = len(pending) - len(pending) % size
        for start in range(0, full, size):
            yield pending[start : start + size]
        pending = pending[full:]
    if pending:
        yield pending
