"""Single rows for the live stream, drawn from a random.Random the caller owns.

Values follow the same vocabularies and formats as the seed data set. Where a choice
would depend on the patient (sex, age) or the doctor, which the stream does not look
up, only the terms that fit anyone are used.
"""

from __future__ import annotations

import datetime as dt
import random
from itertools import accumulate

from hospital_sim.generate.addresses import pick_address, pick_city, pick_phone
from hospital_sim.generate.documents import carteira_for_id, cpf_for_id
from hospital_sim.generate.draw import weighted
from hospital_sim.generate.people import FEMALE_SHARE, pick_age_days, pick_name
from hospital_sim.generate.places import CITIES
from hospital_sim.generate.results import result_for
from hospital_sim.generate.stays import pick_room
from hospital_sim.generate.timeline import CLINIC
from hospital_sim.generate.vocab import (
    EXAMES,
    MOTIVOS_CONSULTA_GERAL,
    MOTIVOS_INTERNACAO,
    STATUS_PASSADO,
)
from hospital_sim.tables import Row

BOOKING_MIN = dt.timedelta(minutes=5)
BOOKING_MAX = dt.timedelta(days=90)
BOOKING_LEAD_DAYS = 20.0  # mean days ahead a new appointment is booked
EXAM_LOOKBACK = dt.timedelta(days=2)  # a new exam row records a collection up to 2 days ago
ADMISSION_LOOKBACK = dt.timedelta(days=3)
DISCHARGE_LAG = dt.timedelta(hours=2)  # discharges are recorded up to two hours late
CARD_MONTHS = (12, 36)  # a new member card is valid for one to three years

_SLOTS = [dt.timedelta(seconds=s) for s in CLINIC.slots.tolist()]  # after midnight
_SLOT_CUM = CLINIC.cum.tolist()
_DAYS = [dt.timedelta(days=d) for d in range(BOOKING_MAX.days + 1)]  # leads, ready made
_OUTCOMES = list(STATUS_PASSADO)
_OUTCOME_CUM = list(accumulate(STATUS_PASSADO.values()))


def _whole_seconds(moment: dt.datetime) -> dt.datetime:
    return moment - dt.timedelta(0, 0, moment.microsecond)  # twice as fast as .replace


def _between(rng: random.Random, low: dt.datetime, high: dt.datetime) -> dt.datetime:
    span = max((high - low).total_seconds(), 0.0)
    moment = low + dt.timedelta(seconds=rng.uniform(0, span))
    whole = _whole_seconds(moment)
    return whole if whole >= low else moment


