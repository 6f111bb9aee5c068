"""`stream --scenarios`: occurrences mixed into the stream are counted exactly (an audit
trigger counts every row change, deletes and truncates included), keep the seed's rules,
and repeat under a seed."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hospital_sim.cli.scenario_mix import ScenarioMix
from hospital_sim.scenarios import SCENARIOS, get_scenario
from hospital_sim.stream.mixing import prepare
from hospital_sim.stream.operations import FixedClock
from hospital_sim.stream.run import StreamSummary, run_stream
from tests.db.checks import (
    STREAM_VOLUMES,
    assert_coherent,
    audit_scenarios,
    fingerprint,
    scalar,
    scenario_audited,
    scenario_counts,
    seeded,
)
from tests.db.support import FreshDb, run_cli, run_shards

pytestmark = pytest.mark.db

FAST = {"stream_rate": 1_000_000.0, "stream_interval_seconds": 0, "max_jitter_ms": 0}


@pytest.mark.parametrize("rate", [None, 1_000_000.0], ids=["threads", "processes"])
def test_counters_equal_the_database_with_every_scenario_mixed_in(
    fresh_db: FreshDb, rate: float | None
) -> None:
    db = seeded(fresh_db, audit=False)
    mix = ScenarioMix(names=tuple(SCENARIOS), every=4, hold=0.5)
    audit_scenarios(db, mix)
    settings = db.settings(**{**FAST, "stream_rate": rate}, stream_workers=2, stream_txn_size=3)
    summary = run_stream(settings, events=1200, seed=8, scenarios=mix)

    assert summary.failure is None
    assert summary.snapshot["errors"] == {}  # no stream write hit a row a scenario removed
    # Every event committed; an UPDATE of a row a scenario had just deleted found nothing
    # (stale), as when any other writer deletes it.
    assert {str(outcome) for _, _, outcome in summary.stats.events} <= {"committed", "stale"}
    stale = sum(n for (_, _, o), n in summary.stats.events.items() if o == "stale")
    assert summary.stats.inserts + summary.stats.updates + stale == 1200
    assert scenario_counts(summary) == scenario_audited(db)
    ops = {op for _, op in summary.stats.scenario_rows}
    assert ops == {"insert", "update", "delete", "truncate"}
    assert sum(summary.stats.scenarios.values()) >= 20
    assert_coherent(db)
    text = "\n".join(summary.lines())
    assert "scenarios (lgpd-erasure, " in text and "one per 4 transactions" in text
    queued = summary.stats.scenario_rows[("fila_integracao", "insert")]
    assert f"fila_integracao      insert {queued}, truncate " in text
    data = summary.as_dict()
    deleted = scenario_audited(db)[("pacientes", "DELETE")]
    assert data["scenario_rows"]["pacientes|delete"] == deleted
    assert sum(data["scenario_occurrences"].values()) == sum(summary.stats.scenarios.values())


def test_same_seed_and_scenarios_give_the_same_rows(make_db: Callable[[], FreshDb]) -> None:
    moment = dt.datetime(2026, 11, 2, 10, 30)
    # The long report's row holds what it read and when: left out of this comparison.
    names = tuple(n for n in SCENARIOS if n != "long-report")

    def streamed_with(seed: int) -> tuple[dict[str, object], StreamSummary]:
        db = seeded(make_db(), seed=3, audit=False, now=moment)
        summary = run_stream(
            db.settings(**FAST, stream_txn_size=2),
            events=300,
            seed=seed,
            clock=FixedClock(moment),
            scenarios=ScenarioMix(names=names, every=3, hold=0.1),
        )
        return fingerprint(db), summary

    (first, a), (second, b) = streamed_with(4), streamed_with(4)
    other, _ = streamed_with(5)
    assert a.stats.scenarios == b.stats.scenarios and sum(a.stats.scenarios.values()) >= 10
    assert a.stats.scenario_rows == b.stats.scenario_rows
    assert first == second
    assert first != other


def test_the_long_report_runs_beside_the_workers_and_ends_with_the_stream(
    fresh_db: FreshDb,
) -> None:
    db = seeded(fresh_db, audit=False)
    mix = ScenarioMix(names=("long-report",), every=1, hold=600)
    summary = run_stream(db.settings(**FAST), events=200, seed=2, scenarios=mix)
    # One report at a time, on its own connection: the workers went on, and the report,
    # asked to end with the stream, still stored its row.
    assert summary.stats.inserts + summary.stats.updates == 200
    assert summary.stats.scenarios["long-report"] == 1
    assert summary.stats.scenarios_skipped["long-report"] >= 100
    with db.connect() as conn:
        assert scalar(conn, "SELECT count(*) FROM relatorios_mensais") == 1
        assert '"conferencia": true' in str(scalar(conn, "SELECT conteudo FROM relatorios_mensais"))


def test_cli_rejects_an_unknown_scenario_in_one_line(fresh_db: FreshDb) -> None:
    env = fresh_db.env()
    for args, says in (
        (("stream", "--scenarios", "lgpd-erasure,month-end-biling"), "did you mean month-end-"),
        (("run", "--scenarios", "nope", "--no-stream"), "unknown scenario 'nope'"),
    ):
        out = run_cli(*args, env=env)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], out.stderr
        assert "accepted: lgpd-erasure, cancelled-orders" in lines[0]
    with fresh_db.connect() as conn:  # nothing was created
        assert scalar(conn, "SELECT to_regclass('pacientes')") is None
    assert get_scenario("long-report").background


KILL_AT_COMMIT = """
CREATE SEQUENCE kill_once;
CREATE FUNCTION kill_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A sequence is not rolled back with the transaction: this fires exactly once.
    IF nextval('kill_once') = 1 THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER kill_at_commit AFTER INSERT ON fila_integracao
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kill_at_commit();
"""


def test_a_scenario_commit_lost_in_doubt_is_resolved_and_counted_once(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    mix = ScenarioMix(names=("nightly-cleanup",), every=2, hold=1)
    audit_scenarios(db, mix)
    with db.connect() as conn:
        conn.execute(KILL_AT_COMMIT.encode())
    settings = db.settings(**FAST, reconnect_base_seconds=0.05)
    summary = run_stream(settings, events=40, seed=6, scenarios=mix)

    # The first queue fill lost its connection at COMMIT: asked by its xid, the server
    # says it did not commit, so none of its rows count; the next occurrences do.
    assert summary.stats.in_doubt == {"aborted": 1}
    assert [k for k in summary.stats.scenarios_failed] == ["nightly-cleanup 57P01"]
    assert summary.stats.scenarios["nightly-cleanup"] >= 3
    assert scenario_counts(summary) == scenario_audited(db)
    assert "stopped short (what they committed is counted): nightly-cleanup 57P01: 1" in (
        "\n".join(summary.lines())
    )


def test_killed_scenario_connections_keep_the_counts_exact(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    names = ("lgpd-erasure", "patient-merge", "clinical-notes", "month-end-billing")
    mix = ScenarioMix(names=names, every=2, hold=1)
    audit_scenarios(db, mix)
    settings = db.settings(stream_rate=300.0, stream_workers=2, reconnect_base_seconds=0.05)
    stop = threading.Event()
    result: list[StreamSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(run_stream(settings, stop=stop, seed=3, scenarios=mix)),
        daemon=True,
    )
    runner.start()
    killed = 0
    for _ in range(40):
        with db.connect() as conn:
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname ="
                " current_database() AND application_name LIKE 'hospital-sim scenarios%'"
            ).fetchone()
        killed += int(str(row[0])) if row else 0
        if killed >= 6:
            break
        time.sleep(0.1)
    stop.set()
    runner.join(30)
    assert result, "the stream did not stop"
    summary = result[0]
    assert killed >= 3 and summary.failure is None and summary.stats.reconnects >= 1
    assert sum(summary.stats.scenarios.values()) > 0
    assert set(summary.stats.in_doubt) <= {"committed", "aborted"}
    assert scenario_counts(summary) == scenario_audited(db)
    assert_coherent(db)


def test_two_shards_with_scenarios_keep_to_their_own_patients(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    names = ("lgpd-erasure", "patient-merge", "cancelled-orders", "nightly-cleanup")
    mix = ScenarioMix(names=names, every=3, hold=1)
    audit_scenarios(db, mix)

    def shard(i: int) -> StreamSummary:
        settings = db.settings(**FAST, stream_shard_index=i, stream_shard_count=2,
                               stream_workers=2, stream_txn_size=2)  # fmt: skip
        return run_stream(settings, events=400, seed=30 + i, scenarios=mix)

    summaries = run_shards(shard, timeout=120)
    assert len(summaries) == 2
    total: dict[tuple[str, str], int] = {}
    for s in summaries:
        assert s.failure is None and s.snapshot["errors"] == {}
        assert sum(s.stats.scenarios.values()) > 0
        for key, n in scenario_counts(s).items():
            total[key] = total.get(key, 0) + n
    assert total == scenario_audited(db)
    assert_coherent(db)


def test_cli_streams_with_scenarios_and_runs_the_report_for_its_hold(
    fresh_db: FreshDb, tmp_path: Path
) -> None:
    db = seeded(fresh_db, audit=False)
    env = db.env({k.upper(): str(v) for k, v in STREAM_VOLUMES.items()})
    out = tmp_path / "summary.json"
    args = ("--scenarios", "cancelled-orders,edge-values", "--scenario-every", "2")
    fast = ("--interval", "0", "--jitter-ms", "0", "--seed", "4", "--summary-json", str(out))
    proc = run_cli("stream", *args, "--events", "30", *fast, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (
        "scenarios (cancelled-orders, edge-values; one per 2 transactions on average): "
        "occurrences cancelled-orders " in proc.stdout
    )
    data = json.loads(out.read_text())
    assert data["events_committed"] == 30
    assert data["scenario_rows"]["exames|delete"] > 0
    assert data["scenario_rows"]["pacientes|insert"] == data["scenario_occurrences"]["edge-values"]

    report = run_cli("scenario", "run", "long-report", "--hold", "1s", env=env)
    assert report.returncode == 0, report.stderr
    assert "relatorios_mensais insert: 1" in report.stdout
    bad = run_cli("scenario", "run", "long-report", "--hold", "3 weeks", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: --scenario-hold=3 weeks (from flag) is not accepted; it must be seconds, or a "
        "number with s, m or h"
    )


def test_two_streams_starting_together_prepare_the_scenarios_once(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    mix = ScenarioMix(names=("nightly-cleanup", "long-report"), every=100, hold=1)
    failures: list[BaseException] = []
    together = threading.Barrier(4)

    def start() -> None:
        try:
            with db.connect() as conn:
                together.wait(30)
                prepare(mix, conn)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []  # without the lock, CREATE TABLE IF NOT EXISTS races itself
    with db.connect() as conn:
        assert scalar(conn, "SELECT count(*) FROM fila_integracao") == 0
