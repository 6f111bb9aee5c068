"""`stream` against a real server: the mix, exact accounting, coherence, determinism,
surviving killed backends, and two shards side by side."""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from hospital_sim.cli.slot_metrics import slot_collectors
from hospital_sim.stream.operations import FixedClock
from hospital_sim.stream.run import StreamSummary, run_stream
from hospital_sim.stream.workload import DEFAULT_WEIGHTS, OPERATIONS
from tests.db.checks import (
    assert_coherent,
    assert_counters_equal_database,
    audit_count,
    audited,
    committed_more_than,
    counted,
    fingerprint,
    kill_at_commit,
    phone_area_mismatches,
    scalar,
    seeded,
)
from tests.db.coherence import COHERENCE
from tests.db.support import (
    FreshDb,
    create_database,
    drop_database,
    free_port,
    run_shards,
    wait_until,
)

pytestmark = pytest.mark.db

FAST = {"stream_rate": 1_000_000.0, "stream_interval_seconds": 0, "max_jitter_ms": 0}


@pytest.fixture(scope="module")
def streamed(server_dsn: str) -> Iterator[tuple[FreshDb, StreamSummary, dict[str, int]]]:
    """One database streamed for 3000 events by 2 workers, shared by read-only checks."""
    db = seeded(create_database(server_dsn))
    with db.connect() as conn:
        before = {
            "closed": int(
                str(scalar(conn, "SELECT count(*) FROM consultas WHERE status <> 'agendada'"))
            ),
            "results": int(
                str(scalar(conn, "SELECT count(*) FROM exames WHERE resultado IS NOT NULL"))
            ),
            "discharged": int(
                str(scalar(conn, "SELECT count(*) FROM internacoes WHERE data_saida IS NOT NULL"))
            ),
        }
    settings = db.settings(**FAST, stream_workers=2, stream_txn_size=10)
    summary = run_stream(settings, events=3000, seed=5)
    yield db, summary, before
    drop_database(server_dsn, db.name)


def test_operation_mix_follows_the_weights(
    streamed: tuple[FreshDb, StreamSummary, dict[str, int]],
) -> None:
    _db, summary, _ = streamed
    wanted: dict[str, int] = dict.fromkeys(OPERATIONS, 0)
    for (op, table, _outcome), n in summary.stats.events.items():
        if table == OPERATIONS[op].table:
            wanted[op] += n
    for (want, ran), n in summary.stats.substitutions.items():
        wanted[want] += n
        wanted[ran] -= n
    total = sum(wanted.values())
    assert total == 3000
    for op, weight in DEFAULT_WEIGHTS.items():
        assert wanted[op] / total == pytest.approx(weight / 100, abs=0.03), op


def test_counters_equal_the_changes_in_the_database(
    streamed: tuple[FreshDb, StreamSummary, dict[str, int]],
) -> None:
    db, summary, before = streamed
    assert summary.stats.inserts + summary.stats.updates == 3000
    assert_counters_equal_database(db, summary)
    ran = {op: 0 for op in OPERATIONS}
    for (op, table, outcome), n in summary.stats.events.items():
        if outcome == "committed" and table == OPERATIONS[op].table:
            ran[op] += n
    with db.connect() as conn:
        closed = scalar(conn, "SELECT count(*) FROM consultas WHERE status <> 'agendada'")
        results = scalar(conn, "SELECT count(*) FROM exames WHERE resultado IS NOT NULL")
        discharged = scalar(conn, "SELECT count(*) FROM internacoes WHERE data_saida IS NOT NULL")
    # Each UPDATE operation moves one row to its next state, once.
    assert int(str(closed)) - before["closed"] == ran["update_consulta"]
    assert int(str(results)) - before["results"] == ran["update_exame"]
    assert int(str(discharged)) - before["discharged"] == ran["update_internacao"]