class RowFactory:
    """Builds one row at a time for INSERTs and the new values of UPDATEs."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def paciente(self, id: int, now: dt.datetime) -> Row:
        """(id, nome, nascimento, cpf, telefone, endereco, data_cadastro=now)."""
        rng = self.rng
        female = rng.random() < FEMALE_SHARE
        birth = (now - dt.timedelta(days=pick_age_days(rng))).date()
        city = pick_city(rng)
        return (
            id,
            pick_name(rng, female, birth.year),
            birth,
            cpf_for_id(id),
            pick_phone(rng, CITIES[city].ddd),
            pick_address(rng, city),
            _whole_seconds(now),
        )

    def paciente_convenio(
        self, id: int, paciente_id: int, convenio_id: int, now: dt.datetime
    ) -> Row:
        """(id, paciente_id, convenio_id, numero_carteira, validade: end of a future month)."""
        return (id, paciente_id, convenio_id, carteira_for_id(id), self.card_validity(now))

    def card_validity(self, now: dt.datetime) -> dt.date:
        """Until when a member card issued ``now`` is valid: the end of a month one to
        three years ahead."""
        months = now.month - 1 + self.rng.randint(*CARD_MONTHS) + 1
        first_of_next = dt.date(now.year + months // 12, months % 12 + 1, 1)
        return first_of_next - dt.timedelta(days=1)

    def consulta(
        self, id: int, paciente_id: int, medico_id: int, registered: dt.datetime, now: dt.datetime
    ) -> Row:
        """(id, paciente_id, medico_id, data, motivo, 'agendada'), data in a clinic slot
        between now + 5 minutes and now + 90 days (and after the patient registered)."""
        return self.consulta_at(id, paciente_id, medico_id, self.slot(registered, now))

    def consulta_at(self, id: int, paciente_id: int, medico_id: int, when: dt.datetime) -> Row:
        """(id, paciente_id, medico_id, data=when, motivo, 'agendada')."""
        return (id, paciente_id, medico_id, when, MOTIVOS_CONSULTA_GERAL.pick(self.rng), "agendada")

    def slot(
        self, registered: dt.datetime, now: dt.datetime, lead_days: float = BOOKING_LEAD_DAYS
    ) -> dt.datetime:
        """A clinic slot between now + 5 minutes and now + 90 days (and after the patient
        registered), ``lead_days`` ahead on average, mostly on weekdays."""
        low = max(now, registered) + BOOKING_MIN
        return self._slot(low, max(now + BOOKING_MAX, low), lead_days)

    def _slot(self, low: dt.datetime, high: dt.datetime, lead_days: float) -> dt.datetime:
        rng = self.rng
        midnight = dt.datetime(low.year, low.month, low.day)
        rate = 1 / lead_days
        for _ in range(20):
            day = midnight + _DAYS[min(int(rng.expovariate(rate)), BOOKING_MAX.days)]
            if rng.random() < 0.9 and day.weekday() >= 5:
                continue  # clinics are mostly closed at weekends
            when = day + weighted(rng, _SLOTS, _SLOT_CUM)
            if low <= when <= high:
                return when
        # Nothing fitted (a window of minutes): the next 10-minute mark, if there is one.
        step = dt.timedelta(minutes=10)
        mark = midnight + -((midnight - low) // step) * step
        return mark if mark <= high else low

    def exame(self, id: int, paciente_id: int, registered: dt.datetime, now: dt.datetime) -> Row:
        """(id, paciente_id, tipo_exame, data, None): a pending exam collected after the
        patient registered, at most two days before now, and not after now."""
        low = min(max(registered + dt.timedelta(seconds=1), now - EXAM_LOOKBACK), now)
        return (id, paciente_id, EXAMES.pick(self.rng), _between(self.rng, low, now), None)

    def internacao(self, id: int, paciente_id: int, now: dt.datetime) -> Row:
        """(id, paciente_id, data_entrada, None, motivo, quarto): a current stay admitted
        within the last three days."""
        rng = self.rng
        entrada = _between(rng, now - ADMISSION_LOOKBACK, now)
        return (id, paciente_id, entrada, None, MOTIVOS_INTERNACAO.pick(rng), pick_room(rng))

    def telefone(self, uf: str | None = None) -> str:
        """A phone number with a DDD of ``uf`` (any state, by population, if None)."""
        return pick_phone(self.rng, CITIES[pick_city(self.rng, uf)].ddd)

    def endereco(self, uf: str | None = None) -> tuple[str, str]:
        """An address line in ``uf`` (any state, by population, if None) and its UF."""
        city = pick_city(self.rng, uf)
        return pick_address(self.rng, city), CITIES[city].uf

    def consulta_outcome(self) -> str:
        """How a scheduled appointment ended: realizada, cancelada or faltou."""
        return weighted(self.rng, _OUTCOMES, _OUTCOME_CUM)

    def exame_resultado(self, tipo_exame: str) -> str:
        """A result text that reads right for ``tipo_exame``."""
        return result_for(tipo_exame, self.rng)

    def discharge_time(self, data_entrada: dt.datetime, now: dt.datetime) -> dt.datetime:
        """When a patient still in hospital is discharged: shortly before now, never
        before admission."""
        if now <= data_entrada:
            return data_entrada
        low = max(data_entrada, now - DISCHARGE_LAG)
        return max(_between(self.rng, low, now), data_entrada)
