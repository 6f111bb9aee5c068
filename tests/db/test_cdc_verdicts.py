"""Verdicts `cdc verify` used to get wrong on real data, each on a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from hospital_sim.cdc.capture.setup import setup_cdc
from hospital_sim.cdc.schema_types import TABLE_SCHEMAS, PgType
from hospital_sim.cdc.verify.check import source_fingerprint, wait_until_quiescent
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from hospital_sim.db.seed import seed_database
from tests.db.cdc_support import CdcDb, lines_of
from tests.db.support import run_cli

pytestmark = pytest.mark.db


def _seeded(cdc: CdcDb, log: Path) -> None:
    """Schema, CDC setup, a capture slot, the seed; ``log`` holds it all."""
    s = cdc.settings()
    init_database(s)
    setup_cdc(s)
    proc = run_cli("cdc", "capture", "-o", str(log), "--until-current", env=cdc.env())
    assert proc.returncode == 0, proc.stderr
    seed_database(s, seed=4)
    proc = run_cli("cdc", "capture", "-o", str(log), "--until-current", env=cdc.env())
    assert proc.returncode == 0, proc.stderr


def test_an_idle_database_read_by_a_parallel_plan_is_quiescent(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    # The quiescence query's UNION ALL, run as a Parallel Append, returned its rows in a
    # different order each time: the fingerprint never settled and verify gave up.
    log = tmp_path / "changes.jsonl"
    _seeded(cdc, log)
    with psycopg.connect(cdc.db.dsn, autocommit=True) as conn:
        for setting in (
            "parallel_setup_cost = 0",
            "parallel_tuple_cost = 0",
            "min_parallel_table_scan_size = 0",
            "max_parallel_workers_per_gather = 4",
        ):
            conn.execute(f"SET {setting}")
        fingerprint = source_fingerprint(conn)
        assert [row[0] for row in fingerprint if isinstance(row, tuple)] == sorted(TABLES)
        assert all(source_fingerprint(conn) == fingerprint for _ in range(5))
        wait_until_quiescent(conn, log, 0.5, limit=10)  # returns: nothing changes


def test_csv_dumps_keep_carriage_returns_inside_values(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    log = tmp_path / "changes.jsonl"
    s = cdc.settings()
    init_database(s)
    setup_cdc(s)
    seed_database(s, seed=4)
    with cdc.connect() as conn:
        conn.execute("UPDATE pacientes SET endereco = 'Rua A, 1\r\nBloco B\rFundos' WHERE id = 1")
    proc = run_cli("cdc", "capture", "-o", str(log), "--until-current", env=cdc.env())
    assert proc.returncode == 0, proc.stderr
    dumps = tmp_path / "expected"
    dumps.mkdir()
    with cdc.connect() as conn:
        for table in TABLES:
            query = sql.SQL("COPY (SELECT * FROM {} ORDER BY id) TO STDOUT (FORMAT csv, HEADER)")
            with (
                conn.cursor().copy(query.format(sql.Identifier(table))) as copy,
                open(dumps / f"{table}.csv", "wb") as out,
            ):
                for chunk in copy:
                    out.write(chunk)
    assert b"1\r\nBloco B\rFundos" in (dumps / "pacientes.csv").read_bytes()

    proc = run_cli("cdc", "verify", str(log), "--expected-dir", str(dumps), env=cdc.env())

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("IDENTICAL")


def test_a_capture_resumed_twice_into_one_file_is_in_order(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    log = tmp_path / "changes.jsonl"
    s = cdc.settings()
    init_database(s)
    setup_cdc(s)
    proc = run_cli("cdc", "capture", "-o", str(log), "--until-current", env=cdc.env())
    assert proc.returncode == 0, proc.stderr
    seed_database(s, seed=4)
    for run in range(2):
        # Each run's first transaction has no last commit LSN; the ones after it do.
        with cdc.connect() as conn:
            for n in range(1, 4):
                conn.execute("UPDATE exames SET resultado = %s WHERE id = %s", (f"r{run}", n))
        proc = run_cli("cdc", "capture", "-o", str(log), "--until-current", env=cdc.env())
        assert proc.returncode == 0, proc.stderr
    sequences = [json.loads(line)["source"].get("sequence") for line in lines_of(log)]
    assert sum(1 for q in sequences if q and q.startswith("[null,")) >= 2  # each run's first

    proc = run_cli("cdc", "verify", str(log), "--wait-quiescent", "0.3", env=cdc.env())

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "out of order" not in proc.stdout
    assert proc.stdout.rstrip().endswith("IDENTICAL")


def test_redelivery_after_a_restart_is_reported_and_accepted_on_request(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    log = tmp_path / "changes.jsonl"
    _seeded(cdc, log)
    lines = lines_of(log)
    log.write_text("".join([*lines, *lines[-30:]]), encoding="utf-8")

    strict = run_cli("cdc", "verify", str(log), "--wait-quiescent", "0.3", env=cdc.env())
    lenient = run_cli(
        "cdc", "verify", str(log), "--wait-quiescent", "0.3", "--allow-redelivery", "--json",
        env=cdc.env(),
    )  # fmt: skip

    assert strict.returncode == 1
    assert strict.stdout.rstrip().endswith("NOT IDENTICAL: 30 duplicate events")
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    report = json.loads(lenient.stdout)
    assert report["identical"] is True
    assert report["totals"]["duplicates"] == 30


def _capture(cdc: CdcDb, log: Path) -> None:
    proc = run_cli("cdc", "capture", "-o", str(log), "--until-current", env=cdc.env())
    assert proc.returncode == 0, proc.stderr


def _verify(cdc: CdcDb, log: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("cdc", "verify", str(log), "--wait-quiescent", "0.3", *extra, env=cdc.env())


def test_timestamps_far_from_now_and_infinity_verify_identical(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    # Epoch microseconds of 1966-1973 were read as milliseconds, 9999-12-31 as nanoseconds,
    # and 'infinity' in the source ended verify with a traceback (exit 1).
    log = tmp_path / "changes.jsonl"
    _seeded(cdc, log)
    with cdc.connect() as conn:
        for key, value in (
            (1, "1970-06-01 10:00:00.123456"),
            (2, "1968-01-01 00:00:00.5"),
            (3, "9999-12-31 00:00:00"),
            (4, "infinity"),
            (5, "-infinity"),
        ):
            conn.execute("UPDATE pacientes SET data_cadastro = %s WHERE id = %s", (value, key))
        conn.execute("UPDATE pacientes SET nascimento = 'infinity' WHERE id = 6")
    _capture(cdc, log)

    proc = _verify(cdc, log)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("IDENTICAL")


def test_columns_added_by_the_user_verify_identical(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    # Rows older than the columns lack them in the log (NULL in the source), the NUMERIC
    # arrives as text, and an unchanged TOASTed value as Debezium's placeholder.
    log = tmp_path / "changes.jsonl"
    _seeded(cdc, log)
    with cdc.connect() as conn:
        conn.execute(
            "ALTER TABLE pacientes ADD COLUMN observacoes text, ADD COLUMN saldo numeric(10,2)"
        )
        conn.execute(
            "UPDATE pacientes SET saldo = 12.50, observacoes = (SELECT string_agg(md5(i::text), '')"
            " FROM generate_series(1, 4000) AS i) WHERE id <= 3"
        )
        conn.execute("UPDATE pacientes SET telefone = '(11) 95555-0000' WHERE id <= 3")
    _capture(cdc, log)
    updates = [json.loads(line) for line in lines_of(log)[-3:]]
    assert {u["after"]["observacoes"] for u in updates} == {"__debezium_unavailable_value"}
    assert {u["after"]["saldo"] for u in updates} == {"12.50"}

    proc = _verify(cdc, log)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("IDENTICAL")


def _to_milliseconds(line: str) -> str:
    """``line`` as a connector with time.precision.mode=connect would have written it."""
    event = json.loads(line)
    columns = TABLE_SCHEMAS[event["source"]["table"]].types
    for image in (event["before"], event["after"]):
        for column, value in (image or {}).items():
            if columns.get(column) is PgType.TIMESTAMP and isinstance(value, int):
                image[column] = value // 1000
    return json.dumps(event, ensure_ascii=False) + "\n"


def test_timestamps_cut_to_milliseconds_are_blamed_on_the_encoding(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    log = tmp_path / "changes.jsonl"
    _seeded(cdc, log)
    log.write_text("".join(_to_milliseconds(line) for line in lines_of(log)), encoding="utf-8")

    text = _verify(cdc, log)
    as_json = _verify(cdc, log, "--json")

    assert text.returncode == 1  # the difference is real
    assert "time.precision.mode=connect" in text.stdout
    assert "the encoding, not the pipeline, lost the microseconds" in text.stdout
    report = json.loads(as_json.stdout)
    assert report["totals"]["differing"] > 0
    assert report["totals"]["sub_millisecond"] == report["totals"]["differing"]


def test_a_huge_value_is_shown_cut_and_an_absurd_line_is_refused(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    log = tmp_path / "changes.jsonl"
    _seeded(cdc, log)
    lines = lines_of(log)
    i = next(
        i for i, line in enumerate(lines) if json.loads(line)["source"]["table"] == "pacientes"
    )
    event = json.loads(lines[i])
    event["after"]["nome"] = "x" * 300_000
    lines[i] = json.dumps(event) + "\n"
    log.write_text("".join(lines), encoding="utf-8")

    text = _verify(cdc, log)
    as_json = _verify(cdc, log, "--json")

    assert text.returncode == 1 and as_json.returncode == 1
    assert "... (300000 characters)" in text.stdout
    assert len(text.stdout) < 20_000 and len(as_json.stdout) < 20_000

    absurd = '{"op":"c","after":{"nome":"' + "y" * (65 << 20) + '"}}\n'
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(absurd)
    proc = _verify(cdc, log)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"error: change log line {len(lines) + 1}: longer than 64 MiB; lines over 64 MiB are "
        "refused (a change event that large is not a row of this schema)"
    ]