@pytest.mark.parametrize("rule", sorted(COHERENCE))
def test_every_coherence_rule_still_holds(
    streamed: tuple[FreshDb, StreamSummary, dict[str, int]], rule: str
) -> None:
    db, _, _ = streamed
    with db.connect() as conn:
        assert scalar(conn, COHERENCE[rule]) == 0, rule


def test_summary_reports_rate_latency_and_no_errors(
    streamed: tuple[FreshDb, StreamSummary, dict[str, int]],
) -> None:
    _, summary, _ = streamed
    snap = summary.snapshot
    assert snap["errors"] == {} and snap["reconnects"] == 0
    assert 0 < snap["latency_p50"] <= snap["latency_p95"] <= snap["latency_p99"]
    text = "\n".join(summary.lines())
    assert "events committed: 3000" in text and "p99" in text


def test_same_seed_gives_the_same_rows(make_db: Callable[[], FreshDb]) -> None:
    moment = dt.datetime(2026, 11, 2, 10, 30)

    def streamed_with(seed: int) -> dict[str, object]:
        db = seeded(make_db(), seed=3, audit=False, now=moment)
        run_stream(
            db.settings(**FAST, stream_txn_size=20),
            events=400,
            seed=seed,
            clock=FixedClock(moment),
        )
        return fingerprint(db)

    first, second, other = streamed_with(9), streamed_with(9), streamed_with(10)
    assert first == second
    assert first != other


def test_a_custom_clock_streams_with_several_workers(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    moment = dt.datetime(2026, 11, 2, 10, 30)
    weights = dict.fromkeys(OPERATIONS, 0.0) | {"insert_paciente": 1.0}
    settings = db.settings(**FAST, stream_workers=2, stream_weights=weights)
    summary = run_stream(settings, events=60, seed=4, clock=FixedClock(moment))
    assert summary.failure is None
    assert summary.stats.inserts == 60
    with db.connect() as conn:
        registered = conn.execute(
            "SELECT count(*) FROM pacientes WHERE data_cadastro = %s", (moment,)
        ).fetchone()
    assert registered == (60,)  # every worker used the given clock


def _terminate_stream_backends(db: FreshDb) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'hospital-sim stream%'"
        ).fetchone()
    return int(str(row[0])) if row else 0


# At 400/s the workers keep up; flat out, each statement is sent the moment the one
# before it commits, so a kill often finds one in flight.
@pytest.mark.parametrize("rate", [400.0, 1_000_000.0])
def test_killed_backends_reconnect_and_counts_stay_exact(fresh_db: FreshDb, rate: float) -> None:
    db = seeded(fresh_db)
    settings = db.settings(stream_rate=rate, stream_workers=2, reconnect_base_seconds=0.05)
    stop = threading.Event()
    result: list[StreamSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(run_stream(settings, stop=stop, seed=1)), daemon=True
    )
    runner.start()
    killed = 0
    deadline = time.monotonic() + 30
    while killed < 4 and time.monotonic() < deadline:
        # Each kill finds workers that are back and committing.
        before = audit_count(db)
        wait_until(committed_more_than(db, before), timeout=30, what="commits between kills")
        killed += _terminate_stream_backends(db)
    last = audit_count(db)  # the workers come back and commit more
    wait_until(committed_more_than(db, last), timeout=30, what="commits after the last kill")
    stop.set()
    runner.join(10)
    assert result, "the stream did not stop"
    summary = result[0]
    assert killed >= 2
    assert summary.stats.reconnects >= 1
    assert summary.failure is None
    assert summary.stats.inserts + summary.stats.updates > 0
    assert set(summary.stats.in_doubt) <= {"committed", "aborted"}
    assert_counters_equal_database(db, summary)
    assert_coherent(db)


