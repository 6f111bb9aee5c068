"""``cdc diff``: the seven source tables against same-named tables in another PostgreSQL.

Rows are compared by primary key in chunks of consecutive ids (chunk bounds taken from
the source's own ids, so sparse ids cost nothing): both servers hash each chunk as
``md5(string_agg(row text ORDER BY id))`` and only the chunks whose count or hash differ
are fetched and compared row by row. Millions of rows compare with one chunk in memory
at a time. Each column is cast to the source column's type on both sides, and both
sessions run with ``TimeZone=UTC``, so a sink that wrote ``timestamptz`` or ``text``
still compares by value. The result is the verifier's report: rows matched, missing
from the target, extra in the target and differing (with column-level diffs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql
from psycopg.rows import dict_row

from hospital_sim.cdc.schema_types import TABLE_SCHEMAS, PgType, TableSchema
from hospital_sim.cdc.verify.compare import ColumnDiff, TableReport, VerifyReport
from hospital_sim.cdc.verify.report import shown
from hospital_sim.config import Settings
from hospital_sim.db.connect import Conn, Target, check_options, connect
from hospital_sim.db.lifecycle import require_schema
from hospital_sim.db.schema import missing_tables
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import UserError

__all__ = ["DEFAULT_CHUNK", "diff_databases", "render_diff"]

log = logging.getLogger(__name__)


DEFAULT_CHUNK = 10_000
_CAST = {
    PgType.BIGINT: "bigint",
    PgType.VARCHAR: "text",
    PgType.DATE: "date",
    PgType.TIMESTAMP: "timestamp",
}


@dataclass(frozen=True)
class _Side:
    conn: Conn
    table: sql.Composable
    label: str


Columns = tuple[tuple[str, str], ...]
"""(name, type to cast to) of each column compared."""


def source_columns(conn: Conn, table: str) -> Columns:
    """The source table's columns as they are now, those the user added included.

    The hospital columns are cast to their canonical types; an added column to its own
    type as the source declares it (``numeric(10,2)``, ``jsonb``...).
    """
    schema: TableSchema = TABLE_SCHEMAS[table]
    rows = conn.execute(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        (sql.Identifier("public", table).as_string(conn),),
    ).fetchall()
    known = schema.types
    return tuple(
        (str(name), _CAST[known[str(name)]] if str(name) in known else str(kind))
        for name, kind in rows
    )


def _columns(columns: Columns) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{}::{} AS {}").format(sql.Identifier(name), sql.SQL(cast), sql.Identifier(name))
        for name, cast in columns
    )


def _row_text(columns: Columns) -> sql.Composable:
    return sql.SQL("ROW({})::text").format(
        sql.SQL(", ").join(
            sql.SQL("{}::{}").format(sql.Identifier(name), sql.SQL(cast)) for name, cast in columns
        )
    )


def _range(lo: int | None, hi: int | None) -> sql.Composable:
    parts = []
    if lo is not None:
        parts.append(sql.SQL("id > {}").format(sql.Literal(lo)))
    if hi is not None:
        parts.append(sql.SQL("id <= {}").format(sql.Literal(hi)))
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")


def _chunk_hash(side: _Side, schema: Columns, where: sql.Composable) -> tuple[int, str]:
    query = sql.SQL(
        "SELECT count(*), md5(coalesce(string_agg({row}, E'\\n' ORDER BY id), ''))"
        " FROM {table} WHERE {where}"
    ).format(row=_row_text(schema), table=side.table, where=where)
    found = side.conn.execute(query).fetchone()
    assert found is not None
    return int(str(found[0])), str(found[1])


def _chunk_rows(side: _Side, schema: Columns, where: sql.Composable) -> dict[int, dict[str, Any]]:
    query = sql.SQL("SELECT {cols} FROM {table} WHERE {where} ORDER BY id").format(
        cols=_columns(schema), table=side.table, where=where
    )
    with side.conn.cursor(row_factory=dict_row) as cur:
        return {int(r["id"]): r for r in cur.execute(query)}


def _upper_bounds(source: _Side, chunk: int) -> Iterator[int | None]:
    """Upper id of each chunk of ``chunk`` source rows; None closes the last one."""
    lo: int | None = None
    while True:
        query = sql.SQL("SELECT id FROM {} WHERE {} ORDER BY id OFFSET {} LIMIT 1").format(
            source.table, _range(lo, None), sql.Literal(chunk - 1)
        )
        found = source.conn.execute(query).fetchone()
        if found is None:
            yield None
            return
        lo = int(str(found[0]))
        yield lo


def _drill(
    report: TableReport, src: dict[int, dict[str, Any]], dst: dict[int, dict[str, Any]],
    sample: int,
) -> None:  # fmt: skip
    for key, row in src.items():
        other = dst.get(key)
        if other is None:
            report.missing += 1
            if len(report.missing_ids) < sample:
                report.missing_ids.append(key)
        elif other == row:
            report.matched += 1
        else:
            report.differing += 1
            if len({d.id for d in report.diffs}) < sample:
                report.diffs.extend(
                    ColumnDiff(key, c, v, other.get(c)) for c, v in row.items() if other.get(c) != v
                )
    for key in dst:
        if key not in src:
            report.extra += 1
            if len(report.extra_ids) < sample:
                report.extra_ids.append(key)


def diff_table(
    name: str, source: _Side, target: _Side, *, chunk: int = DEFAULT_CHUNK, sample: int = 10
) -> TableReport:
    """Compare one table chunk by chunk; only differing chunks are read row by row."""
    schema = source_columns(source.conn, name)
    report = TableReport(name)
    lo: int | None = None
    for hi in _upper_bounds(source, chunk):
        where = _range(lo, hi)
        src_count, src_hash = _chunk_hash(source, schema, where)
        dst_count, dst_hash = _chunk_hash(target, schema, where)
        report.expected_rows += src_count
        report.replayed_rows += dst_count
        if (src_count, src_hash) == (dst_count, dst_hash):
            report.matched += src_count
        else:
            _drill(report, _chunk_rows(source, schema, where), _chunk_rows(target, schema, where),
                   sample)  # fmt: skip
        lo = hi
    report.missing_ids.sort()
    report.extra_ids.sort()
    return report


def _check_target_table(
    conn: Conn, schema_name: str, table: str, source_table: str, columns: Columns
) -> None:
    rows = conn.execute(
        "SELECT a.attname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        (schema_name, table),
    ).fetchall()
    if not rows:
        raise UserError(
            f"target has no table {schema_name}.{table} (for source table {source_table}); "
            "check --target-schema and --table-prefix"
        )
    have = {str(r[0]) for r in rows}
    missing = [name for name, _ in columns if name not in have]
    if missing:
        raise UserError(
            f"target table {schema_name}.{table} has no column {missing[0]} (the source "
            f"table {source_table} has it); add it to the sink or drop it from the source"
        )


@contextmanager
def _session(target: Target, deadline: float) -> Iterator[Conn]:
    conn = connect(target, deadline=deadline, autocommit=False)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute("SET TIME ZONE 'UTC'")
        yield conn
    finally:
        conn.close()


def _target(dsn: str) -> Target:
    expected = "expected e.g. postgresql://user:password@host:5432/dbname"
    if not dsn.strip():
        # An empty conninfo is libpq's defaults: the local server, not the pipeline's.
        raise UserError(f"--target is empty; {expected}")
    try:
        info = pg_conninfo.make_conninfo(dsn)
    except psycopg.ProgrammingError:
        raise UserError(f"--target is not a valid PostgreSQL URL or conninfo; {expected}") from None
    check_options(dict(pg_conninfo.conninfo_to_dict(info)), "--target")
    return Target(info, embedded=False, source="--target")


def diff_databases(
    settings: Settings,
    target_dsn: str,
    *,
    target_schema: str = "public",
    table_prefix: str = "",
    chunk: int = DEFAULT_CHUNK,
    sample_size: int = 10,
) -> VerifyReport:
    """Compare the source's seven tables with ``<schema>.<prefix><table>`` in the target."""
    if chunk < 1:
        raise UserError(f"chunk size {chunk} must be >= 1")
    source_target = prepare_target(settings)
    other = _target(target_dsn)
    with (
        _session(source_target, settings.connect_timeout) as src,
        _session(other, settings.connect_timeout) as dst,
    ):
        require_schema(missing_tables(src))
        reports = []
        for name in TABLE_SCHEMAS:
            dst_name = f"{table_prefix}{name}"
            _check_target_table(dst, target_schema, dst_name, name, source_columns(src, name))
            reports.append(
                diff_table(
                    name,
                    _Side(src, sql.Identifier("public", name), "source"),
                    _Side(dst, sql.Identifier(target_schema, dst_name), "target"),
                    chunk=chunk,
                    sample=sample_size,
                )
            )
            log.info("diff %s: %s", name, "identical" if reports[-1].identical else "differs")
    return VerifyReport(tables=reports)


