"""Debezium-shaped change events, ready for ``json.dumps``.

Values are encoded as Debezium's PostgreSQL connector does with its defaults
(``time.precision.mode=adaptive``, ``decimal.handling.mode=precise``): BIGINT as a JSON
number, VARCHAR as a string, DATE as epoch days (``io.debezium.time.Date``), TIMESTAMP(6)
as epoch microseconds (``io.debezium.time.MicroTimestamp``), NULL as null, and an
unchanged TOASTed value as the placeholder ``"__debezium_unavailable_value"``.

The envelope has what a Debezium consumer reads: ``ts_ms``/``ts_us``/``ts_ns`` (capture time,
and the commit time in ``source``), ``transaction`` (null unless transaction metadata is
on), a primary-key update as a ``d`` of the old key then a ``c`` of the new one, and
snapshot reads marked ``first``, ``first_in_data_collection``, ``true``,
``last_in_data_collection`` and ``last``.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final, Literal

from hospital_sim import __version__
from hospital_sim.cdc.capture.messages import TupleValue
from hospital_sim.cdc.capture.pgoutput import RowChange
from hospital_sim.cdc.schema_types import TYPE_BY_OID, PgType
from hospital_sim.cdc.values import (
    PG_EPOCH_OFFSET_US,
    UNAVAILABLE,
    UNAVAILABLE_PLACEHOLDER,
    date_to_epoch_days,
    datetime_to_epoch_micros,
    parse_pg_text,
)

__all__ = [
    "CONNECTOR",
    "SERVER_NAME",
    "change_event",
    "change_events",
    "encode_canonical",
    "encode_pg_value",
    "row_event",
    "snapshot_event",
    "source_version",
    "transaction_begin",
    "transaction_end",
]

CONNECTOR: Final = "postgresql"
SERVER_NAME: Final = "hospital_sim"
_PG_EPOCH_DAYS: Final = 10957  # 2000-01-01 in days since 1970-01-01

Op = Literal["r", "c", "u", "d", "t"]


def source_version() -> str:
    return f"hospital-sim {__version__}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def encode_pg_value(type_oid: int, value: TupleValue) -> object:
    """Encode one pgoutput column value of type ``type_oid`` as Debezium would.

    Text of a type we do not model, or that has no Debezium number (``infinity``), stays
    text. Binary values of unmodelled types become base64, as Debezium encodes bytes.
    """
    if value is None:
        return None
    if value is UNAVAILABLE:
        return UNAVAILABLE_PLACEHOLDER
    pg_type = TYPE_BY_OID.get(type_oid)
    if isinstance(value, bytes):
        return _encode_binary(pg_type, value)
    assert isinstance(value, str)
    if pg_type is None or pg_type is PgType.VARCHAR:
        return value
    try:
        return encode_canonical(parse_pg_text(pg_type, value))
    except ValueError:
        return value


def _encode_binary(pg_type: PgType | None, raw: bytes) -> object:
    # pgoutput's binary mode sends each type's send() form: big-endian integers, dates
    # as days and timestamps as microseconds since 2000-01-01.
    if pg_type is PgType.VARCHAR:
        return raw.decode("utf-8")
    if pg_type is PgType.BIGINT and len(raw) in (2, 4, 8):
        return int.from_bytes(raw, "big", signed=True)
    if pg_type is PgType.DATE and len(raw) == 4:
        return int(struct.unpack(">i", raw)[0]) + _PG_EPOCH_DAYS
    if pg_type is PgType.TIMESTAMP and len(raw) == 8:
        return int(struct.unpack(">q", raw)[0]) + PG_EPOCH_OFFSET_US
    return base64.b64encode(raw).decode("ascii")


def encode_canonical(value: object) -> object:
    """Encode a canonical Python value (as psycopg returns it) as Debezium would."""
    if isinstance(value, datetime):
        return datetime_to_epoch_micros(value)
    if isinstance(value, date):
        return date_to_epoch_days(value)
    if value is UNAVAILABLE:
        return UNAVAILABLE_PLACEHOLDER
    return value


def _source(
    *,
    db: str,
    table: str,
    schema: str,
    source_ts_ms: int | None,
    tx_id: int | None,
    lsn: int | None,
    snapshot: str,
    source_ts_us: int | None = None,
) -> dict[str, Any]:
    if source_ts_us is None and source_ts_ms is not None:
        source_ts_us = source_ts_ms * 1000
    return {
        "version": source_version(),
        "connector": CONNECTOR,
        "name": SERVER_NAME,
        "ts_ms": source_ts_ms,
        "snapshot": snapshot,
        "db": db,
        "ts_us": source_ts_us,
        "ts_ns": None if source_ts_us is None else source_ts_us * 1000,
        "schema": schema,
        "table": table,
        "txId": tx_id,
        "lsn": lsn,
    }


def _times(ts_ms: int | None) -> dict[str, Any]:
    ms = _now_ms() if ts_ms is None else ts_ms
    return {"ts_ms": ms, "ts_us": ms * 1000, "ts_ns": ms * 1_000_000}


def _commit(commit_lsn: int | None) -> dict[str, Any]:
    # Not a Debezium field: it tells the event-level proof which transactions committed
    # before another pipeline's snapshot, for a reference log.
    return {} if commit_lsn is None else {"commit_lsn": commit_lsn}


def change_event(change: RowChange, *, db: str, ts_ms: int | None = None) -> dict[str, Any]:
    """The Debezium change event for one decoded pgoutput row change.

    ``ts_ms`` is the capture time (defaults to now); ``source.ts_ms`` is the commit time.
    """
    oids = {c.name: c.type_oid for c in change.relation.columns}

    def encode(row: Mapping[str, TupleValue] | None) -> dict[str, object] | None:
        if row is None:
            return None
        return {name: encode_pg_value(oids[name], value) for name, value in row.items()}

    commit_us = None if change.commit_ts is None else change.commit_ts + PG_EPOCH_OFFSET_US
    after = change.after
    if after is not None and change.before is not None:
        # REPLICA IDENTITY FULL: the old row holds the value the new one left unchanged in
        # TOAST, and Debezium takes it from there instead of sending its placeholder.
        old = change.before
        after = {k: old.get(k, v) if v is UNAVAILABLE else v for k, v in after.items()}
    return {
        "before": encode(change.before),
        "after": encode(after),
        "source": _source(
            db=db,
            table=change.table,
            schema=change.schema,
            source_ts_ms=change.commit_ts_ms,
            tx_id=change.xid,
            lsn=change.lsn,
            snapshot="false",
            source_ts_us=commit_us,
        )
        | _commit(change.commit_lsn),
        "transaction": None,
        "op": change.op,
        **_times(ts_ms),
    }


def change_events(change: RowChange, *, db: str, ts_ms: int | None = None) -> list[dict[str, Any]]:
    """The events for one row change: a primary-key update becomes a ``d`` and a ``c``.

    Debezium does the same, so consumers keyed by the primary key see the old key deleted.
    pgoutput sends the old key of such an update under any replica identity.
    """
    event = change_event(change, db=db, ts_ms=ts_ms)
    before, after = event["before"], event["after"]
    if change.op != "u" or before is None or after is None or before.get("id") == after.get("id"):
        return [event]
    delete = event | {"after": None, "op": "d", "source": dict(event["source"])}
    create = event | {"before": None, "op": "c", "source": dict(event["source"])}
    return [delete, create]


def transaction_begin(tx_id: str, *, ts_ms: int) -> dict[str, Any]:
    """Debezium's BEGIN marker (``provide.transaction.metadata=true``)."""
    return {
        "status": "BEGIN",
        "id": tx_id,
        "event_count": None,
        "data_collections": None,
        **_times(ts_ms),
    }


