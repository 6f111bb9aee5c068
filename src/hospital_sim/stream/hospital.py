"""The hospital model (``--model hospital``): lifecycles, bed capacity and a steady state.

Each worker runs a small discrete-event simulation of the patients it owns. Arrivals
(registrations, bookings, exam requests, contact updates, admissions) come from Poisson
processes shaped by the hospital-day curve; each arrival schedules the transitions of its
lifecycle on the simulated clock:

* appointment: booked in a free slot of a doctor's agenda (at most ``--clinic-slots`` a
  day), then agendada → realizada / faltou / cancelada after its lead time;
* exam: requested → collected (``data`` moves to the collection time) → resulted
  (``resultado`` set), with delays that depend on its type;
* stay: admitted → moved to other rooms (``quarto``) → discharged (``data_saida``) after
  a length of stay drawn per admission cause.

The simulated clock is elastic: the next event is always the earliest arrival or due
transition, however far ahead, so ``--rate`` is met by the pacing exactly as in the
original mix and the shape stays that of a hospital at any speed. Rows keep the stream's
wall-clock timestamps (the seed's coherence rules are about those). Admissions wait for a
free bed: one is admitted only while occupancy is below the target, so occupancy settles
just under the target and never exceeds the beds.

Rows loaded from the database (the seed, earlier runs) join their lifecycles where they
are: a pending exam of the seed is already collected, a current stay is part-way through.
Current stays beyond the beds (a database the original mix filled) are discharged first.

Memory is bounded by the steady state, not by the run's length: lifecycles due on later
simulated days wait in a compact :class:`~hospital_sim.stream.agenda.Calendar`, closed
entities are dropped, and the patients the model draws from are held at their number at
the start (a newcomer takes a random one's place), so a run of days holds what a run of
minutes does.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
import random
from dataclasses import dataclass, field

from hospital_sim.stream.agenda import Agenda, Calendar, slots_for
from hospital_sim.stream.operations import Event, Operations
from hospital_sim.stream.pacing import LOCAL_OFFSET, day_factor
from hospital_sim.stream.pools import Booking, Partition, Pool, Stay

DAY = 86_400.0
HOUR = 3_600.0

# -- figures (each with where it comes from) ---------------------------------------------
# Mean length of stay, days, by admission cause. Checked against SIH/SUS: 5.7-9.7 days for
# COVID-19 and 5.3-9.4 for pneumonia or influenza in the northern states in 2020 (Santos et
# al., Rev Saúde Pública 2021;55:52, table 3). The other causes and the overall 5.5 days
# are model choices of the same order (assumptions, not checked figures).
LOS_DAYS: dict[str, float] = {
    "Parto normal": 2.0, "Parto cesáreo": 2.5, "Aborto espontâneo": 1.0,
    "Pneumonia": 6.5, "Bronquiolite": 4.5, "Crise asmática": 2.5, "DPOC exacerbada": 6.5,
    "COVID-19": 8.0, "Insuficiência cardíaca descompensada": 7.5,
    "Infarto agudo do miocárdio": 7.0, "Acidente vascular cerebral": 8.5,
    "Crise hipertensiva": 2.5, "Colecistite aguda": 4.0, "Apendicite aguda": 3.0,
    "Hérnia inguinal - cirurgia eletiva": 1.5, "Gastroenterite aguda": 3.0,
    "Fratura de fêmur": 8.0, "Fratura de membro superior": 3.0,
    "Traumatismo cranioencefálico": 9.0, "Infecção do trato urinário": 4.5,
    "Pielonefrite": 5.0, "Sepse": 10.0, "Celulite infecciosa": 5.5, "Dengue grave": 4.0,
    "Diabetes descompensado": 5.0, "Insuficiência renal aguda": 8.0,
    "Neoplasia - quimioterapia": 4.0, "Neoplasia - cirurgia oncológica": 6.0,
}  # fmt: skip
LOS_DEFAULT_DAYS = 5.5
LOS_SIGMA = 0.8  # log-normal spread: most stays near the mean, a long tail (SIH/SUS)
MIN_STAY = 4 * HOUR

# How booked appointments end. No-shows: 19.2% in a primary care unit of Pelotas (Silveira
# et al.), 38.6% for regulated specialist visits in Espírito Santo, 2014-2016 (Beltrame et
# al., Saúde em Debate 2019); the model keeps near the first. Cancellations: an assumption.
OUTCOMES: dict[str, float] = {"realizada": 0.72, "faltou": 0.20, "cancelada": 0.08}
# Days between booking and the appointment: mean of about two weeks (exponential).
LEAD_MEAN_DAYS = 14.0
# Clinic slots per doctor per day (the default of --clinic-slots): a 4-hour shift of
# 15-minute visits. A model choice: no Brazilian rule fixes it (the service sets it).
SLOTS_PER_DOCTOR_DAY = 16
CLINIC_FILL = 0.85  # share of slots booked
WORKING_DAYS = 5 / 7  # clinics open on weekdays (a few weekend slots, see rows.slot)
BOOKING_TRIES = 20  # (doctor, day) draws before a booking gives up: agendas are full
# The patients the model draws from (bookings, exams, admissions, updates) stay at their
# number at the start, and at least this many per worker.
MIN_ACTIVE_PATIENTS = 200
# Health-plan changes per enrolled patient per year. A model choice (an assumption: no
# published Brazilian rate found): jobs change, employer plans with them.
PLAN_CHANGES_PER_YEAR = 0.10
# Exam turnaround (collection → result), mean hours: routine lab the same day, imaging
# reports in one to three days. Request → collection: a lab sample at the next collection
# round (about an hour), an imaging slot the next day. Assumptions: no published
# reference values were checked.
LAB_COLLECT_HOURS = 1.0
LAB_TURNAROUND_HOURS = 8.0
IMAGING_COLLECT_HOURS = 24.0
IMAGING_TURNAROUND_HOURS = 48.0
# Room changes per stay: P(0), P(1), P(2). A model choice (no Brazilian source found):
# most patients keep their bed; some move (ICU to ward, isolation, a ward bed freed).
TRANSFERS = (0.6, 0.3, 0.1)
IMAGING_WORDS = ("Raio", "Radiografia", "Ultrassonografia", "Tomografia", "Ressonância",
                 "Mamografia", "Eletrocardiograma", "Ecocardiograma", "Endoscopia")  # fmt: skip
EXAMS_PER_VISIT = 0.6  # exam requests per booked visit (SIA/SUS group 02 over visits)
REGISTRATIONS_PER_VISIT = 0.10  # new patients per booked visit
CONTACT_UPDATES_PER_VISIT = 0.05  # phone/address changes per booked visit
OVERFLOW_DISCHARGE = HOUR  # a stay over the beds at the start leaves within the hour
OVERBOOKING = 3.0  # admission requests over the target's flow: a waiting list keeps beds near it

# The hospital-day curve averages to about this over a week: arrivals are divided by it
# so the daily totals above hold.
_MEAN_DAY_FACTOR = sum(
    day_factor(dt.datetime(2024, 1, 1) + dt.timedelta(hours=h / 4)) for h in range(7 * 96)
) / (7 * 96)

CONSULTA, EXAME, STAY = "consulta", "exame", "stay"
ARRIVALS = ("insert_consulta", "insert_exame", "insert_internacao")  # with a lifecycle
Steps = tuple[tuple[float, str], ...]
"""An entity's lifecycle to come: (simulated time, operation), in time order."""
Entry = tuple[float, int, str, int]  # (due, token, kind, key) on the heap
Live = tuple[int, object, Steps]  # (token, payload, steps) of a live entity


