"""Planning operations in memory: the statements, the fallbacks, and undoing pool changes.

No database: the pools are filled by hand, the ids are given instead of reserved.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from hospital_sim.stream.operations import (
    INSERT_SQL,
    Event,
    FixedClock,
    IdReserve,
    Operations,
)
from hospital_sim.stream.pools import Booking, Partition, Patient, Stay, WorkerPools
from hospital_sim.stream.workload import FALLBACK, OPERATIONS

NOW = dt.datetime(2026, 11, 2, 10, 30)
REGISTERED = dt.datetime(2020, 5, 1, 9, 0)
SP_ADDRESS = "Rua Augusta, 100 - Consolação, São Paulo - SP, 01305-000"


def operations(
    *,
    patients: int = 5,
    scheduled: int = 3,
    pending: int = 3,
    stays: int = 2,
    medicos: int = 3,
    seed: int = 1,
) -> Operations:
    """Pools of a worker owning every patient; patients 1..``stays`` are in hospital."""
    rng = random.Random(seed)
    pools = WorkerPools(rng)
    for pid in range(1, patients + 1):
        patient = Patient(
            REGISTERED,
            uf="SP",
            telefone="(11) 3333-4444",
            endereco=SP_ADDRESS,
            plans=((500 + pid, 1),),
        )
        pools.patients.add(pid, patient)
        if pid > stays:
            pools.not_admitted.add(pid, patient)
    for sid in range(1, stays + 1):
        pools.stays.add(100 + sid, Stay(sid, NOW - dt.timedelta(days=3), "Enf-301"))
    for cid in range(1, scheduled + 1):
        pools.scheduled.add(200 + cid, Booking(NOW + dt.timedelta(days=cid), 1))
    for eid in range(1, pending + 1):
        pools.pending_exams.add(300 + eid, "Hemograma completo")
        pools.uncollected.add(300 + eid, ("Hemograma completo", NOW - dt.timedelta(hours=1)))
    pools.medicos = list(range(1, medicos + 1))
    pools.convenios = [1, 2]
    ids = IdReserve(Partition(residue=0, modulus=1))
    for n, table in enumerate(INSERT_SQL):
        ids.add(table, list(range(1000 * (n + 1), 1000 * (n + 1) + 50)))
    return Operations(rng=rng, pools=pools, ids=ids, clock=FixedClock(NOW))


def state(pools: WorkerPools) -> dict[str, Any]:
    """Everything the pools hold, values copied, to compare before and after."""
    out: dict[str, Any] = {}
    for name in ("patients", "not_admitted", "scheduled", "pending_exams", "uncollected", "stays"):
        pool = getattr(pools, name)
        out[name] = {k: repr(pool.get(k)) for k in range(10_000) if k in pool}
    return out


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_each_operation_plans_a_probed_statement_on_its_table(op: str) -> None:
    event = operations().plan(op)
    assert (event.wanted, event.op) == (op, op)
    first = event.statements[0]
    assert first.table == OPERATIONS[op].table
    assert first.kind == OPERATIONS[op].kind
    if op != "update_paciente":  # a phone or address is probed only when it changes
        assert first.probe is not None


def test_an_insert_carries_its_id_and_the_probe_finds_it_by_that_id() -> None:
    event = operations().plan("insert_exame")
    (st,) = event.statements
    first_id = 1000 * (list(INSERT_SQL).index("exames") + 1)  # the first id given for exames
    assert st.params[0] == first_id
    assert st.probe_params == (first_id,)
    assert b"INSERT INTO" in st.query and b"exames" in st.query


def test_update_consulta_closes_a_scheduled_visit_no_later_than_now() -> None:
    ops = operations()
    event = ops.plan("update_consulta")
    (st,) = event.statements
    status, closed_at, cid = st.params
    assert status in ("realizada", "cancelada", "faltou")
    assert isinstance(closed_at, dt.datetime) and closed_at <= NOW
    assert cid not in ops.pools.scheduled  # no longer a candidate


def test_update_paciente_always_writes_a_value_other_than_the_current_one() -> None:
    ops = operations(patients=1)
    for _ in range(30):
        before = ops.pools.patients.get(1)
        old = (before.telefone, before.endereco)
        (st,) = ops.plan("update_paciente").statements
        assert st.params[0] not in old
        assert st.params[1] == 1
        assert st.probe is not None  # the current value was known: the change is provable


@pytest.mark.parametrize(
    ("op", "empty", "ran"),
    [
        ("update_consulta", {"scheduled": 0}, "insert_consulta"),
        ("update_exame", {"pending": 0}, "insert_exame"),
        ("update_internacao", {"stays": 0}, "insert_internacao"),
        ("insert_internacao", {"stays": 5}, "insert_consulta"),  # everyone is in hospital
        ("insert_consulta", {"medicos": 0}, "insert_paciente"),
    ],
)
def test_an_operation_without_a_candidate_falls_back(
    op: str, empty: dict[str, int], ran: str
) -> None:
    event = operations(**empty).plan(op)
    assert (event.wanted, event.op) == (op, ran)
    assert FALLBACK[op] == ran or FALLBACK[FALLBACK[op]] == ran


def test_every_fallback_chain_ends_at_insert_paciente() -> None:
    for op in OPERATIONS:
        seen = [op]
        while seen[-1] in FALLBACK:
            seen.append(FALLBACK[seen[-1]])
            assert len(seen) <= len(OPERATIONS), seen  # no loop
        assert seen[-1] == "insert_paciente"


def test_with_no_patients_everything_falls_back_to_a_new_patient() -> None:
    for op in OPERATIONS:
        ops = operations(patients=0, scheduled=0, pending=0, stays=0)
        assert ops.plan(op).op == "insert_paciente"


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_rolling_back_an_event_restores_the_pools(op: str) -> None:
    ops = operations()
    before = state(ops.pools)
    event = ops.plan(op)
    assert state(ops.pools) != before or op == "update_paciente"
    event.rollback_pools()
    assert state(ops.pools) == before


def test_rolling_back_many_events_in_reverse_order_restores_the_pools() -> None:
    ops = operations(patients=8, stays=3)
    before = state(ops.pools)
    rng = random.Random(5)
    names = sorted(OPERATIONS)
    events: list[Event] = [ops.plan(rng.choice(names)) for _ in range(40)]
    assert state(ops.pools) != before
    for event in reversed(events):
        event.rollback_pools()
    assert state(ops.pools) == before


def test_a_discharge_makes_the_patient_admissible_again_until_rolled_back() -> None:
    ops = operations(patients=1, stays=1)
    assert 1 not in ops.pools.not_admitted
    event = ops.plan("update_internacao")
    assert 1 in ops.pools.not_admitted
    assert ops.pools.patients.get(1).last_discharge is not None
    event.rollback_pools()
    assert 1 not in ops.pools.not_admitted
    assert ops.pools.patients.get(1).last_discharge is None


def test_the_same_seed_plans_the_same_statements() -> None:
    def planned(seed: int) -> list[tuple[object, ...]]:
        ops = operations(seed=seed)
        return [ops.plan(op).statements[0].params for op in sorted(OPERATIONS) * 3]

    assert planned(4) == planned(4) != planned(5)


def test_a_plan_change_moves_an_enrolment_to_a_plan_the_patient_is_not_in() -> None:
    ops = operations(patients=1, stays=0)
    ops.pools.convenios = [1, 2, 3]
    patient = ops.pools.patients.get(1)
    patient.plans = ((501, 1), (502, 2))  # in plans 1 and 2: only 3 is left
    event = ops.plan("change_convenio")
    (st,) = event.statements
    plan, card, validade, link = st.params
    assert plan == 3 and link in (501, 502)
    assert isinstance(card, str) and len(card.replace(" ", "")) == 16  # a new member card
    assert isinstance(validade, dt.date) and validade > NOW.date() + dt.timedelta(days=300)
    other, kept = (502, 2) if link == 501 else (501, 1)  # the enrolment that did not move
    assert dict(patient.plans) == {link: 3, other: kept}
    patient.plans = ((501, 1), (502, 2), (503, 3))  # in every plan: nothing to change to
    assert ops.plan("change_convenio").op == "update_paciente"
