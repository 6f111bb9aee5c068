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
