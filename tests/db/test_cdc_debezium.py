"""`cdc capture --engine debezium`: the real Debezium PostgreSQL connector, in process.

The JVM starts once per process, so these tests are few: two in this process (the
library and the demo), one through the command line (a JVM of its own).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

from hospital_sim.cdc.capture.debezium import DebeziumCapture, DebeziumResult
from hospital_sim.cdc.demo import run_demo
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.errors import UserError
from hospital_sim.stream.run import run_stream
from tests.db.cdc_support import Background, CdcDb, cleanup, lines_of
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
