"""`cdc verify` through the CLI: the Debezium fixtures, injected faults, unusable input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hospital_sim.cdc.capture.setup import setup_cdc
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from tests.db.cdc_support import CdcDb
from tests.db.support import FreshDb, run_cli

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "debezium"
SETS = ("snapshot_then_stream_default", "stream_string_modes", "stream_with_schemas")


def _verify(log: Path, name: str, db: FreshDb, *extra: str) -> tuple[int, str, str]:
    args = ["cdc", "verify", str(log), "--expected-dir", str(FIXTURES / f"{name}.expected")]
    before = FIXTURES / f"{name}.before"
    if before.is_dir():
        args += ["--baseline-dir", str(before)]
    proc = run_cli(*args, *extra, env=db.env())
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("name", SETS)
def test_debezium_fixture_sets_verify_identical(name: str, fresh_db: FreshDb) -> None:
    code, out, err = _verify(FIXTURES / f"{name}.jsonl", name, fresh_db)
    assert code == 0, out + err
    assert out.rstrip().endswith("IDENTICAL")


def _lines(name: str) -> list[str]:
    return (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def _line_of(lines: list[str], table: str, op: str) -> int:
    for i, line in enumerate(lines):
        value = json.loads(line)["value"]
        if value["source"]["table"] == table and value["op"] == op:
            return i
    raise LookupError(table)


def test_a_dropped_event_is_reported_missing(fresh_db: FreshDb, tmp_path: Path) -> None:
    name = "stream_string_modes"
    lines = _lines(name)
    i = _line_of(lines, "internacoes", "c")
    dropped_id = json.loads(lines[i])["value"]["after"]["id"]
    log = tmp_path / "dropped.jsonl"
    log.write_text("".join(lines[:i] + lines[i + 1 :]), encoding="utf-8")
    code, out, _ = _verify(log, name, fresh_db)
    assert code == 1
    assert f"internacoes: 1 missing, id {dropped_id}" in out
    assert "NOT IDENTICAL: 1 missing" in out


def test_a_duplicated_event_is_reported(fresh_db: FreshDb, tmp_path: Path) -> None:
    name = "stream_string_modes"
    lines = _lines(name)
    i = _line_of(lines, "consultas", "u")
    key = json.loads(lines[i])["value"]["after"]["id"]
    log = tmp_path / "duplicated.jsonl"
    log.write_text("".join([*lines, lines[i]]), encoding="utf-8")
    code, out, _ = _verify(log, name, fresh_db, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["identical"] is False
    assert report["tables"]["consultas"]["duplicates"] == 1
    assert report["duplicates"] == [
        {"table": "consultas", "id": key, "op": "u", "lsn": report["duplicates"][0]["lsn"],
         "line": len(lines) + 1}
    ]  # fmt: skip


def test_malformed_input_exits_2_with_the_line_number(fresh_db: FreshDb, tmp_path: Path) -> None:
    name = "stream_string_modes"
    lines = _lines(name)
    lines[4] = '{"topic": "dbz.public.pacientes", "value": {"op": "c", "after": \n'
    log = tmp_path / "broken.jsonl"
    log.write_text("".join(lines), encoding="utf-8")
    code, out, err = _verify(log, name, fresh_db)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: change log line 5: not JSON")
    assert out == ""


def test_a_missing_log_or_bad_expected_dir_exits_2(fresh_db: FreshDb, tmp_path: Path) -> None:
    code, _, err = _verify(tmp_path / "nope.jsonl", "stream_string_modes", fresh_db)
    assert code == 2 and "does not exist" in err
    proc = run_cli(
        "cdc", "verify", str(FIXTURES / "stream_string_modes.jsonl"),
        "--expected-dir", str(tmp_path), env=fresh_db.env(),
    )  # fmt: skip
    assert proc.returncode == 2 and "has none of" in proc.stderr


def test_verify_against_the_source_finds_a_row_changed_behind_the_log(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    env = cdc.env()
    log = tmp_path / "changes.jsonl"
    s = cdc.settings()
    init_database(s)
    setup_cdc(s)
    seed_database(s, seed=1)
    proc = run_cli("cdc", "capture", "-o", str(log), "--until-current", env=env)
    assert proc.returncode == 0, proc.stderr
    with cdc.connect() as conn:  # the slot is gone: this change never reaches the log
        conn.execute("SELECT pg_drop_replication_slot(%s)", (cdc.slot,))
        conn.execute("UPDATE exames SET resultado = 'alterado' WHERE id = 3")
    proc = run_cli("cdc", "verify", str(log), "--wait-quiescent", "0.3", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "exames id 3: resultado expected 'alterado'" in proc.stdout
