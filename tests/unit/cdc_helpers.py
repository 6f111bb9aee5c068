"""Shared helpers for the CDC unit tests: the Debezium fixture sets and their rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hospital_sim.cdc.verify import VerifyReport, load_expected_csv_dir, verify_changelog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "debezium"

A = "snapshot_then_stream_default"
B = "stream_string_modes"
C = "stream_with_schemas"
SETS = (A, B, C)


def lines(name: str) -> list[str]:
    """The change-log lines of fixture set ``name``, newline included."""
    with open(FIXTURES / f"{name}.jsonl", encoding="utf-8") as f:
        return f.readlines()


def expected(name: str) -> dict[str, list[dict[str, Any]]]:
    return load_expected_csv_dir(FIXTURES / f"{name}.expected")


def baseline(name: str) -> dict[str, list[dict[str, Any]]] | None:
    before = FIXTURES / f"{name}.before"
    return load_expected_csv_dir(before) if before.is_dir() else None


def verify(name: str, log: Iterable[str] | None = None) -> VerifyReport:
    """Verify ``log`` (default: the set's own lines) against set ``name``'s expected rows."""
    return verify_changelog(lines(name) if log is None else log, expected(name), baseline(name))


def value_of(line: str) -> dict[str, Any]:
    """The Debezium value envelope of a fixture line (schema wrapper removed)."""
    value: dict[str, Any] = json.loads(line)["value"]
    return value.get("payload", value) if "schema" in value else value


def find(log: list[str], table: str, op: str, key: int | None = None) -> int:
    """Index of the first line of ``log`` for ``table`` with ``op`` (and row ``key``)."""
    for i, line in enumerate(log):
        v = value_of(line)
        row = v["after"] or v["before"]
        if v["source"]["table"] == table and v["op"] == op and (key is None or row["id"] == key):
            return i
    raise LookupError(f"no {op} event for {table} {key}")


def table_by_name(report: VerifyReport, table: str) -> Any:
    return next(t for t in report.tables if t.table == table)


# --- faults built from real logs (ours or Debezium's), for the event-level proof -----------


def envelope(line: str) -> dict[str, Any]:
    """The change event of a log line: fixture wrapper and schema wrapper removed."""
    obj: dict[str, Any] = json.loads(line)
    if "value" in obj and "op" not in obj:
        obj = obj["value"]
    if "payload" in obj and "schema" in obj:
        obj = obj["payload"]
    return obj


def row_key(line: str) -> tuple[str, int]:
    event = envelope(line)
    row = event["after"] or event["before"]
    return event["source"]["table"], row["id"]


def superseded(log: list[str], op: str) -> int:
    """Index of the first ``op`` event whose row a later event of the log changes again."""
    for i, line in enumerate(log):
        if envelope(line)["op"] != op:
            continue
        key = row_key(line)
        if any(envelope(later)["op"] != "r" and row_key(later) == key for later in log[i + 1 :]):
            return i
    raise LookupError(f"no {op} event that a later event supersedes")


def later_event(log: list[str], i: int) -> int:
    """Index of the next event of the same row as ``log[i]``."""
    key = row_key(log[i])
    return next(j for j in range(i + 1, len(log)) if row_key(log[j]) == key)


def alter(line: str, column: str, value: Any) -> str:
    """``line`` with ``after[column]`` set to ``value`` (in whatever wrapper it has)."""
    obj = json.loads(line)
    event = obj
    if "value" in event and "op" not in event:
        event = event["value"]
    if "payload" in event and "schema" in event:
        event = event["payload"]
    event["after"][column] = value
    return json.dumps(obj, ensure_ascii=False) + "\n"
