"""Hospital stays: admissions in time order, never overlapping for a patient.

Patients are admitted in admission-time order; a patient in hospital is remembered with
the time they may be admitted again (after discharge, or never while still in hospital),
so a patient has at most one current stay and it is their last. Only the patients in
hospital are remembered (:class:`Ward`), so memory follows the beds, not the patients.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.cohort import Cohort
from hospital_sim.generate.timeline import (
    ADMISSION,
    DAY,
    DISCHARGE,
    HOUR,
    MINUTE,
    Horizon,
    Seconds,
    to_datetimes,
)
from hospital_sim.generate.vocab import MOTIVOS_INTERNACAO
from hospital_sim.tables import Row

Streams = Callable[[int], np.random.Generator]

# Length of stay in days: SIH/SUS reports a mean of about five days, with a long tail.
LOS_MEDIAN_DAYS = 3.5
LOS_SIGMA = 0.95
MIN_STAY = 4 * HOUR
READMISSION_GAP = 12 * HOUR  # nobody is readmitted within hours of discharge
CANDIDATES = 8  # patients drawn at once when the first one is in hospital

# Stays that rarely last longer than this many days.
_SHORT_STAYS = {
    "Parto normal": 2, "Parto cesáreo": 3, "Aborto espontâneo": 1, "Crise asmática": 3,
    "Hérnia inguinal - cirurgia eletiva": 2, "Apendicite aguda": 4, "Gastroenterite aguda": 4,
    "Crise hipertensiva": 3, "Bronquiolite": 6,
}  # fmt: skip
_MATERNITY = {"Parto normal", "Parto cesáreo", "Aborto espontâneo"}
_CRITICAL = {"Sepse", "Infarto agudo do miocárdio", "Acidente vascular cerebral",
             "Traumatismo cranioencefálico"}  # fmt: skip


def _rooms(prefix: str, floors: range, rooms: int) -> npt.NDArray[np.object_]:
    return np.array([f"{prefix}-{f}{r:02d}" for f in floors for r in range(1, rooms + 1)], object)


_WARD = _rooms("Enf", range(3, 7), 30)
_PRIVATE = _rooms("Apto", range(7, 10), 16)
_ICU = np.array([f"UTI-{bed:02d}" for bed in range(1, 21)], dtype=object)
_PAEDIATRIC = _rooms("Ped", range(1, 2), 24)
_MATERNITY_ROOMS = _rooms("Mat", range(2, 3), 24)

_CAP_DAYS = np.array([_SHORT_STAYS.get(t, 10_000) for t in MOTIVOS_INTERNACAO.texts.tolist()])
_IS_MATERNITY = np.array([t in _MATERNITY for t in MOTIVOS_INTERNACAO.texts.tolist()])
_IS_CRITICAL = np.array([t in _CRITICAL for t in MOTIVOS_INTERNACAO.texts.tolist()])


def pick_room(rng: random.Random) -> str:
    """A room for an adult admitted from the street: ward, private room or ICU."""
    u = rng.random()
    pool = _ICU if u < 0.08 else _PRIVATE if u > 0.84 else _WARD
    room: str = pool[rng.randrange(pool.size)]
    return room


class BedsFull(ValueError):
    """Every registered patient is already in hospital when another admission is due."""


class Ward:
    """When each patient in hospital may be admitted again; everyone else may be now.

    Admissions come in time order, so whoever is free at one admission stays free at the
    next: they are forgotten as time passes.
    """

    def __init__(self) -> None:
        self.free_from: dict[int, int] = {}
        self._leaving: list[tuple[int, int]] = []  # (free_from, patient), a heap

    def admit(self, patient: int, free_from: int) -> None:
        self.free_from[patient] = free_from
        heapq.heappush(self._leaving, (free_from, patient))

    def now(self, t: int) -> None:
        """Forget the patients free before ``t``."""
        leaving = self._leaving
        while leaving and leaving[0][0] < t:
            free_from, patient = heapq.heappop(leaving)
            if self.free_from.get(patient) == free_from:
                del self.free_from[patient]

    def busy(self, patient: int, t: int) -> bool:
        return self.free_from.get(patient, -1) >= t


def stay_blocks(
    streams: Streams, cohort: Cohort, horizon: Horizon, n: int, first_id: int, block_rows: int
) -> Iterator[list[Row]]:
    """Rows of internacoes in admission order."""
    admissions = cohort.event_times(n, cohort.first_event_day, horizon.past_last_day, ADMISSION)
    ward = Ward()
    latest_admission = (horizon.past_last_day + 1) * DAY - MINUTE
    done, block = 0, 0
    while done < n:
        rng = streams(block)
        size = min(block_rows, n - done)
        entrada = admissions.take(rng, size)
        saida = _discharges(rng, entrada)
        patient = _admit(rng, cohort, ward, entrada, saida, horizon.past_limit, latest_admission)
        female, age = cohort.is_female(patient), cohort.age_years(patient, entrada)
        motivo = MOTIVOS_INTERNACAO.sample(rng, size, female=female, age=age)
        entrada_day = entrada // DAY
        capped = (entrada_day + _CAP_DAYS[motivo]) * DAY + DISCHARGE.random_slots(rng, size)
        saida = np.minimum(saida, np.maximum(capped, entrada + MIN_STAY))
        discharged = saida <= horizon.past_limit
        yield list(
            zip(
                range(first_id + done, first_id + done + size),
                (patient + cohort.first_id).tolist(),
                to_datetimes(entrada),
                [
                    s if d else None
                    for s, d in zip(to_datetimes(saida), discharged.tolist(), strict=True)
                ],
                MOTIVOS_INTERNACAO.text_list(motivo),
                _quartos(rng, motivo, age),
                strict=True,
            )
        )
        done, block = done + size, block + 1


def _discharges(rng: np.random.Generator, entrada: Seconds) -> Seconds:
    n = entrada.size
    los_days = np.floor(rng.lognormal(np.log(LOS_MEDIAN_DAYS), LOS_SIGMA, n)).astype(np.int64)
    saida = (entrada // DAY + los_days) * DAY + DISCHARGE.random_slots(rng, n)
    # Same-day stays (observation, day surgery) last a few hours.
    short = saida < entrada + MIN_STAY
    saida[short] = (
        entrada[short] + MIN_STAY + rng.integers(0, 4 * HOUR // MINUTE, short.sum()) * MINUTE
    )
    return saida


def _admit(
    rng: np.random.Generator,
    cohort: Cohort,
    ward: Ward,
    entrada: Seconds,
    saida: Seconds,
    past_limit: int,
    latest_admission: int,
) -> npt.NDArray[np.intp]:
    """Pick, in admission order, a patient who is not in hospital; update the ward.

    ``entrada``/``saida`` are moved later in the rare case that nobody is free.
    """
    eligible = cohort.registered_before(entrada)
    first_choice = cohort.draw_below(rng, eligible).tolist()
    registered = eligible.tolist()
    chosen: list[int] = []
    ends = saida.tolist()
    never = 2**62
    for i, (t, p) in enumerate(zip(entrada.tolist(), first_choice, strict=True)):
        ward.now(t)
        if ward.busy(p, t):
            others = cohort.draw_below(rng, np.full(CANDIDATES, registered[i])).tolist()
            free = [q for q in others if not ward.busy(q, t)]
            if free:
                p = free[0]
            else:
                p, moved = _first_free(ward, registered[i], t, latest_admission)
                entrada[i] += moved - t
                saida[i] += moved - t
                ends[i] += moved - t
        chosen.append(p)
        ward.admit(p, ends[i] + READMISSION_GAP if ends[i] <= past_limit else never)
    return np.array(chosen, dtype=np.intp)


def _first_free(ward: Ward, registered: int, t: int, latest: int) -> tuple[int, int]:
    """The first of the ``registered`` patients free at ``t``, or the soonest free, moving
    ``t``."""
    first = next(p for p in range(registered + 1) if p == registered or not ward.busy(p, t))
    if first < registered:
        return first, t
    soonest, free_from = min(
        ((p, f) for p, f in ward.free_from.items() if p < registered),
        key=lambda pf: (pf[1], pf[0]),
        default=(0, 2**62),
    )
    if free_from + MINUTE <= latest:
        return soonest, free_from + MINUTE
    raise BedsFull(
        f"all {registered} patients registered by {np.datetime64(t, 's')} are in hospital, "
        "so another stay would overlap one of theirs: raise pacientes or lower internacoes"
    )


def _quartos(
    rng: np.random.Generator, motivo: npt.NDArray[np.intp], age: npt.NDArray[np.float64]
) -> list[str]:
    n = motivo.size
    u = rng.random(n)
    pick = rng.integers(0, 1 << 30, n)
    icu = np.where(_IS_CRITICAL[motivo], u < 0.5, u < 0.08)
    private = ~icu & (u > 0.84)
    rooms = np.where(private, _PRIVATE[pick % _PRIVATE.size], _WARD[pick % _WARD.size])
    rooms = np.where(icu, _ICU[pick % _ICU.size], rooms)
    rooms = np.where(_IS_MATERNITY[motivo], _MATERNITY_ROOMS[pick % _MATERNITY_ROOMS.size], rooms)
    rooms = np.where((age < 14) & ~icu, _PAEDIATRIC[pick % _PAEDIATRIC.size], rooms)
    labels: list[str] = rooms.tolist()
    return labels
