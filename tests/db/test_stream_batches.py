"""Several statements led by a probed INSERT (a new patient and the plan joined with it)
go as one batch, committed by the server as one implicit transaction: both rows or
neither. (A connection lost while a batch commits: ``test_stream``.)"""

from __future__ import annotations

import random
import threading

import pytest

from hospital_sim.generate import TABLE_COLUMNS
from hospital_sim.stream.failures import ErrorLog
from hospital_sim.stream.operations import Event, IdReserve, Operations, Statement
from hospital_sim.stream.plan import utc_now
from hospital_sim.stream.pools import Partition, load_pools
from hospital_sim.stream.prepared import PreparedConnection
from hospital_sim.stream.run import run_stream
from hospital_sim.stream.session import Session
from hospital_sim.stream.stats import Outcome, Stats
from hospital_sim.stream.workload import OPERATIONS
from tests.db.checks import assert_counters_equal_database, scalar, seeded
from tests.db.support import FreshDb

pytestmark = pytest.mark.db

FAST = {"stream_rate": 1_000_000.0, "stream_interval_seconds": 0, "max_jitter_ms": 0}
NEW_PATIENTS = dict.fromkeys(OPERATIONS, 0.0) | {"insert_paciente": 1.0}
# Every new patient with a plan: the patient's row and the link's, in one transaction.
SAME_TRANSACTION = """
SELECT count(*) FILTER (WHERE p.xmin = l.xmin), count(*)
FROM pacientes_convenios l JOIN pacientes p ON p.id = l.paciente_id
WHERE p.id > %s
"""


def _linked_patient(db: FreshDb) -> list[Statement]:
    """The statements of a new patient who joins a plan: the patient, then the link."""
    part = Partition.of(shard=0, shards=1, worker=0, workers=1)
    rng = random.Random(3)
    with db.connect() as conn:
        pools = load_pools(conn, part, rng)
        ids = IdReserve(part)
        ids.need = 2
        ops = Operations(rng=rng, pools=pools, ids=ids, clock=utc_now)
        while True:
            ids.ensure(PreparedConnection(conn))
            event: Event = ops.plan("insert_paciente")
            if len(event.statements) == 2:
                conn.commit()
                return event.statements


def _count(db: FreshDb, table: str, key: int) -> int:
    with db.connect() as conn:
        return int(str(scalar(conn, f"SELECT count(*) FROM {table} WHERE id = {key}")))


def test_a_patient_and_the_plan_joined_with_it_commit_together(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db)
    with db.connect() as conn:
        last = int(str(scalar(conn, "SELECT max(id) FROM pacientes")))
    summary = run_stream(db.settings(**FAST, stream_weights=NEW_PATIENTS), events=60, seed=4)
    assert summary.stats.inserts == 60 and not summary.stats.errors
    with db.connect() as conn:
        row = conn.execute(SAME_TRANSACTION, (last,)).fetchone()
    assert row is not None
    together, links = (int(str(value)) for value in row)
    assert links > 10, "too few new patients joined a plan to tell"
    assert together == links
    assert_counters_equal_database(db, summary)


@pytest.mark.parametrize("broken", ["patient", "link"])
def test_a_batch_with_a_failing_row_leaves_neither_row(fresh_db: FreshDb, broken: str) -> None:
    db = seeded(fresh_db, audit=False)
    patient, link = _linked_patient(db)
    if broken == "patient":  # the first row fails: the link after it is never run
        cpf = TABLE_COLUMNS["pacientes"].index("cpf")
        with db.connect() as conn:
            taken = scalar(conn, "SELECT cpf FROM pacientes ORDER BY id LIMIT 1")
        bad = [
            patient._replace(params=(*patient.params[:cpf], taken, *patient.params[cpf + 1 :])),
            link,
        ]
    else:  # the last row fails: the patient before it is rolled back
        plan = TABLE_COLUMNS["pacientes_convenios"].index("convenio_id")
        bad = [patient, link._replace(params=(*link.params[:plan], -1, *link.params[plan + 1 :]))]
    stats = Stats()
    session = Session(db.dsn, stats=stats, stop=threading.Event(), errors=ErrorLog())
    try:
        failed = session.finish(session._send(bad))
        assert failed.status is Outcome.FAILED
        assert stats.errors == {"23": 1}  # a unique key or a foreign key: SQLSTATE class 23
        assert _count(db, "pacientes", patient.key) == 0
        assert _count(db, "pacientes_convenios", link.key) == 0
        # The connection is usable at once: the same rows, this time valid, commit.
        done = session.finish(session._send([patient, link]))
        assert done.status is Outcome.COMMITTED
    finally:
        session.close()
    assert _count(db, "pacientes", patient.key) == 1
    assert _count(db, "pacientes_convenios", link.key) == 1
