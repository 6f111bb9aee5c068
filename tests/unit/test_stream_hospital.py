"""The hospital model's state machines on a fake clock: what happens, how often, how long.

No database: the pools are filled by hand, the ids are given instead of reserved, and
the rows' wall clock is fixed; the model's own simulated clock is what is measured.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
from collections import Counter
from dataclasses import dataclass, field

import pytest

from hospital_sim.stream import hospital
from hospital_sim.stream.agenda import slots_for
from hospital_sim.stream.hospital import DAY, HOUR, HospitalModel, beds_for
from hospital_sim.stream.operations import INSERT_SQL, FixedClock, IdReserve, Operations
from hospital_sim.stream.pacing import LOCAL_OFFSET
from hospital_sim.stream.pools import Bookings, Partition, Patient, Stay, WorkerPools

NOW = dt.datetime(2026, 11, 2, 10, 30)
START = dt.datetime(2026, 11, 2, 13, 0)  # a Monday, 10:00 in Brasília
REGISTERED = dt.datetime(2020, 5, 1, 9, 0)
BOOKED_DAY = dt.datetime(2026, 11, 5, 9, 0)  # the Thursday after NOW


def model(
    *,
    beds: int = 40,
    occupancy: float = 0.8,
    seed: int = 3,
    doctors: int = 4,
    slots: int = 16,
    booked: int = 0,
) -> HospitalModel:
    rng = random.Random(seed)
    pools = WorkerPools(rng)
    for pid in range(1, 401):
        patient = Patient(
            REGISTERED,
            uf="SP",
            telefone="(11) 3333-4444",
            endereco="Rua A, 1",
            plans=((5000 + pid, 1 + pid % 3),),  # each patient in one of three plans
        )
        pools.patients.add(pid, patient)
        if pid > 10:
            pools.not_admitted.add(pid, patient)
    for sid in range(1, 11):  # ten patients already in hospital
        pools.stays.add(100 + sid, Stay(sid, NOW - dt.timedelta(days=2)))
    pools.booked = Bookings()
    for cid in range(1, booked + 1):  # appointments already booked with doctor 1
        pools.booked.add(900 + cid, BOOKED_DAY, 1)
    pools.medicos = list(range(1, doctors + 1))
    pools.convenios = [1, 2, 3, 4, 5]
    ids = IdReserve(Partition(residue=0, modulus=1))
    for n, table in enumerate(INSERT_SQL):
        base = 1_000_000 * (n + 1)
        ids.add(table, list(range(base, base + 200_000)))
    ops = Operations(rng=rng, pools=pools, ids=ids, clock=FixedClock(NOW))
    return HospitalModel(
        ops=ops,
        rng=rng,
        beds=beds,
        occupancy=occupancy,
        share=1.0,
        doctors=doctors,
        start_utc=START,
        slots=slots,
    )


@dataclass
class Run:
    """What a model did over ``events`` events, timed on its simulated clock."""

    ops: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    occupancy: list[int] = field(default_factory=list)
    lead: list[float] = field(default_factory=list)
    lab: list[float] = field(default_factory=list)
    stay_ratio: list[float] = field(default_factory=list)  # stay / the cause's mean
    local_hours: Counter[int] = field(default_factory=Counter)


def drive(m: HospitalModel, events: int) -> Run:
    run = Run()
    born: dict[tuple[str, int], tuple[float, str]] = {}
    for _ in range(events):
        event = m.plan()
        st = event.statements[0]
        run.ops[event.op] += 1
        key = int(str(st.params[-1] if st.kind == "UPDATE" else st.params[0]))
        if event.op == "insert_consulta":
            born[("c", key)] = (m.now, "")
            local = START + LOCAL_OFFSET + dt.timedelta(seconds=m.now)
            run.local_hours[local.hour] += 1
        elif event.op == "insert_exame":
            born[("e", key)] = (m.now, str(st.params[2]))
        elif event.op == "insert_internacao":
            born[("s", key)] = (m.now, str(st.params[4]))
        elif event.op == "update_consulta":
            run.outcomes[str(st.params[0])] += 1
            if ("c", key) in born:
                run.lead.append(m.now - born.pop(("c", key))[0])
        elif event.op == "update_exame" and ("e", key) in born:
            t, tipo = born.pop(("e", key))
            if not any(w in tipo for w in hospital.IMAGING_WORDS):
                run.lab.append(m.now - t)
        elif event.op == "update_internacao" and ("s", key) in born:
            t, motivo = born.pop(("s", key))
            mean = hospital.LOS_DAYS.get(motivo, hospital.LOS_DEFAULT_DAYS) * DAY
            run.stay_ratio.append((m.now - t) / mean)
        run.occupancy.append(m.census.occupied)
    return run


@pytest.fixture(scope="module")
def long_run() -> tuple[HospitalModel, Run]:
    m = model()
    return m, drive(m, 60_000)


def test_occupancy_never_exceeds_the_beds_and_settles_at_the_target(
    long_run: tuple[HospitalModel, Run],
) -> None:
    m, run = long_run
    assert max(run.occupancy) <= m.census.beds == 40
    assert m.census.target == 32
    second_half = run.occupancy[len(run.occupancy) // 2 :]
    assert max(second_half) <= 32  # admissions wait for a bed under the target
    # A small ward (±10% is ±3 beds): bursts of discharges dip below now and then.
    inside = sum(1 for n in second_half if n >= 0.9 * 32) / len(second_half)
    assert inside >= 0.95
    assert statistics.mean(second_half) == pytest.approx(32, rel=0.03)


def test_appointment_outcomes_follow_the_no_show_rates(
    long_run: tuple[HospitalModel, Run],
) -> None:
    _m, run = long_run
    total = sum(run.outcomes.values())
    assert total > 5000
    for outcome, p in hospital.OUTCOMES.items():
        assert run.outcomes[outcome] / total == pytest.approx(p, abs=0.02), outcome


def test_durations_follow_the_configured_distributions(
    long_run: tuple[HospitalModel, Run],
) -> None:
    _m, run = long_run
    # Long lifecycles still open at the end are missing (censored), so means read low:
    # the tolerance allows for it, not for a wrong scale (days vs hours).
    assert statistics.mean(run.lead) == pytest.approx(hospital.LEAD_MEAN_DAYS * DAY, rel=0.15)
    lab = hospital.LAB_COLLECT_HOURS + hospital.LAB_TURNAROUND_HOURS
    assert statistics.mean(run.lab) == pytest.approx(lab * HOUR, rel=0.1)
    assert len(run.stay_ratio) > 300
    assert statistics.mean(run.stay_ratio) == pytest.approx(1.0, rel=0.15)


def test_lifecycles_balance_so_nothing_drifts(long_run: tuple[HospitalModel, Run]) -> None:
    _m, run = long_run
    ops = run.ops
    # In a steady state what opens also closes: no substitutions are needed.
    assert ops["update_consulta"] == pytest.approx(ops["insert_consulta"], rel=0.1)
    assert ops["update_exame"] == pytest.approx(ops["insert_exame"], rel=0.05)
    assert ops["update_internacao"] == pytest.approx(ops["insert_internacao"], rel=0.1)
    assert ops["collect_exame"] == pytest.approx(ops["insert_exame"], rel=0.05)
    moves = sum(n * p for n, p in enumerate(hospital.TRANSFERS))  # per stay
    assert ops["transfer_internacao"] / ops["update_internacao"] == pytest.approx(moves, rel=0.15)
    assert set(ops) == {
        "change_convenio",
        "collect_exame",
        "transfer_internacao",
        "insert_paciente",
        "update_paciente",
        "insert_consulta",
        "update_consulta",
        "insert_exame",
        "update_exame",
        "insert_internacao",
        "update_internacao",
    }


def test_each_key_moves_through_its_lifecycle_in_order() -> None:
    m = model(seed=4)
    seen: dict[tuple[str, int], list[str]] = {}
    for _ in range(20_000):
        event = m.plan()
        st = event.statements[0]
        key = int(str(st.params[-1] if st.kind == "UPDATE" else st.params[0]))
        seen.setdefault((st.table, key), []).append(event.op)
    exams = [
        ops for (table, _), ops in seen.items() if table == "exames" and ops[0] == "insert_exame"
    ]
    assert exams and all(
        ops[: len(ops)] == ["insert_exame", "collect_exame", "update_exame"][: len(ops)]
        for ops in exams
    )
    stays = [ops for (table, _), ops in seen.items() if table == "internacoes"]
    for ops in stays:
        assert ops.count("update_internacao") <= 1
        if "update_internacao" in ops:
            assert ops[-1] == "update_internacao"  # nothing happens to a stay after discharge
    visits = [ops for (table, _), ops in seen.items() if table == "consultas"]
    assert all(ops.count("update_consulta") <= 1 for ops in visits)


def test_bookings_follow_the_hospital_day(long_run: tuple[HospitalModel, Run]) -> None:
    _m, run = long_run
    hours = run.local_hours
    assert hours[10] > 5 * hours[3]  # mid-morning clinic vs the night


def test_undoing_events_restores_the_census_and_the_schedule() -> None:
    a, b = model(seed=9), model(seed=9)
    drive(a, 2000)
    drive(b, 2000)
    planned = [a.plan() for _ in range(50)]
    before = a.census.occupied
    for event in reversed(planned):
        event.rollback_pools()
    assert a.census.occupied <= before + 50
    # After the undo the same transitions are still due: nothing was lost.
    assert a.live() == b.live()


def test_beds_split_over_partitions_add_up() -> None:
    parts = [Partition(residue=r, modulus=7) for r in range(7)]
    assert sum(beds_for(240, p) for p in parts) == 240


def test_stays_beyond_the_beds_at_the_start_are_discharged_first() -> None:
    m = model(beds=5, occupancy=0.8)  # ten patients are in hospital already
    assert m.census.occupied == 10
    run = drive(m, 400)
    assert max(run.occupancy[200:]) <= 5
    assert run.ops["update_internacao"] >= 5


def test_memory_stops_growing_once_the_hospital_is_in_its_steady_state() -> None:
    # Lead times run to weeks: the appointments in flight keep growing for about a month
    # and a half. What the model holds as Python objects must not follow them: they wait
    # for their day in the compact calendar.
    m = model(doctors=20, beds=40)
    held: dict[int, dict[str, int]] = {}
    for day in (28, 56):  # both Mondays: clinic days look alike
        while m.now < day * DAY:
            m.plan()
        held[day] = m.footprint()
    early, late = held[28], held[56]
    assert late["calendar"] > 5 * late["lifecycles"]  # most appointments wait in it
    objects = ("lifecycles", "heap", "patients", "not_admitted", "scheduled", "stays")
    for name in objects:
        assert late[name] <= max(1.15 * early[name], early[name] + 50), (name, early, late)
    assert late["patients"] == early["patients"] == 400  # newcomers replace, not add
    assert late["scheduled"] == 0  # the mix's candidate pool is not duplicated
    assert late["calendar"] <= 1.15 * early["calendar"]  # settling, 32 bytes each
    assert late["agenda_days"] <= 92  # today and the 90 days appointments are booked in


def test_a_doctors_day_is_never_booked_past_its_slots() -> None:
    m = model(doctors=3, slots=2)  # few slots: agendas fill and bookings must look elsewhere
    booked: Counter[tuple[str, dt.date]] = Counter()
    of: dict[int, tuple[str, dt.date]] = {}
    peak = 0
    for _ in range(20_000):
        event = m.plan()
        st = event.statements[0]
        if event.op == "insert_consulta":
            when = st.params[3]
            assert isinstance(when, dt.datetime)
            slot = of[int(str(st.params[0]))] = (str(st.params[2]), when.date())
            booked[slot] += 1
            peak = max(peak, booked[slot])
        elif event.op == "update_consulta" and int(str(st.params[-1])) in of:
            booked[of.pop(int(str(st.params[-1])))] -= 1  # closed: off the agenda
    assert peak == 2  # full days were reached, and never passed
    assert max(m.agenda.booked().values()) <= 2


def test_slots_split_over_partitions_add_up_for_every_doctor() -> None:
    for modulus in (1, 3, 16, 40):
        parts = [Partition(residue=r, modulus=modulus) for r in range(modulus)]
        for medico in range(1, 30):
            assert sum(slots_for(16, medico, p) for p in parts) == 16


def test_patients_change_plans_rarely_and_never_into_a_plan_they_hold(
    long_run: tuple[HospitalModel, Run],
) -> None:
    m, run = long_run
    years = m.now / (365 * DAY)
    # Per enrolled patient: newcomers without a plan (40%) take the place of enrolled
    # ones over the year, so fewer changes happen than if all 400 stayed enrolled.
    expected = hospital.PLAN_CHANGES_PER_YEAR * 400 * years
    assert 0.5 * expected <= run.ops["change_convenio"] <= 1.2 * expected
    assert run.ops["change_convenio"] < 0.005 * sum(run.ops.values())  # a rare event
    plans = [p.plans for pid in range(1, 401) if pid in m.ops.pools.patients
             for p in [m.ops.pools.patients.get(pid)]]  # fmt: skip
    assert all(len({plan for _link, plan in held}) == len(held) for held in plans)
    assert any(held != ((5000 + i + 1, 1 + (i + 1) % 3),) for i, held in enumerate(plans))


def test_appointments_already_booked_count_in_the_agenda() -> None:
    m = model(slots=3, booked=3)  # doctor 1's Thursday is full before the run starts
    day = BOOKED_DAY.date()
    assert m.agenda.booked()[(1, day)] == 3 and not m.agenda.free(1, day)
    assert m.footprint()["scheduled"] == 0  # moved to the model, not kept twice
    peak = 0
    for _ in range(3000):
        m.plan()
        peak = max(peak, m.agenda.booked().get((1, day), 0))
    assert peak == 3  # never a fourth, though its appointments close and free slots