def test_two_shards_stream_side_by_side_without_collisions(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db)

    def shard(i: int) -> StreamSummary:
        settings = db.settings(
            **FAST,
            stream_shard_index=i,
            stream_shard_count=2,
            stream_workers=2,
            stream_txn_size=5,
        )
        return run_stream(settings, events=600, seed=21)

    summaries = run_shards(shard, timeout=60)
    assert len(summaries) == 2
    for s in summaries:
        assert s.failure is None and s.snapshot["errors"] == {}
        assert s.stats.inserts + s.stats.updates == 600
    total = counted(summaries[0])
    for key, n in counted(summaries[1]).items():
        total[key] = total.get(key, 0) + n
    assert total == audited(db)
    assert_coherent(db)


@pytest.mark.parametrize("workers", [1, 2])  # threads of this process; worker processes
def test_metrics_endpoint_serves_the_counters(fresh_db: FreshDb, workers: int) -> None:
    import urllib.request

    db = seeded(fresh_db, audit=False)
    slot = f"metrics_{db.name}"
    with db.connect() as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    stop = threading.Event()
    taken: list[OSError] = []

    def stream_serving(port: int) -> None:
        settings = db.settings(stream_rate=200.0, metrics_port=port, stream_workers=workers)
        try:
            run_stream(settings, stop=stop, seed=1, collectors=slot_collectors)
        except OSError as exc:
            taken.append(exc)

    def scrape(port: int) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            return ""

    text = ""
    runner = threading.Thread()
    try:
        for _ in range(5):  # a port found free may be taken before the stream binds it
            port = free_port()
            runner = threading.Thread(target=stream_serving, args=(port,))
            runner.start()
            deadline = time.monotonic() + 30
            while 'outcome="committed"' not in text and time.monotonic() < deadline:
                if not runner.is_alive():
                    break
                time.sleep(0.1)
                text = scrape(port)
            if not taken:
                break
            assert taken.pop().errno == errno.EADDRINUSE
    finally:
        stop.set()
        if runner.ident is not None:
            runner.join(10)
        with db.connect() as conn:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    assert "hospital_sim_events_total{" in text and 'outcome="committed"' in text
    assert "hospital_sim_event_latency_seconds_bucket" in text
    assert "hospital_sim_reconnects_total 0.0" in text
    # The slot falls behind as the stream writes: its lag is on the same endpoint.
    assert f'hospital_sim_slot_retained_wal_bytes{{slot="{slot}"}}' in text
    assert f'hospital_sim_slot_active{{slot="{slot}"}} 0.0' in text


# The 1st insert is sent on its own; the 5th, at full speed, right after the 4th commits.
# A new patient joined to a plan is a batch of two rows: killed when its link commits, the
# patient's probe finds no row, so the batch is sent again.
@pytest.mark.parametrize(
    ("op", "table", "nth"),
    [
        ("insert_consulta", "consultas", 1),
        ("insert_consulta", "consultas", 5),
        ("insert_paciente", "pacientes_convenios", 1),
        ("insert_paciente", "pacientes_convenios", 4),
    ],
)
def test_connection_lost_during_commit_is_resolved_and_replayed(
    fresh_db: FreshDb, op: str, table: str, nth: int
) -> None:
    db = seeded(fresh_db)
    kill_at_commit(db, table, nth)
    weights = dict.fromkeys(OPERATIONS, 0.0) | {op: 1.0}
    count = f"SELECT count(*) FROM {table}"
    with db.connect() as conn:
        before = int(str(scalar(conn, count)))
    summary = run_stream(
        db.settings(**FAST, stream_weights=weights, reconnect_base_seconds=0.05),
        events=30,
        seed=3,
    )
    # The transaction killed at its commit, and the one queued behind it if there was one:
    # both resolved "aborted" and sent again, in the order they were planned.
    assert summary.stats.in_doubt in ({"aborted": 1}, {"aborted": 2})
    assert summary.stats.reconnects == 1
    assert summary.stats.inserts == 30
    with db.connect() as conn:
        added = int(str(scalar(conn, count))) - before
    assert added == summary.rows(table, "INSERT") > nth  # each row exactly once
    assert_counters_equal_database(db, summary)


