"""Consultations and exams: who came, when, to see whom, and why.

Past rows come out in time order, so ids grow with the date as in a live system.
Scheduled appointments were booked last, so they take the highest consulta ids.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.cohort import Cohort
from hospital_sim.generate.draw import pick
from hospital_sim.generate.results import result_pools
from hospital_sim.generate.staff import Staff
from hospital_sim.generate.timeline import (
    CLINIC,
    DAY,
    LAB,
    Horizon,
    Seconds,
    to_datetimes,
    weekday,
)
from hospital_sim.generate.vocab import ESPECIALIDADES, EXAMES, STATUS_PASSADO
from hospital_sim.tables import Row

Streams = Callable[[int], np.random.Generator]  # block number -> that block's generator

FUTURE_SHARE = 0.15  # appointments still ahead of us (status agendada)
FUTURE_HORIZON_DAYS = 120
BOOKING_LEAD_DAYS = 30.0  # mean lead time: most appointments are a few weeks away
PENDING_SHARE = 0.12  # exams awaiting a result
PENDING_WINDOW_DAYS = 21  # results arrive within three weeks; older exams all have one
RESULT_POOL_SIZE = 256

_STATUS = np.array(list(STATUS_PASSADO), dtype=object)
_STATUS_CUM = np.cumsum(list(STATUS_PASSADO.values())) / sum(STATUS_PASSADO.values())


def consulta_blocks(
    streams: Streams,
    cohort: Cohort,
    staff: Staff,
    horizon: Horizon,
    n: int,
    first_id: int,
    block_rows: int,
) -> Iterator[list[Row]]:
    """Rows of consultas: past ones (realizada/cancelada/faltou) in date order, then the
    scheduled ones (agendada) within the next FUTURE_HORIZON_DAYS days."""
    n_future = round(n * FUTURE_SHARE)
    past = cohort.event_times(n - n_future, cohort.first_event_day, horizon.past_last_day, CLINIC)
    future_days = np.arange(
        horizon.future_first_day, horizon.future_last_day(FUTURE_HORIZON_DAYS) + 1, dtype=np.int64
    )
    lead = np.exp(-(future_days - future_days[0]) / BOOKING_LEAD_DAYS)
    future_p = lead * CLINIC.weekday_weight[weekday(future_days)]
    future_p /= future_p.sum()
    done, block = 0, 0
    while done < n:
        rng = streams(block)
        size = min(block_rows, n - done)
        n_past = min(size, past.remaining)
        t_past = past.take(rng, n_past)
        t_future = rng.choice(future_days, size - n_past, p=future_p) * DAY + CLINIC.random_slots(
            rng, size - n_past
        )
        patient = np.concatenate(
            [cohort.draw_registered_before(rng, t_past), cohort.draw_any(rng, size - n_past)]
        )
        t = np.concatenate([t_past, t_future])
        status = np.full(size, "agendada", dtype=object)
        status[:n_past] = _STATUS[pick(_STATUS_CUM, rng.random(n_past), 2)]
        female, age = cohort.is_female(patient), cohort.age_years(patient, t)
        doctor = staff.book(rng, female, age)
        yield list(
            zip(
                range(first_id + done, first_id + done + size),
                (patient + cohort.first_id).tolist(),
                (doctor + staff.first_id).tolist(),
                to_datetimes(t),
                _motivos(rng, staff.specialty[doctor], female, age),
                status.tolist(),
                strict=True,
            )
        )
        done, block = done + size, block + 1


def _motivos(
    rng: np.random.Generator,
    specialty: npt.NDArray[np.intp],
    female: npt.NDArray[np.bool_],
    age: npt.NDArray[np.float64],
) -> list[str]:
    motivo = np.empty(specialty.size, dtype=object)
    for s in np.unique(specialty).tolist():
        rows = np.flatnonzero(specialty == s)
        vocab = ESPECIALIDADES[s].motivos
        motivo[rows] = vocab.texts[vocab.sample(rng, rows.size, female=female[rows], age=age[rows])]
    texts: list[str] = motivo.tolist()
    return texts


def exame_blocks(
    streams: Streams,
    cohort: Cohort,
    horizon: Horizon,
    n: int,
    first_id: int,
    block_rows: int,
    result_seed: int,
) -> Iterator[list[Row]]:
    """Rows of exames in date order: those with a result, then the last PENDING_WINDOW_DAYS
    days' exams still awaiting one (resultado NULL)."""
    first_day = cohort.first_event_day
    pending_from = max(first_day, horizon.past_last_day - PENDING_WINDOW_DAYS + 1)
    n_pending = n if pending_from == first_day else round(n * PENDING_SHARE)
    segments = [
        cohort.event_times(n - n_pending, first_day, pending_from - 1, LAB),
        cohort.event_times(n_pending, pending_from, horizon.past_last_day, LAB),
    ]
    pools = result_pools(tuple(EXAMES.texts.tolist()), random.Random(result_seed), RESULT_POOL_SIZE)
    flat_results = np.concatenate(pools)
    done, block = 0, 0
    while done < n:
        rng = streams(block)
        size = min(block_rows, n - done)
        n_done = min(size, segments[0].remaining)
        t: Seconds = np.concatenate(
            [segments[0].take(rng, n_done), segments[1].take(rng, size - n_done)]
        )
        patient = cohort.draw_registered_before(rng, t)
        tipo = EXAMES.sample(
            rng, size, female=cohort.is_female(patient), age=cohort.age_years(patient, t)
        )
        result = flat_results[tipo * RESULT_POOL_SIZE + rng.integers(0, RESULT_POOL_SIZE, size)]
        result[n_done:] = None
        yield list(
            zip(
                range(first_id + done, first_id + done + size),
                (patient + cohort.first_id).tolist(),
                EXAMES.text_list(tipo),
                to_datetimes(t),
                result.tolist(),
                strict=True,
            )
        )
        done, block = done + size, block + 1
