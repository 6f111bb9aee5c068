"""``cdc verify``: a change log against the live source tables or a folder of CSV dumps.

The source is read only once it is quiescent (its tables and the change log unchanged
for ``wait_quiescent`` seconds), in one REPEATABLE READ transaction so the seven tables
are seen at one instant, with server-side cursors so rows stream instead of being loaded
at once. psycopg already returns the canonical values the verifier compares (int, str,
date, naive datetime, None).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from hospital_sim.cdc.schema_types import SCENARIO_TABLE_SCHEMAS
from hospital_sim.cdc.verify.compare import VerifyReport
from hospital_sim.cdc.verify.events import MAX_LINE_CHARS, ChangeLogError
from hospital_sim.cdc.verify.infinity import load_infinity
from hospital_sim.cdc.verify.proof import ProofReport, prove_events
from hospital_sim.cdc.verify.psql_csv import load_expected_csv_dir
from hospital_sim.cdc.verify.rows import verify_changelog
from hospital_sim.config import Settings
from hospital_sim.db.connect import Target, connect, connection
from hospital_sim.db.lifecycle import require_schema
from hospital_sim.db.schema import TABLES, missing_tables
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import UserError

__all__ = [
    "SourceStillChanging",
    "log_lines",
    "prove_log",
    "source_fingerprint",
    "verify_log",
]

log = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[object, ...]]

_POLL = 0.25
_FETCH = 5000


class SourceStillChanging(UserError):
    """The source or the log kept changing longer than we were willing to wait."""


def log_lines(path: str | Path) -> Iterator[str]:
    """The lines of a change log (``-`` is stdin); a line that is not UTF-8 is an error."""
    if str(path) == "-":
        yield from _bounded(sys.stdin)
        return
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise UserError(f"cannot read the change log {path}: {exc.strerror}") from None
    try:
        with fh:
            yield from _bounded(fh)
    except UnicodeDecodeError as exc:
        raise ChangeLogError(_bad_line(Path(path)), f"not UTF-8 text ({exc.reason})") from None


def _bounded(fh: TextIO) -> Iterator[str]:
    """The lines of ``fh``; a line longer than MAX_LINE_CHARS (no newline in sight) is an error."""
    for line_no, line in enumerate(iter(lambda: fh.readline(MAX_LINE_CHARS), ""), 1):
        if len(line) >= MAX_LINE_CHARS and not line.endswith("\n"):
            raise ChangeLogError(
                line_no,
                f"longer than {MAX_LINE_CHARS >> 20} MiB; lines over {MAX_LINE_CHARS >> 20} MiB "
                "are refused (a change event that large is not a row of this schema)",
            )
        yield line


def _bad_line(path: Path) -> int:
    """The number of the first line that is not valid UTF-8."""
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return line_no
    return 0


def source_fingerprint(conn: Conn) -> tuple[object, ...]:
    """Row count, highest id and latest ``updated_at`` of every table: changes when rows do.

    Ordered by table: a parallel plan returns the branches of a UNION ALL in any order.
    """
    parts = [
        sql.SQL("SELECT {}, count(*), max(id), max(updated_at) FROM {}").format(
            sql.Literal(t), sql.Identifier(t)
        )
        for t in TABLES
    ]
    query = sql.SQL("SELECT * FROM ({}) AS f ORDER BY 1").format(sql.SQL(" UNION ALL ").join(parts))
    return tuple(conn.execute(query).fetchall())


def _log_size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return -1


def wait_until_quiescent(
    conn: Conn, log_path: str | Path, seconds: float, *, limit: float | None = None
) -> None:
    """Block until the source tables and the log file stay unchanged for ``seconds``."""
    limit = limit if limit is not None else max(60.0, 10 * seconds)
    started = time.monotonic()
    state = (source_fingerprint(conn), _log_size(log_path))
    stable_since = started
    while time.monotonic() - stable_since < seconds:
        if time.monotonic() - started > limit:
            raise SourceStillChanging(
                f"the source tables or {log_path} kept changing for {limit:.0f} s; stop the "
                "stream and let the pipeline catch up, or pass --wait-quiescent 0 to compare now"
            )
        time.sleep(_POLL)
        now = (source_fingerprint(conn), _log_size(log_path))
        if now != state:
            state, stable_since = now, time.monotonic()


def _table_rows(conn: Conn, table: str) -> Iterator[dict[str, Any]]:
    query = sql.SQL("SELECT * FROM {} ORDER BY id").format(sql.Identifier(table))
    with conn.cursor(row_factory=dict_row, binary=True) as cur:
        try:
            # Chunked streaming (libpq 17+): a third faster than a server-side cursor.
            yield from cur.stream(query, size=_FETCH)
            return
        except psycopg.NotSupportedError:
            pass
    with conn.cursor(name=f"hsim_verify_{table}", row_factory=dict_row) as named:
        named.itersize = _FETCH
        named.execute(query)
        yield from named


def _source_tables(conn: Conn) -> dict[str, Iterable[dict[str, Any]]]:
    # Generators: each table is read while compare() walks it, after the replay.
    tables: dict[str, Iterable[dict[str, Any]]] = {t: _table_rows(conn, t) for t in TABLES}
    for name in _scenario_tables(conn):
        tables[name] = _table_rows(conn, name)
    return tables


def _scenario_tables(conn: Conn) -> list[str]:
    """The scenarios' own tables (nightly-cleanup's queue) that the source has."""
    return [
        name
        for name in SCENARIO_TABLE_SCHEMAS
        if conn.execute("SELECT to_regclass(%s)", (f"public.{name}",)).fetchone() != (None,)
    ]


def _open_source(settings: Settings) -> tuple[Target, Conn]:
    target = prepare_target(settings)
    conn = connect(target, deadline=settings.connect_timeout, autocommit=False)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    load_infinity(conn)
    return target, conn


def verify_log(
    settings: Settings,
    log_path: str | Path,
    *,
    expected_dir: str | Path | None = None,
    baseline_dir: str | Path | None = None,
    wait_quiescent: float = 2.0,
    sample_size: int = 10,
    allow_redelivery: bool = False,
) -> VerifyReport:
    """Replay the change log and compare it with the expected CSVs or the live source.

    Raises :class:`ChangeLogError` (a UserError naming the line) for an unusable line.
    """
    report = _verify_log(
        settings, log_path, expected_dir=expected_dir, baseline_dir=baseline_dir,
        wait_quiescent=wait_quiescent, sample_size=sample_size,
    )  # fmt: skip
    report.allow_redelivery = allow_redelivery
    return report


def prove_log(
    log_path: str | Path,
    reference_path: str | Path,
    *,
    allow_redelivery: bool = False,
    sample_size: int = 10,
) -> ProofReport:
    """The event-level proof of ``log_path`` against the reference change log."""
    _require_file(log_path, "change log")
    if str(reference_path) == "-":
        raise UserError("--reference -: the reference must be a file (it is read twice)")
    _require_file(reference_path, "reference change log")
    return prove_events(
        log_lines(log_path),
        log_lines(reference_path),
        reference_path=reference_path,
        log_path=log_path,
        allow_redelivery=allow_redelivery,
        sample_size=sample_size,
    )


def _require_file(path: str | Path, what: str) -> None:
    if str(path) != "-" and not Path(path).is_file():
        raise UserError(f"{what} {path} does not exist or is not a file")


def _verify_log(
    settings: Settings,
    log_path: str | Path,
    *,
    expected_dir: str | Path | None,
    baseline_dir: str | Path | None,
    wait_quiescent: float,
    sample_size: int,
) -> VerifyReport:
    _require_file(log_path, "change log")
    baseline = load_expected_csv_dir(baseline_dir) if baseline_dir else None
    if expected_dir is not None:
        expected = load_expected_csv_dir(expected_dir)
        return verify_changelog(
            log_lines(log_path), expected, baseline, sample_size=sample_size,
            optional=SCENARIO_TABLE_SCHEMAS,
        )  # fmt: skip
    target, conn = _open_source(settings)
    try:
        if wait_quiescent > 0:
            conn.autocommit = True
            require_schema(missing_tables(conn))
            wait_until_quiescent(conn, log_path, wait_quiescent)
            conn.autocommit = False
        else:
            with connection(target, deadline=settings.connect_timeout) as check:
                require_schema(missing_tables(check))
        report = verify_changelog(
            log_lines(log_path), _source_tables(conn), baseline, sample_size=sample_size,
            optional=SCENARIO_TABLE_SCHEMAS,
        )  # fmt: skip
        conn.rollback()
        return report
    finally:
        conn.close()
