"""Read table dumps made with psql ``\\copy ... TO ... (FORMAT csv, HEADER)``.

In that format NULL is an empty unquoted field while an empty string is ``""``, which
Python's ``csv`` module (before 3.12) cannot tell apart; hence this small reader.
Values are normalised to canonical Python values with the hospital schema's types.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from hospital_sim.cdc.schema_types import TABLE_NAMES, TABLE_SCHEMAS
from hospital_sim.cdc.values import parse_pg_text
from hospital_sim.errors import UserError

__all__ = ["load_expected_csv_dir", "read_psql_csv", "read_table_csv"]

_FIELD: Final = re.compile(r'"((?:[^"]|"")*)"|([^,"\r\n]*)')


def read_psql_csv(text: str, *, source: str = "<csv>") -> Iterator[list[str | None]]:
    """Yield the records of psql CSV ``text``; an empty unquoted field is None."""
    pos, end, line = 0, len(text), 1
    while pos < end:
        record: list[str | None] = []
        while True:
            m = _FIELD.match(text, pos)
            assert m is not None  # the second alternative matches the empty string
            quoted, bare = m.group(1), m.group(2)
            if quoted is not None:
                record.append(quoted.replace('""', '"'))
                line += quoted.count("\n")
            else:
                record.append(bare or None)
            pos = m.end()
            if pos >= end:
                break
            sep = text[pos]
            if sep == ",":
                pos += 1
                continue
            if sep == "\r" and text.startswith("\r\n", pos):
                pos += 2
                break
            if sep in "\r\n":
                pos += 1
                break
            raise UserError(f"{source} line {line}: stray '{sep}' in a CSV field")
        line += 1
        yield record


def read_table_csv(path: Path, table: str) -> list[dict[str, Any]]:
    """The rows of one ``<table>.csv`` dump, as canonical values keyed by column name."""
    try:
        # newline="": a \r or \r\n inside a quoted value is data, not a line ending.
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path} is not UTF-8 text (byte {exc.start}); dump it as UTF-8 "
            "(PGCLIENTENCODING=UTF8 for psql's \\copy)"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    records = read_psql_csv(text, source=str(path))
    header = next(records, None)
    if not header or any(h is None for h in header):
        raise UserError(f"{path}: expected a header line with column names (psql HEADER option)")
    columns = [str(h) for h in header]
    schema = TABLE_SCHEMAS.get(table)
    types = [schema.types.get(c) if schema else None for c in columns]
    rows = []
    for line_no, record in enumerate(records, 2):
        if len(record) != len(columns):
            raise UserError(
                f"{path} line {line_no}: {len(record)} fields, the header has {len(columns)}"
            )
        row: dict[str, Any] = {}
        for column, pg_type, text_value in zip(columns, types, record, strict=True):
            if text_value is None or pg_type is None:
                row[column] = text_value
                continue
            try:
                row[column] = parse_pg_text(pg_type, text_value)
            except ValueError:
                raise UserError(
                    f"{path} line {line_no}: {column} = {text_value!r} is not a valid "
                    f"{pg_type.value}"
                ) from None
        rows.append(row)
    return rows


def load_expected_csv_dir(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Read ``<table>.csv`` for each hospital table present in directory ``path``."""
    directory = Path(path)
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory of <table>.csv dumps")
    tables = {
        name: read_table_csv(directory / f"{name}.csv", name)
        for name in TABLE_NAMES
        if (directory / f"{name}.csv").is_file()
    }
    if not tables:
        raise UserError(f"{directory} has none of {', '.join(f'{t}.csv' for t in TABLE_NAMES)}")
    return tables