def test_in_doubt_resolution_reads_the_commit_status(fresh_db: FreshDb) -> None:
    from hospital_sim.stream.failures import ErrorLog
    from hospital_sim.stream.session import Session
    from hospital_sim.stream.stats import Stats

    xids = {}
    with psycopg.connect(fresh_db.dsn) as conn:
        for outcome in ("committed", "aborted"):
            row = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
            assert row is not None
            xids[outcome] = str(row[0])
            conn.commit() if outcome == "committed" else conn.rollback()
    stats = Stats()
    session = Session(fresh_db.dsn, stats=stats, stop=threading.Event(), errors=ErrorLog())
    assert session._resolve(xids["committed"]) == "committed"
    assert session._resolve(xids["aborted"]) == "aborted"
    session.close()
    assert stats.in_doubt == {"committed": 1, "aborted": 1}


def test_phone_updates_keep_the_patients_area_code(fresh_db: FreshDb) -> None:

    db = seeded(fresh_db, audit=False)
    weights = dict.fromkeys(OPERATIONS, 0.0) | {"update_paciente": 1.0}
    summary = run_stream(db.settings(**FAST, stream_weights=weights), events=300, seed=3)
    assert (
        sum(n for (_op, _t, outcome), n in summary.stats.events.items() if outcome == "committed")
        == 300
    )
    with db.connect() as conn:
        changed = scalar(conn, "SELECT count(*) FROM pacientes WHERE updated_at > created_at")
        assert phone_area_mismatches(conn) == []
    assert int(str(changed)) > 50


def test_several_workers_in_the_original_pacing_run_in_worker_processes(
    fresh_db: FreshDb, caplog: pytest.LogCaptureFixture
) -> None:
    db = seeded(fresh_db)
    caplog.set_level(logging.DEBUG)
    settings = db.settings(stream_interval_seconds=0, max_jitter_ms=0, stream_workers=3)
    stop = threading.Event()
    result: list[StreamSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(run_stream(settings, stop=stop, seed=6)), daemon=True
    )
    runner.start()
    query = (
        "SELECT application_name, pid FROM pg_stat_activity"
        " WHERE application_name LIKE 'hospital-sim stream %' AND datname = current_database()"
    )
    backends: dict[str, int] = {}

    def three_workers_connected() -> bool:
        with db.connect() as conn:
            backends.update({str(name): int(str(pid)) for name, pid in conn.execute(query)})
        return len(backends) == 3

    try:
        wait_until(three_workers_connected, timeout=30, what="three stream connections")
        wait_until(committed_more_than(db, 300), timeout=30, what="300 committed changes")
    finally:
        stop.set()
        runner.join(30)
    assert sorted(backends) == [f"hospital-sim stream 0.{i}" for i in range(3)]
    assert len(set(backends.values())) == 3
    (summary,) = result
    assert summary.failure is None and summary.workers == 3
    assert_counters_equal_database(db, summary)
    # The workers ran in child processes, not as threads of this one.
    runs = [r for r in caplog.records if r.getMessage().startswith("worker process ")]
    pids = {r.process for r in runs}
    assert os.getpid() not in pids and len(pids) == min(3, len(os.sched_getaffinity(0)))
    named = sorted(n for r in runs for n in r.getMessage().split(" runs ")[1].split(", "))
    assert named == [f"worker 0.{i}" for i in range(3)]
    # The original per-event line still numbers and totals the events of the whole run.
    lines = [r.getMessage() for r in caplog.records if "| INSERT: " in r.getMessage()]
    cycles = sorted(int(ln[1 : ln.index("]")]) for ln in lines)
    total = summary.stats.inserts + summary.stats.updates
    assert cycles == list(range(1, total + 1))
    assert {r.process for r in caplog.records if "| INSERT: " in r.getMessage()} == pids