def render_diff(report: VerifyReport) -> str:
    """A terminal table: source rows, target rows, matched, missing, extra, differing."""
    head = ("table", "source", "target", "matched", "missing", "extra", "differing")
    rows = [
        (t.table, t.expected_rows, t.replayed_rows, t.matched, t.missing, t.extra, t.differing)
        for t in report.tables
    ]
    total = ("total", *(sum(int(r[i]) for r in rows) for i in range(1, len(head))))
    cells = [tuple(str(c) for c in r) for r in (head, *rows, total)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(
            [r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))]
        )

    rule = "  ".join("-" * w for w in widths)
    out = [line(cells[0]), rule, *(line(r) for r in cells[1:-1]), rule, line(cells[-1])]
    details = []
    for t in report.tables:
        if t.missing_ids:
            details.append(
                f"{t.table}: {t.missing} missing in the target, id {_ids(t.missing_ids, t.missing)}"
            )
        if t.extra_ids:
            details.append(
                f"{t.table}: {t.extra} extra in the target, id {_ids(t.extra_ids, t.extra)}"
            )
        details += [
            f"{t.table} id {d.id}: {d.column} source {shown(d.expected)}, target {shown(d.got)}"
            for d in t.diffs
        ]
    out += ["", *details] if details else []
    out += ["", "IDENTICAL" if report.identical else "NOT IDENTICAL"]
    return "\n".join(out)


def _ids(ids: list[int], count: int) -> str:
    return ", ".join(map(str, ids)) + (" ..." if count > len(ids) else "")
