"""The stream's pools are drawn by the server: bounded, the same on every run."""

from __future__ import annotations

import random

import pytest

from hospital_sim.stream.pools import Partition, load_pools
from tests.db.checks import seeded
from tests.db.support import FreshDb

pytestmark = pytest.mark.db

PART = Partition.of(shard=0, shards=1, worker=1, workers=2)  # odd patient ids


def test_below_the_cap_every_row_of_the_partition_is_a_candidate(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    with db.connect() as conn:
        pools = load_pools(conn, PART, random.Random(1))
        patients = [
            int(str(r[0])) for r in conn.execute("SELECT id FROM pacientes WHERE id % 2 = 1")
        ]
        open_stays = conn.execute(
            "SELECT count(*) FROM internacoes WHERE data_saida IS NULL AND paciente_id % 2 = 1"
        ).fetchone()
    assert sorted(pools.patients.ordered_keys()) == sorted(patients)
    assert open_stays is not None and len(pools.stays) == open_stays[0]


COUNTS = {
    "patients": "SELECT count(*) FROM pacientes WHERE id % 2 = 1",
    "scheduled": "SELECT count(*) FROM consultas WHERE status = 'agendada' AND paciente_id % 2 = 1",
    "pending_exams": "SELECT count(*) FROM exames WHERE resultado IS NULL AND paciente_id % 2 = 1",
    "stays": "SELECT count(*) FROM internacoes WHERE data_saida IS NULL AND paciente_id % 2 = 1",
}


def test_above_the_cap_the_server_draws_the_same_sample_on_every_run(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    cap = 10
    with db.connect() as conn:
        first = load_pools(conn, PART, random.Random(1), cap=cap)
        again = load_pools(conn, PART, random.Random(2), cap=cap)
        every = load_pools(conn, PART, random.Random(1), cap=cap, every_booking=True)
        totals = {pool: int(str(conn.execute(q).fetchall()[0][0])) for pool, q in COUNTS.items()}
        pending = {
            int(str(r[0]))
            for r in conn.execute(
                "SELECT id FROM exames WHERE resultado IS NULL AND paciente_id % 2 = 1"
            )
        }
    assert totals["patients"] > cap and totals["scheduled"] > cap
    for pool, total in totals.items():
        assert len(getattr(first, pool)) == min(cap, total), pool
        assert getattr(first, pool).ordered_keys() == getattr(again, pool).ordered_keys(), pool
    assert all(key % 2 == 1 for key in first.patients.ordered_keys())
    assert set(first.pending_exams.ordered_keys()) <= pending
    # The hospital model keeps every booking, whatever the cap: in id order, each moment
    # and doctor as the row has them (held compactly until the model takes them).
    assert every.booked is not None and len(every.scheduled) == 0
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, data, medico_id FROM consultas"
            " WHERE status = 'agendada' AND paciente_id % 2 = 1 ORDER BY id"
        ).fetchall()
    assert len(rows) == totals["scheduled"]
    assert [(cid, b.when, b.medico_id) for cid, b in every.booked] == rows
