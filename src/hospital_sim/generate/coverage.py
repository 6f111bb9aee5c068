"""Health-plan enrolments (pacientes_convenios): each patient in a plan at most once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.documents import carteira_array
from hospital_sim.generate.draw import pick
from hospital_sim.generate.timeline import to_dates
from hospital_sim.tables import Row

Streams = Callable[[int], np.random.Generator]

EXPIRED_SHARE = 0.12  # cards past their validity, not yet renewed
PLAN_POPULARITY_EXPONENT = 0.9  # a few plans hold most members (ANS market concentration)


def enrolment_blocks(
    streams: Streams,
    setup: np.random.Generator,
    patients: int,
    first_patient_id: int,
    plans: int,
    n: int,
    first_id: int,
    block_rows: int,
    anchor: dt.datetime,
) -> Iterator[list[Row]]:
    """Rows of pacientes_convenios, grouped by patient in id order.

    Enrolments are spread as evenly as possible: with more enrolments than patients,
    everyone has one plan and some have two, as in Brazil where few people pay for more
    than one. Plan ids run 1..plans, the lower ids being the most popular.
    """
    per_patient, extra = divmod(n, patients) if patients else (0, 0)
    popularity = 1.0 / np.arange(1, plans + 1, dtype=np.float64) ** PLAN_POPULARITY_EXPONENT
    plan_cum = np.cumsum(popularity) / popularity.sum()
    month = np.datetime64(anchor.date(), "M")
    patients_per_block = max(1, block_rows // (per_patient + 1))
    starts = range(0, patients, patients_per_block)
    # How many of each block's patients have one plan more: ``extra`` patients in all,
    # spread like a draw without replacement, decided before any block is generated.
    sizes = np.array([min(patients_per_block, patients - s) for s in starts], dtype=np.int64)
    extras = (
        setup.multivariate_hypergeometric(sizes, extra, method="marginals") if sizes.size else sizes
    )
    next_id = first_id
    for block, start in enumerate(starts):
        rng = streams(block)
        with_extra = np.zeros(int(sizes[block]), dtype=np.int64)
        with_extra[rng.choice(with_extra.size, size=int(extras[block]), replace=False)] = 1
        counts = per_patient + with_extra
        patient = np.repeat(np.arange(start, start + counts.size, dtype=np.int64), counts)
        if patient.size:
            plan = _distinct_plans(rng, patient, plan_cum)
            ids = np.arange(next_id, next_id + patient.size, dtype=np.int64)
            yield list(
                zip(
                    ids.tolist(),
                    (patient + first_patient_id).tolist(),
                    (plan + 1).tolist(),
                    carteira_array(ids),
                    _validity(rng, month, patient.size),
                    strict=True,
                )
            )
            next_id += patient.size


def _draw(rng: np.random.Generator, cum: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.int64]:
    return pick(cum, rng.random(n)).astype(np.int64)


def _distinct_plans(
    rng: np.random.Generator, patient: npt.NDArray[np.int64], cum: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """A plan index per row, never twice the same for one patient."""
    plan = _draw(rng, cum, patient.size)
    for _ in range(30):
        dup = _duplicates(patient, plan)
        if dup.size == 0:
            return plan
        plan[dup] = _draw(rng, cum, dup.size)
    # Patients in nearly every plan: give the repeated rows the plans they lack.
    for row in _duplicates(patient, plan).tolist():
        taken = set(plan[patient == patient[row]].tolist())
        plan[row] = next(p for p in range(cum.size) if p not in taken)
    return plan


def _duplicates(
    patient: npt.NDArray[np.int64], plan: npt.NDArray[np.int64]
) -> npt.NDArray[np.intp]:
    """Rows repeating a plan already given to the same patient on an earlier row.

    A patient's rows are consecutive and few, so comparing each row with the few
    before it is enough.
    """
    repeated = np.zeros(patient.size, dtype=np.bool_)
    lag = 1
    while lag < patient.size:
        same_patient = patient[lag:] == patient[:-lag]
        if not same_patient.any():
            break
        repeated[lag:] |= same_patient & (plan[lag:] == plan[:-lag])
        lag += 1
    return np.flatnonzero(repeated)


def _validity(rng: np.random.Generator, month: np.datetime64, n: int) -> list[dt.date]:
    # Cards expire at the end of a month, mostly one to three years ahead.
    expired = rng.random(n) < EXPIRED_SHARE
    months = np.where(expired, -rng.integers(1, 19, n), rng.integers(1, 37, n))
    last_day = (month + months + 1).astype("datetime64[D]") - 1
    return to_dates(last_day.astype(np.int64))
