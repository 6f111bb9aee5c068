"""A transaction queued behind the one in flight, on the same connection: the server runs
it the moment the first commits. Each is its own transaction, whatever happens to the
other; what must be sent again goes in the order it was planned, unless the server
asked for a retry."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from hospital_sim.stream.failures import ErrorLog
from hospital_sim.stream.operations import INSERT_SQL, PROBE_ID, Event, Statement
from hospital_sim.stream.session import Backoff, Session
from hospital_sim.stream.stats import Outcome, Stats
from tests.db.checks import scalar, seeded
from tests.db.support import FreshDb

pytestmark = pytest.mark.db

ONCE_AT_COMMIT = """
CREATE SEQUENCE once;
CREATE FUNCTION once_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A sequence is not rolled back with the transaction: this fires exactly once.
    IF NEW.id = %(id)s AND nextval('once') = 1 THEN
        %(action)s;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER once_at_commit AFTER INSERT ON exames
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION once_at_commit();
"""
KILL = "PERFORM pg_terminate_backend(pg_backend_pid())"
CONFLICT = "RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'"


def _exams(db: FreshDb, n: int) -> list[Event]:
    """``n`` new exams, each an event of one probed INSERT."""
    with db.connect() as conn:
        ids = conn.execute(
            "SELECT nextval(pg_get_serial_sequence('exames', 'id')) FROM generate_series(1, %s)",
            (n,),
        ).fetchall()
        patient = int(str(scalar(conn, "SELECT min(id) FROM pacientes")))
        conn.commit()
    taken = dt.datetime(2026, 1, 5, 8, 30)
    return [
        Event(
            "insert_exame",
            "insert_exame",
            [
                Statement(
                    INSERT_SQL["exames"],
                    (int(str(row[0])), patient, "Hemograma completo", taken, None),
                    "exames",
                    "INSERT",
                    PROBE_ID["exames"],
                )
            ],
        )
        for row in ids
    ]


def _key(event: Event) -> int:
    return event.statements[0].key


def _commit_order(db: FreshDb, events: list[Event]) -> list[int]:
    """The events' rows, each exactly once, in the order their transactions began."""
    keys = [_key(e) for e in events]
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id FROM exames WHERE id = ANY(%s) ORDER BY xmin::text::bigint", (keys,)
        ).fetchall()
    return [int(str(row[0])) for row in rows]


def _session(db: FreshDb, stats: Stats) -> Session:
    backoff = Backoff(base=0.05, cap=0.2)
    return Session(db.dsn, stats=stats, stop=threading.Event(), errors=ErrorLog(), backoff=backoff)


def _queued_behind(
    db: FreshDb, stats: Stats, warmup: Event, first: Event, second: Event
) -> tuple[Outcome, Outcome]:
    """Commit ``warmup`` (it prepares the INSERT, so the next can be queued), then send
    ``first`` and queue ``second`` behind it: the outcomes of both."""
    session = _session(db, stats)
    try:
        session.finish(session.start([warmup]))
        one = session.start([first])
        two = session.queue([second])
        assert two is not None, "an INSERT with a probe goes behind the one in flight"
        return session.finish(one).status, session.finish(two).status
    finally:
        session.close()


def test_a_queued_transaction_runs_after_the_one_in_flight(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    first, second, third = _exams(db, 3)
    stats = Stats()
    session = _session(db, stats)
    try:
        assert session.queue([first]) is None  # nothing in flight to queue behind
        one = session.start([first])
        two = session.queue([second])
        assert two is not None, "an INSERT with a probe goes behind the one in flight"
        update = Statement(b"UPDATE exames SET resultado = %s WHERE id = %s", ("x", 1), "exames",
                           "UPDATE")  # fmt: skip
        assert session.queue([Event("update_exame", "update_exame", [update])]) is None
        assert session.finish(one).status is Outcome.COMMITTED
        assert session.finish(two).status is Outcome.COMMITTED
        # Once the queue is empty the connection is an ordinary one again.
        assert session.finish(session.start([third])).status is Outcome.COMMITTED
    finally:
        session.close()
    assert _commit_order(db, [first, second, third]) == [_key(first), _key(second), _key(third)]
    assert not stats.errors and not stats.in_doubt and stats.reconnects == 0


def test_a_failing_transaction_leaves_the_one_queued_behind_it_alone(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    ok, behind = _exams(db, 2)
    with db.connect() as conn:
        taken = int(str(scalar(conn, "SELECT min(id) FROM exames")))
    st = ok.statements[0]
    duplicate = Event("insert_exame", "insert_exame", [st._replace(params=(taken, *st.params[1:]))])
    stats = Stats()
    outcomes = _queued_behind(db, stats, ok, duplicate, behind)
    assert outcomes == (Outcome.FAILED, Outcome.COMMITTED)
    assert stats.errors == {"23": 1}  # the duplicate key, SQLSTATE class 23
    assert _commit_order(db, [ok, behind]) == [_key(ok), _key(behind)]
    assert stats.reconnects == 0


# Lost at its commit, neither ran: both are sent again, in the order planned. A retry asked
# by the server: the one queued behind it had committed already.
@pytest.mark.parametrize("action", [KILL, CONFLICT], ids=["lost", "retry"])
def test_what_must_be_sent_again_goes_once_and_in_order(fresh_db: FreshDb, action: str) -> None:
    db = seeded(fresh_db, audit=False)
    warmup, first, second = _exams(db, 3)
    with db.connect() as conn:
        conn.execute((ONCE_AT_COMMIT % {"id": _key(first), "action": action}).encode())
    stats = Stats()
    assert _queued_behind(db, stats, warmup, first, second) == (Outcome.COMMITTED,) * 2
    expected = [_key(first), _key(second)]
    if action == KILL:
        assert stats.in_doubt == {"aborted": 2}  # the killed one and the one queued behind
        assert stats.reconnects == 1
        assert not stats.retries
    else:
        assert stats.retries == {"40001": 1}
        assert not stats.in_doubt and stats.reconnects == 0
        expected.reverse()
    assert _commit_order(db, [first, second]) == expected  # each row exactly once
    assert not stats.errors