def transaction_end(tx_id: str, counts: Mapping[str, int], *, ts_ms: int) -> dict[str, Any]:
    """Debezium's END marker: the transaction's change events, in all and per table."""
    return {
        "status": "END",
        "id": tx_id,
        "event_count": sum(counts.values()),
        "data_collections": [
            {"data_collection": name, "event_count": n} for name, n in counts.items()
        ],
        **_times(ts_ms),
    }


def row_event(
    table: str,
    op: Op,
    *,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
    db: str,
    lsn: int | None = None,
    tx_id: int | None = None,
    source_ts_ms: int | None = None,
    ts_ms: int | None = None,
    schema: str = "public",
    snapshot: str = "false",
) -> dict[str, Any]:
    """A Debezium change event from canonical rows (int, str, date, datetime, None)."""

    def encode(row: Mapping[str, object] | None) -> dict[str, object] | None:
        if row is None:
            return None
        return {name: encode_canonical(value) for name, value in row.items()}

    return {
        "before": encode(before),
        "after": encode(after),
        "source": _source(
            db=db,
            table=table,
            schema=schema,
            source_ts_ms=source_ts_ms,
            tx_id=tx_id,
            lsn=lsn,
            snapshot=snapshot,
        ),
        "transaction": None,
        "op": op,
        **_times(ts_ms),
    }


def snapshot_event(
    table: str,
    row: Mapping[str, object],
    *,
    db: str,
    lsn: int | None = None,
    tx_id: int | None = None,
    source_ts_ms: int | None = None,
    ts_ms: int | None = None,
    schema: str = "public",
) -> dict[str, Any]:
    """A snapshot read (op ``r``) of one existing row, as Debezium's initial snapshot emits."""
    return row_event(
        table,
        "r",
        before=None,
        after=row,
        db=db,
        lsn=lsn,
        tx_id=tx_id,
        source_ts_ms=source_ts_ms,
        ts_ms=ts_ms,
        schema=schema,
        snapshot="true",
    )
