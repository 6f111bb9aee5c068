"""A one-statement transaction is sent without BEGIN/COMMIT; when its answer is lost, its
probe decides whether it committed. These tests hold the probes to that promise."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import psycopg
import pytest

from hospital_sim.stream.failures import ErrorLog
from hospital_sim.stream.operations import INSERT_SQL, PROBE_ID, IdReserve, Operations, Statement
from hospital_sim.stream.plan import utc_now
from hospital_sim.stream.pools import Partition, load_pools
from hospital_sim.stream.prepared import PreparedConnection
from hospital_sim.stream.session import Session, _backend_of
from hospital_sim.stream.stats import Stats
from hospital_sim.stream.workload import OPERATIONS
from tests.db.checks import seeded
from tests.db.support import FreshDb

pytestmark = pytest.mark.db


def test_every_probe_finds_its_change_only_after_it_commits(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    part = Partition.of(shard=0, shards=1, worker=0, workers=1)
    rng = random.Random(7)
    checked: dict[str, int] = {}
    with db.connect() as conn:
        pools = load_pools(conn, part, rng)
        ids = IdReserve(part)
        ids.need = 2
        ops = Operations(rng=rng, pools=pools, ids=ids, clock=utc_now)
        for op in OPERATIONS:
            for _ in range(5):
                ids.ensure(PreparedConnection(conn))
                event = ops.plan(op)
                for st in event.statements:
                    if st.probe is None:
                        continue
                    before = conn.execute(st.probe, st.probe_params).fetchone()
                    conn.execute(st.query, st.params)
                    conn.commit()
                    after = conn.execute(st.probe, st.probe_params).fetchone()
                    conn.rollback()
                    assert before is None, f"{event.op}: probe matched before the change"
                    assert after is not None, f"{event.op}: probe missed the committed change"
                    checked[event.op] = checked.get(event.op, 0) + 1
    # Every operation can run as a one-statement transaction (a new patient linked to a
    # plan is two rows: its probe finds the patient, committed with the link or not).
    assert set(checked) == set(OPERATIONS)


def _exame(conn: psycopg.Connection[tuple[object, ...]]) -> Statement:
    row = conn.execute(
        "SELECT nextval(pg_get_serial_sequence('exames', 'id')), min(id) FROM pacientes"
    ).fetchone()
    conn.commit()
    assert row is not None
    values = (row[0], row[1], "Hemograma completo", dt.datetime(2026, 1, 5, 8, 30), None)
    return Statement(INSERT_SQL["exames"], values, "exames", "INSERT", PROBE_ID["exames"])


def test_in_doubt_statement_is_resolved_once_its_server_process_is_done(
    fresh_db: FreshDb,
) -> None:
    db = seeded(fresh_db, audit=False)
    with db.connect() as conn:
        slow = _exame(conn)
        missing = _exame(conn)
    old = psycopg.connect(db.dsn, autocommit=True)
    backend = _backend_of(old)
    assert backend is not None
    # The "lost" statement: its process commits it only after a pause, as a backend
    # that is still finishing while the client has already reconnected.
    insert = INSERT_SQL["exames"].decode().replace("%s", "{}")
    delayed = f"WITH i AS ({insert} RETURNING 1) SELECT pg_sleep(0.8) FROM i".format(
        *[psycopg.sql.Literal(v).as_string(old) for v in slow.params]
    )
    worker = threading.Thread(target=lambda: old.execute(delayed.encode()))
    worker.start()
    with db.connect() as conn:
        for _ in range(100):  # until the server shows it running
            busy = conn.execute(
                "SELECT state = 'active' FROM pg_stat_activity WHERE pid = %s", (backend.pid,)
            ).fetchone()
            conn.rollback()
            if busy and busy[0]:
                break
            time.sleep(0.01)
    stats = Stats()
    session = Session(db.dsn, stats=stats, stop=threading.Event(), errors=ErrorLog())
    try:
        # Read too early, the row would be missing and the insert sent twice.
        assert session._resolve_by_probe(slow, backend, None) == "committed"
        worker.join(5)
        old.close()
        assert session._resolve_by_probe(missing, backend, None) == "aborted"
    finally:
        session.close()
    assert stats.in_doubt == {"committed": 1, "aborted": 1}
    with db.connect() as conn:
        row = conn.execute("SELECT count(*) FROM exames WHERE id = %s", (slow.params[0],))
        assert row.fetchone() == (1,)