def beds_for(beds: int, part: Partition) -> int:
    """This partition's beds: an even split, the remainder to the lowest residues."""
    return beds // part.modulus + (1 if part.residue < beds % part.modulus else 0)


def default_beds(seed_internacoes: int) -> int:
    """Beds when none are set: the seed's stays over five (a stay's mean is ~5 days)."""
    return max(20, seed_internacoes // 5)


def los_seconds(rng: random.Random, motivo: str) -> float:
    """A length of stay for ``motivo``: log-normal with the table's mean."""
    mean = LOS_DAYS.get(motivo, LOS_DEFAULT_DAYS) * DAY
    mu = math.log(mean) - LOS_SIGMA**2 / 2
    return max(MIN_STAY, rng.lognormvariate(mu, LOS_SIGMA))


def turnaround(rng: random.Random, tipo: str) -> tuple[float, float]:
    """Seconds from request to collection, and from collection to result, for ``tipo``."""
    imaging = any(word in tipo for word in IMAGING_WORDS)
    collect = (IMAGING_COLLECT_HOURS if imaging else LAB_COLLECT_HOURS) * HOUR
    result = (IMAGING_TURNAROUND_HOURS if imaging else LAB_TURNAROUND_HOURS) * HOUR
    return rng.expovariate(1 / collect), rng.expovariate(1 / result)


def draw_outcome(rng: random.Random) -> str:
    x = rng.random()
    for outcome, p in OUTCOMES.items():
        x -= p
        if x < 0:
            return outcome
    return "realizada"


@dataclass
class Census:
    """What the model counts: beds, occupancy, admissions deferred for lack of a bed."""

    beds: int
    target: int
    occupied: int = 0
    peak: int = 0
    deferred: int = 0
    unbooked: int = 0  # bookings given up: no free slot in BOOKING_TRIES draws
    transitions: dict[str, int] = field(default_factory=dict)


class HospitalModel:
    """Plans one worker's events as the next step of its hospital's simulation."""

    def __init__(
        self,
        *,
        ops: Operations,
        rng: random.Random,
        beds: int,
        occupancy: float,
        share: float,
        doctors: int,
        start_utc: dt.datetime,
        slots: int = SLOTS_PER_DOCTOR_DAY,
        part: Partition = Partition(0, 1),
    ) -> None:
        self.ops = ops
        self.rng = rng
        target = max(1, min(beds, math.floor(occupancy * beds + 0.5))) if beds else 0
        self.census = Census(beds=beds, target=target)
        self.now = 0.0  # simulated seconds since the start
        self._local0 = start_utc + LOCAL_OFFSET
        self._seq = itertools.count()
        self._live: dict[tuple[str, int], Live] = {}
        self._due: list[Entry] = []
        self._calendar = Calendar(DAY)
        self._horizon = DAY  # lifecycle steps due before this are on the heap
        medicos = ops.pools.medicos
        self.agenda = Agenda(medicos, [slots_for(slots, m, part) for m in medicos])
        visits = max(1, doctors) * slots * CLINIC_FILL * WORKING_DAYS * share / DAY
        mean_los = LOS_DEFAULT_DAYS * DAY
        self._rates = {
            "insert_consulta": visits,
            "insert_exame": visits * EXAMS_PER_VISIT,
            "insert_paciente": visits * REGISTRATIONS_PER_VISIT,
            "update_paciente": visits * CONTACT_UPDATES_PER_VISIT,
            "change_convenio": len(ops.pools.patients) * PLAN_CHANGES_PER_YEAR / (365 * DAY),
            "insert_internacao": OVERBOOKING * target / mean_los,
        }
        # Clinic arrivals are thinned by the hospital-day curve (so their peak rate is
        # divided by its mean); admissions come day and night, emergencies included.
        self._clinic = {op: r / _MEAN_DAY_FACTOR for op, r in self._rates.items()}
        del self._clinic["insert_internacao"]
        self._names = [*self._clinic, "insert_internacao"]
        self._cum = list(
            itertools.accumulate([*self._clinic.values(), self._rates["insert_internacao"]])
        )
        self._total = self._cum[-1]
        self._load()
        ops.pools.watchers.append(self.forget)

    # -- state ------------------------------------------------------------------------
    def _load(self) -> None:
        """Give the rows loaded from the database (seed or earlier runs) their futures."""
        pools, rng = self.ops.pools, self.rng
        wall = self.ops.clock()
        for n, sid in enumerate(pools.stays.ordered_keys()):
            stay = pools.stays.get(sid)
            if n < self.census.beds:
                # A current stay is somewhere in its course: what is left of a fresh draw.
                steps = self._stay_steps(rng.random() * los_seconds(rng, ""))
            else:  # more current stays than beds (e.g. after a mix run): discharged first
                steps = ((rng.random() * OVERFLOW_DISCHARGE, "update_internacao"),)
            self._schedule(STAY, sid, stay, steps)
            self.census.occupied += 1
        for cid, booking in pools.booked or ():
            ahead = max(0.0, (booking.when - wall).total_seconds())
            lead = rng.expovariate(1 / (LEAD_MEAN_DAYS * DAY))
            self.agenda.book(booking.medico_id, booking.when.date())
            self._book(cid, booking, min(ahead, lead))
        pools.booked = None  # the model keeps its appointments itself
        pools.scheduled = Pool(rng)
        active = max(len(pools.patients), MIN_ACTIVE_PATIENTS)
        pools.patients.limit(active)
        pools.not_admitted.limit(active)
        for eid in pools.pending_exams.ordered_keys():
            tipo = pools.pending_exams.get(eid)  # collected already (the seed's meaning)
            self._schedule(EXAME, eid, (tipo, None), ((turnaround(rng, tipo)[1], "update_exame"),))
        self.census.peak = self.census.occupied

    def forget(self, paciente_id: int, erased: bool, moved_to: int | None) -> None:
        """A scenario deleted or renumbered patient ``paciente_id`` (between two of this
        worker's transactions). Renumbered (``moved_to``), its rows live on under the new
        id: their lifecycles go on by row id, its stay now names the new id. Erased, its
        current stay is gone: the bed is free and no transfer or discharge follows. Its
        bookings and exams keep their place until due; their updates then find no row
        (counted stale)."""
        if not erased and moved_to is None:
            return
        pools = self.ops.pools
        for (kind, key), (_token, payload, _steps) in list(self._live.items()):
            if kind != STAY or not isinstance(payload, Stay):
                continue
            if payload.paciente_id != paciente_id:
                continue
            if moved_to is not None:
                payload.paciente_id = moved_to
            else:
                del self._live[(kind, key)]  # its entries on the heap are skipped
                pools.stays.discard(key)
                self.census.occupied -= 1

    def _stay_steps(self, los: float) -> Steps:
        """Room changes at random moments of the stay, then the discharge."""
        rng = self.rng
        moves = sorted(rng.random() * los for _ in range(_transfers(rng)))
        return (*((t, "transfer_internacao") for t in moves), (los, "update_internacao"))

    def _schedule(self, kind: str, key: int, payload: object, steps: Steps) -> None:
        """``steps``: (delay from now, operation) in time order, the lifecycle to come."""
        now = self.now
        self._push(kind, key, payload, tuple((now + d, op) for d, op in steps))

    def _push(self, kind: str, key: int, payload: object, steps: Steps) -> None:
        token = next(self._seq)
        self._live[(kind, key)] = (token, payload, steps)
        heapq.heappush(self._due, (steps[0][0], token, kind, key))

    def _unschedule(self, kind: str, key: int) -> None:
        if self._live.pop((kind, key), None) is None and kind == CONSULTA:
            self._calendar.cancel(key)  # still waiting for its day in the calendar

    def _book(self, cid: int, booking: Booking, lead: float) -> None:
        """Appointment ``cid`` closes ``lead`` seconds from now: on the heap if that is
        before the horizon, in the calendar otherwise."""
        due = self.now + lead
        if due < self._horizon:
            self._push(CONSULTA, cid, booking, ((due, "update_consulta"),))
        else:
            self._calendar.add(due, cid, booking.medico_id, booking.when)

    def _advance(self, until: float) -> None:
        """Move the calendar's appointments due before ``until`` onto the heap."""
        while self._horizon <= until:
            day = int(self._horizon // DAY)
            for due, cid, medico, when in self._calendar.take(day):
                self._push(CONSULTA, cid, Booking(when, medico), ((due, "update_consulta"),))
            self._horizon += DAY

    def live(self) -> int:
        """Entities with a transition still to come (in memory or in the calendar)."""
        return len(self._live) + len(self._calendar)

    def footprint(self) -> dict[str, int]:
        """What the model holds, by structure: Python objects, and calendar entries."""
        pools = self.ops.pools
        return {
            "lifecycles": len(self._live),
            "heap": len(self._due),
            "calendar": len(self._calendar),
            "agenda_days": self.agenda.days(),
            **pools.sizes(),
        }

    # -- planning ---------------------------------------------------------------------
    def plan(self) -> Event:
        """The next event of the simulation, planned on ``ops`` with undo recorded."""
        rng = self.rng
        while True:
            next_arrival = self.now + rng.expovariate(self._total)
            self._advance(next_arrival)
            while self._due and self._due[0][0] <= next_arrival:
                entry = heapq.heappop(self._due)
                _due, token, kind, key = entry
                live = self._live.get((kind, key))
                if live is None or live[0] != token:
                    continue  # undone or superseded
                self.now = max(self.now, entry[0])
                return self._transition(entry, live)
            self.now = next_arrival
            i = _bisect(self._cum, rng.random() * self._total)
            op = self._names[min(i, len(self._names) - 1)]
            if op != "insert_internacao":
                local = self._local0 + dt.timedelta(seconds=self.now)
                if rng.random() > day_factor(local):
                    continue  # thinned: clinic arrivals follow the hospital day
            event = self._arrival(op)
            if event is not None:
                return event

    def _transition(self, entry: Entry, live: Live) -> Event:
        _due, _token, kind, key = entry
        _, payload, steps = live
        op = steps[0][1]
        event = Event(wanted=op, op=op)
        now = self.ops.clock()
        census, ops = self.census, self.ops
        if op == "update_consulta":
            assert isinstance(payload, Booking)
            ops.close_consulta(event, key, payload.when, draw_outcome(self.rng), now)
            agenda, medico, day = self.agenda, payload.medico_id, payload.when.date()
            agenda.release(medico, day)
            event.undo.append(lambda: agenda.book(medico, day))
        elif op in ("collect_exame", "update_exame"):
            assert isinstance(payload, tuple)
            tipo, requested = payload
            if op == "update_exame":
                ops.result_exame(event, key, tipo)
            else:
                ops.collect_exame(event, key, requested, now)
        else:
            assert isinstance(payload, Stay)
            if op == "transfer_internacao":
                ops.transfer(event, key, payload)
            else:
                ops.discharge(event, key, payload, now)
                census.occupied -= 1
        if len(steps) > 1:
            self._push(kind, key, payload, steps[1:])
        else:
            del self._live[(kind, key)]

        def undo() -> None:
            self._live[(kind, key)] = live  # supersedes the next step pushed above
            heapq.heappush(self._due, entry)
            if op == "update_internacao":
                census.occupied += 1
            census.transitions[op] -= 1

        event.undo.insert(0, undo)
        census.transitions[op] = census.transitions.get(op, 0) + 1
        return event

    def _arrival(self, op: str) -> Event | None:
        census = self.census
        if op == "insert_internacao" and census.occupied >= census.target:
            census.deferred += 1  # no free bed under the target: the admission waits
            return None
        event = Event(wanted=op, op=op)
        if op == "insert_consulta":
            return self._booking(event)
        if not self.ops.arrival(op, event):
            return None  # nobody to admit (all patients in hospital) or to change: no event
        if op not in ARRIVALS:
            return event  # patients: registration, contact and plan changes, no lifecycle
        row = event.statements[0].params
        rng = self.rng
        key = int(str(row[0]))
        if op == "insert_exame":
            tipo, requested = str(row[2]), row[3]
            assert isinstance(requested, dt.datetime)
            collect, result = turnaround(rng, tipo)
            steps = ((collect, "collect_exame"), (collect + result, "update_exame"))
            self._schedule(EXAME, key, (tipo, requested), steps)
            kind = EXAME
        else:
            pools = self.ops.pools
            admitted = row[2]
            assert isinstance(admitted, dt.datetime)
            stay = pools.stays.get(key) if key in pools.stays else Stay(int(str(row[1])), admitted)
            self._schedule(STAY, key, stay, self._stay_steps(los_seconds(rng, str(row[4]))))
            census.occupied += 1
            census.peak = max(census.peak, census.occupied)
            kind = STAY

            def release() -> None:
                census.occupied -= 1

            event.undo.append(release)
        event.undo.append(lambda: self._unschedule(kind, key))
        return event

    def _booking(self, event: Event) -> Event | None:
        """A patient books the first free (doctor, day) of a few draws, or gives up."""
        ops, rng, agenda = self.ops, self.rng, self.agenda
        picked = ops.pools.patients.pick()
        if picked is None or not ops.pools.medicos:
            return None
        pid, patient = picked
        wall = ops.clock()
        agenda.forget_before(wall.date())
        for _ in range(BOOKING_TRIES):
            medico = rng.choice(ops.pools.medicos)
            when = ops.rows.slot(patient.registered, wall, LEAD_MEAN_DAYS)
            if agenda.free(medico, when.date()):
                break
        else:
            self.census.unbooked += 1
            return None
        cid = ops.book_consulta(event, pid, medico, when)
        agenda.book(medico, when.date())
        # The appointment happens as far ahead on the simulated clock as its row says.
        self._book(cid, Booking(when, medico), (when - wall).total_seconds())

        def undo() -> None:
            agenda.release(medico, when.date())
            self._unschedule(CONSULTA, cid)

        event.undo.append(undo)
        return event


def _transfers(rng: random.Random) -> int:
    """Room changes in one stay (see TRANSFERS)."""
    x = rng.random()
    for n, p in enumerate(TRANSFERS):
        x -= p
        if x < 0:
            return n
    return 0


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < cum[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo
