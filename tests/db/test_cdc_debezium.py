"""`cdc capture --engine debezium`: the real Debezium PostgreSQL connector, in process.

The JVM starts once per process, so these tests are few: four in this process (the
library, the event-level proof with injected faults, a stream at full speed, and the demo),
one through the command line (a JVM of its own).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

from hospital_sim.cdc.capture.builtin import Capture
from hospital_sim.cdc.capture.debezium import DebeziumCapture, DebeziumResult
from hospital_sim.cdc.capture.setup import setup_cdc
from hospital_sim.cdc.lsn import parse_lsn
from hospital_sim.cdc.schema_types import TABLE_NAMES
from hospital_sim.cdc.verify.check import prove_log, verify_log
from hospital_sim.cdc.verify.compare import VerifyReport
from hospital_sim.cdc.verify.proof import ProofReport
from hospital_sim.config import Settings
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.demo import run_demo
from hospital_sim.errors import UserError
from hospital_sim.scenarios.run import run_scenario
from hospital_sim.stream.run import run_stream
from tests.db.cdc_support import Background, CdcDb, cleanup, current_lsn, lines_of
from tests.db.debezium_support import needs_debezium
from tests.db.support import ROOT, run_cli

pytestmark = [pytest.mark.db, pytest.mark.slow, needs_debezium]

PASSWORD = "Dbz-s3cret-never-shown"


def _verify(cdc: CdcDb, log: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("cdc", "verify", str(log), "--wait-quiescent", "0.5", env=cdc.env())


def test_debezium_captures_seed_stream_and_deletes_and_verify_is_identical(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    s = cdc.settings(stream_rate=300.0)
    init_database(s)
    log = tmp_path / "dbz.jsonl"
    capture = DebeziumCapture(s, output=log, props={"slot.drop.on.stop": "true"})
    running = Background(capture.run)
    assert capture.ready.wait(60)
    seeded = seed_database(s, seed=11)
    summary = run_stream(s, duration=2.0, seed=11)
    assert summary.failure is None
    with cdc.connect() as conn:  # a delete: a 'd' event and its tombstone
        conn.execute("DELETE FROM pacientes_convenios WHERE id = 1")
    capture.stop_at_current()
    result: DebeziumResult = running.join(120)

    assert result.stopped_by == "until-current"
    assert result.tombstones == 1
    records = [json.loads(line) for line in lines_of(log)]
    ops = Counter(r["value"]["op"] for r in records if r["value"] is not None)
    assert ops["r"] == 2  # the lookup plans init wrote before the connector started
    assert ops["c"] >= seeded.total
    assert ops["u"] > 0 and ops["d"] == 1
    assert all(r["topic"].startswith("hospital_sim.public.") for r in records)
    assert records[0]["value"]["source"]["version"].endswith(".Final")  # Debezium's own
    proc = _verify(cdc, log)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("IDENTICAL")


@pytest.fixture
def dbz_login(cdc: CdcDb) -> Iterator[str]:
    """A DSN with a login of its own, whose password the test knows and must never see."""
    user = f"{cdc.role}_dbz"
    with cdc.connect() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(PASSWORD)
            )
        )
    yield conninfo.make_conninfo(cdc.db.dsn, user=user, password=PASSWORD)
    with cdc.connect() as conn:  # the connector's publication is the login's
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(user)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))


def test_debezium_cli_stops_on_sigterm_resumes_from_its_offsets_and_hides_the_password(
    cdc: CdcDb,
    dbz_login: str,
    tmp_path: Path,
) -> None:
    init_database(cdc.settings())
    seeded = seed_database(cdc.settings(), seed=5)
    env = cdc.env({"DATABASE_URL": dbz_login})
    log = tmp_path / "dbz.jsonl"
    cmd = [sys.executable, "-m", "hospital_sim", "cdc", "capture", "--engine", "debezium"]
    proc = subprocess.Popen(
        [*cmd, "-o", str(log), "--prop", "poll.interval.ms=50"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        # The whole snapshot: the 2 lookup rows init wrote, then the seed.
        while len(lines_of(log) if log.exists() else []) < seeded.total + 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped by SIGTERM" in err
    assert Path(f"{log}.offsets").is_file()
    snapshot_lines = len(lines_of(log))

    with cdc.connect() as conn:
        conn.execute("UPDATE medicos SET especialidade = 'Geriatria' WHERE id = 3")
    again = run_cli(*cmd[3:], "-o", str(log), "--until-current", env=env, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "stopped by until-current" in again.stderr
    new = [json.loads(line) for line in lines_of(log)[snapshot_lines:]]
    assert [(r["value"]["op"], r["key"]) for r in new] == [("u", {"id": 3})]  # no new snapshot
    for text in (out, err, again.stdout, again.stderr):
        assert PASSWORD not in text
    verified = _verify(cdc, log)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_demo_with_debezium_ends_identical_and_leaves_no_slot(
    cdc: CdcDb,
    server_dsn: str,
    tmp_path: Path,
) -> None:
    demo_db = f"{cdc.db.name}_demo"
    try:
        result = run_demo(
            cdc.settings(), seconds=1.0, rate=100.0, log_path=tmp_path / "d.jsonl",
            engine="debezium",
        )  # fmt: skip
        assert result.identical, "\n".join(result.lines())
        assert result.capture.by_table_op[("pacientes", "c")] > 0  # the seed, captured live
        assert "hospital_sim.public.pacientes" in (tmp_path / "d.jsonl").read_text()
        with psycopg.connect(server_dsn) as conn:
            slots = conn.execute(
                "SELECT count(*) FROM pg_replication_slots WHERE database = %s", (demo_db,)
            ).fetchone()
        assert slots == (0,)
    finally:
        cleanup(server_dsn, cdc, extra_databases=(demo_db,))
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(demo_db))
            )


def test_a_connector_property_debezium_rejects_is_one_error_naming_the_accepted_values(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    init_database(cdc.settings())
    log = tmp_path / "dbz.jsonl"
    capture = DebeziumCapture(cdc.settings(), output=log, props={"snapshot.mode": "bogus"})
    with pytest.raises(UserError) as raised:
        capture.run()
    message = str(raised.value)
    assert message.startswith("the Debezium connector failed: ")
    assert "'snapshot.mode' value is invalid" in message and "no_data" in message
    assert "\n" not in message


def _faulty(
    lines: list[str], drop: frozenset[int] = frozenset(), dup: int | None = None
) -> list[str]:
    out = []
    for n, line in enumerate(lines):
        if n in drop:
            continue
        out.append(line)
        if n == dup:
            out.append(line)
    return out


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


@contextmanager
def _captured_side_by_side(
    cdc: CdcDb, s: Settings, log: Path, reference_log: Path
) -> Iterator[None]:
    """Debezium (with transaction metadata) into ``log`` and the built-in capture into
    ``reference_log``, both running through the block and stopped at the same LSN after it."""
    reference = Capture(s.model_copy(update={"cdc_slot": f"{cdc.slot}_ref"}), output=reference_log)
    ref_running = Background(reference.run)
    assert reference.ready.wait(60)
    capture = DebeziumCapture(
        s, output=log,
        props={"slot.drop.on.stop": "true", "provide.transaction.metadata": "true"},
    )  # fmt: skip
    running = Background(capture.run)
    assert capture.ready.wait(60)
    yield
    end = current_lsn(cdc)
    capture.stop_at_current()
    reference.stop_at(end)
    running.join(120)
    ref_running.join(120)


def test_debezium_log_proven_against_a_reference_taken_at_the_same_time_with_faults(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    """One live Debezium capture (with transaction metadata) feeds every fault below."""
    s = cdc.settings(
        stream_rate=200.0, seed_pacientes=80, seed_medicos=8, seed_convenios=4,
        seed_consultas=150, seed_exames=100, seed_internacoes=40, seed_pacientes_convenios=90,
    )  # fmt: skip
    init_database(s)
    setup_cdc(s)
    reference_log, log = tmp_path / "reference.jsonl", tmp_path / "dbz.jsonl"
    with _captured_side_by_side(cdc, s, log, reference_log):
        seed_database(s, seed=12)
        assert run_stream(s, duration=2.0, seed=12).failure is None

    lines = lines_of(log)
    records = [json.loads(line) for line in lines]
    # Debezium writes BEGIN/END to <prefix>.transaction; verify checks every END's counts.
    ends = [n for n, r in enumerate(records) if r["topic"] == "hospital_sim.transaction"
            and r["value"]["status"] == "END"]  # fmt: skip
    assert len(ends) >= 10
    report = verify_log(s, log, wait_quiescent=0)
    assert report.identical, report.render_table()
    assert report.transactions_checked >= len(ends) - 1  # less the stop marker's own
    clean = prove_log(log, reference_log)
    assert clean.ok, clean.render()

    # Change events by row, in log order.
    rows: dict[tuple[str, int], list[int]] = {}
    for n, r in enumerate(records):
        v = r["value"]
        if v and v.get("op") in ("c", "u"):
            rows.setdefault((v["source"]["table"], v["after"]["id"]), []).append(n)
    updated_twice = next(ns for ns in rows.values() if len(ns) >= 3)  # c, u, u: a middle u
    superseded = next(ns for ns in rows.values() if len(ns) >= 2)  # c then u
    middle_u, created = updated_twice[1], superseded[0]
    assert records[middle_u]["value"]["op"] == "u" and records[created]["value"]["op"] == "c"

    def faults(name: str, changed: list[str]) -> tuple[VerifyReport, ProofReport]:
        path = _write(tmp_path / f"{name}.jsonl", changed)
        return verify_log(s, path, wait_quiescent=0), prove_log(path, reference_log)

    # 1. An intermediate 'u' removed: the final row is right, the END marker counts it.
    state, proof = faults("no_middle_u", _faulty(lines, drop=frozenset({middle_u})))
    assert proof.summary() == "EVENTS DIFFER: 1 lost"
    assert proof.examples["lost"][0].op == "u"
    assert not state.identical
    assert len(state.transaction_mismatches) == 1
    assert state.verdict().startswith("NOT IDENTICAL: 1 transaction with other event counts")

    # 2. A 'c' that a later 'u' supersedes removed.
    state, proof = faults("no_c", _faulty(lines, drop=frozenset({created})))
    assert proof.summary() == "EVENTS DIFFER: 1 lost"
    assert proof.examples["lost"][0].op == "c"
    assert not state.identical and len(state.transaction_mismatches) == 1

    # 3. One event delivered twice.
    state, proof = faults("dup", _faulty(lines, dup=middle_u))
    assert proof.summary() == "EVENTS DIFFER: 1 duplicated"
    assert state.verdict() == "NOT IDENTICAL: 1 duplicate event"
    assert prove_log(tmp_path / "dup.jsonl", reference_log, allow_redelivery=True).ok

    # 4. A value altered in an image a later event supersedes: the state cannot see it.
    altered = json.loads(lines[created])
    column = next(c for c, x in altered["value"]["after"].items() if isinstance(x, str))
    altered["value"]["after"][column] = "ALTERED"
    changed = list(lines)
    changed[created] = json.dumps(altered, ensure_ascii=False)
    state, proof = faults("altered", changed)
    assert proof.summary() == "EVENTS DIFFER: 1 altered"
    [example] = proof.examples["altered"]
    assert [c[0] for c in example.columns] == [column] and example.columns[0][2] == "ALTERED"
    assert state.identical, state.render_table()


def test_a_full_speed_stream_reaches_debezium_one_transaction_per_commit(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    """As fast as it goes, each worker queues its next transaction behind the one in flight
    on its connection: Debezium must still see every one as a transaction of its own,
    event for event what the built-in capture saw."""
    s = cdc.settings(stream_rate=1_000_000.0, stream_workers=2)
    init_database(s)
    setup_cdc(s)
    reference_log, log = tmp_path / "reference.jsonl", tmp_path / "dbz.jsonl"
    with _captured_side_by_side(cdc, s, log, reference_log):
        seed_database(s, seed=14)
        start = parse_lsn(current_lsn(cdc))
        summary = run_stream(s, duration=1.5, seed=14)
    assert summary.failure is None and not summary.stats.errors
    assert not any(outcome == "stale" for _op, _table, outcome in summary.stats.events)

    records = [json.loads(line) for line in lines_of(log)]
    streamed = [
        r["value"] for r in records
        if r["value"] is not None and r["value"].get("op") in ("c", "u")
        and r["value"]["source"]["lsn"] >= start
    ]  # fmt: skip
    # Each committed transaction of the stream is one transaction in the log, no more (a
    # few hundred at the least, however slow the machine).
    assert len({v["source"]["txId"] for v in streamed}) == summary.stats.transactions > 200
    assert len(streamed) == sum(
        summary.rows(t, k) for t in TABLE_NAMES for k in ("INSERT", "UPDATE")
    )
    report = verify_log(s, log, wait_quiescent=0)
    assert report.identical, report.render_table()
    assert report.transactions_checked >= summary.stats.transactions
    proof = prove_log(log, reference_log)
    assert proof.ok, proof.render()


def test_teardown_drops_the_publications_the_connector_created(cdc: CdcDb) -> None:
    s = cdc.settings()
    init_database(s)
    made = []
    for props in ({}, {"publication.name": f"{cdc.slot}_reports"}):  # default name, and own
        capture = DebeziumCapture(s, props={"slot.drop.on.stop": "true", **props})
        running = Background(capture.run)
        assert capture.ready.wait(60)
        capture.stop()
        running.join(120)
        made.append(props.get("publication.name", f"{capture.slot}_pub"))
    with cdc.connect() as conn:
        conn.execute("CREATE PUBLICATION someone_elses FOR TABLE pacientes")
        names = {str(r[0]) for r in conn.execute("SELECT pubname FROM pg_publication")}
    assert set(made) <= names  # the connector leaves them behind when it stops

    out = run_cli("cdc", "teardown", "--yes", env=cdc.env())
    assert out.returncode == 0, out.stderr
    assert f"publications the Debezium connector created: dropped {', '.join(sorted(made))}" in (
        out.stdout
    )
    with cdc.connect() as conn:
        left = {str(r[0]) for r in conn.execute("SELECT pubname FROM pg_publication")}
    assert left == {"someone_elses"}


def test_debezium_snapshot_of_what_scenarios_left_matches_our_snapshot(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    """A connector started after `stream --scenarios` ran: its JDBC snapshot writes DATE
    'infinity' and NUMERICs its own way (-622191234 days; trailing zeros dropped)."""
    s = cdc.settings(scenario_hold_seconds=0.1)
    init_database(s)
    seed_database(s, seed=13)
    for name in ("edge-values", "schema-migration", "long-report"):
        run_scenario(s, name, seed=5, times=2)
    setup_cdc(s)
    with cdc.connect() as conn:
        conn.execute(  # a price with a trailing zero, which JDBC reads as 233.3
            "UPDATE exames SET valor_cobrado = 233.30 WHERE id = (SELECT min(id) FROM exames)"
        )
        conn.execute(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE relatorios_mensais").format(
                sql.Identifier(cdc.publication)
            )
        )
    reference_log, log = tmp_path / "reference.jsonl", tmp_path / "dbz.jsonl"
    reference = Capture(s.model_copy(update={"cdc_slot": f"{cdc.slot}_ref"}),
                        output=reference_log, until_current=True)  # fmt: skip
    assert reference.run().snapshot_rows > 0
    tables = ",".join(f"public.{t}" for t in (*TABLE_NAMES, "relatorios_mensais"))
    capture = DebeziumCapture(
        s, output=log, props={"slot.drop.on.stop": "true", "table.include.list": tables}
    )
    running = Background(capture.run)
    assert capture.ready.wait(60)
    capture.stop_at_current()
    running.join(120)

    text = log.read_text(encoding="utf-8")
    assert '"validade":-622191234' in text and "hospital_sim.public.relatorios_mensais" in text
    proof = prove_log(log, reference_log)
    assert proof.ok, proof.render()
    assert proof.render().splitlines()[-1] == (
        "EVENTS IDENTICAL: every reference event exactly once, in order"
    )
    report = verify_log(s, log, wait_quiescent=0)
    assert report.identical, report.render_table()
