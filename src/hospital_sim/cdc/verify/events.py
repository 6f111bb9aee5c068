"""Parse a change log (one Debezium change event per line) into normalised events.

Each line may be, auto-detected per line:

- the fixture/export wrapper ``{"topic": "dbz.public.<t>", "key": ..., "value": ...}``;
- a bare Debezium value envelope ``{"before", "after", "source", "op", "ts_ms"}``, which
  is also what ``hospital-sim`` capture writes;
- either of those from JsonConverter with schemas enabled, ``{"schema": ..., "payload": ...}``;
- kafka-console-consumer output, ``value`` or ``key<TAB>value`` with ``print.key=true``
  (other printed fields, such as the timestamp or partition, come before the value).

Column values become canonical Python values (int, str, date, naive UTC datetime, None)
whatever the connector's ``time.precision.mode`` or converter: epoch days or ISO dates;
epoch milli/micro/nano timestamps (told apart by the schema's name when schemas are
enabled, otherwise by magnitude) or ISO timestamps; decimals as strings or base64 bytes.
Debezium's ``__debezium_unavailable_value`` placeholder becomes :data:`UNAVAILABLE`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any, Final

import orjson

from hospital_sim.cdc.lsn import parse_lsn
from hospital_sim.cdc.schema_types import (
    KNOWN_TABLE_SCHEMAS,
    PRIMARY_KEY,
    SCENARIO_TABLE_SCHEMAS,
    TABLE_NAMES,
    PgType,
)
from hospital_sim.cdc.values import EPOCH, UNAVAILABLE, UNAVAILABLE_PLACEHOLDER, epoch_days_to_date
from hospital_sim.errors import UserError

__all__ = [
    "MAX_LINE_CHARS",
    "OPS",
    "ChangeEvent",
    "ChangeLogError",
    "ChangeLogParser",
    "ParseStats",
    "TransactionEnd",
    "parse_changelog",
    "parse_line",
]

OPS: Final = frozenset("rcudt")
_HEARTBEAT_KEYS: Final = frozenset(("ts_ms", "ts_us", "ts_ns"))
_CONSUMER_TRAILER: Final = "Processed a total of "


def _clipped(value: Any) -> str:
    """``repr(value)``, cut so that an error about a huge value stays one short line."""
    if isinstance(value, str) and len(value) > 200:
        return f"{value[:200]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"


class ChangeLogError(UserError):
    """A change log line that cannot be used; the message names the line and why."""

    def __init__(self, line_no: int, reason: str) -> None:
        super().__init__(f"change log line {line_no}: {reason}")
        self.line_no = line_no
        self.reason = reason


@dataclass(slots=True)
class ChangeEvent:
    """One row change, normalised. ``key`` is the row's ``id`` (None for a truncate).

    Not frozen only because frozen dataclasses are several times slower to build;
    treat it as read-only.
    """

    table: str
    op: str
    key: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    lsn: int | None
    tx_id: int | None
    source_ts_ms: int | None
    ts_ms: int | None
    line_no: int
    placeholders: int = 0
    """How many column values of ``after`` were Debezium's unavailable placeholder."""
    last_commit_lsn: int | None = None
    """First half of Debezium's ``source.sequence`` order key, when the event has one."""
    commit_lsn: int | None = None
    """LSN of the transaction's commit record (``source.commit_lsn``, written by
    hospital-sim's capture; Debezium's events do not carry it)."""
    txn: str | None = None
    """``transaction.id`` when the log carries transaction metadata."""
    decoded: bool = True
    """False when ``before``/``after`` hold the values as the JSON has them
    (:meth:`ChangeLogParser.parse_line_raw`)."""


@dataclass(slots=True)
class TransactionEnd:
    """A transaction's END marker: how many change events it had, per table."""

    id: str
    """As the log writes it (Debezium: ``txid:lsn``)."""
    event_count: int
    tables: dict[str, int]
    line_no: int
    key: str = ""
    """The transaction's txid: what its change events' ``transaction.id`` is matched by."""


@dataclass(slots=True)
class ParseStats:
    """What the parser saw besides the events it returned."""

    lines: int = 0
    events: int = 0
    tombstones: int = 0
    placeholders: int = 0
    skipped: int = 0
    """Heartbeats, transaction markers, logical-message events, console-consumer trailers."""
    transaction_ends: list[TransactionEnd] = field(default_factory=list)
    """END markers of transaction metadata (``provide.transaction.metadata=true``)."""


class _BadValue(Exception):
    pass


Decode = Callable[[Any], Any]

# --- per-type decoders (no schema) -------------------------------------------------

_DAYS_MIN: Final = -719_162  # 0001-01-01
_DAYS_MAX: Final = 2_932_896  # 9999-12-31
_MICRO_FROM: Final = 10**14  # |v| at or above: microseconds (after 1973-03 or before 1966-10)
_NANO_FROM: Final = 10**17  # |v| at or above: nanoseconds


def _bigint(v: Any) -> Any:
    if type(v) is int or v is None:
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        if v == UNAVAILABLE_PLACEHOLDER:
            return UNAVAILABLE
        try:
            return int(v)
        except ValueError:
            pass
    raise _BadValue("expected an integer")


def _varchar(v: Any) -> Any:
    if type(v) is str:
        return UNAVAILABLE if v == UNAVAILABLE_PLACEHOLDER else v
    if v is None:
        return None
    raise _BadValue("expected a string")


def _iso_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _BadValue("expected an ISO-8601 timestamp") from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


# Debezium's epoch days for DATE 'infinity' and '-infinity': PostgreSQL's internal
# day numbers for them (INT32 max and min, counted from 2000-01-01) moved to 1970 in 32-bit
# arithmetic, so they wrap. Seen with Debezium 3.6.3 (tests/fixtures/debezium/README.md).
_DBZ_DAYS_INFINITE: Final = {-2_147_472_692: date.max, -2_147_472_691: date.min}
# Debezium's TIMESTAMP 'infinity' and '-infinity': pgjdbc's PGStatement.DATE_POSITIVE_INFINITY
# and DATE_NEGATIVE_INFINITY (milliseconds), written as they are whatever the unit.
_DBZ_EPOCH_INFINITE: Final = {
    9_223_372_036_825_200_000: datetime.max,
    -9_223_372_036_832_400_000: datetime.min,
}


def _date(v: Any) -> Any:
    if type(v) is int:
        infinite = _DBZ_DAYS_INFINITE.get(v)
        if infinite is not None:
            return infinite
        try:
            return _days(v)
        except (ValueError, OverflowError):
            raise _BadValue("epoch days out of range") from None
    if v is None:
        return None
    if isinstance(v, str):
        if v == UNAVAILABLE_PLACEHOLDER:
            return UNAVAILABLE
        if v in _INFINITE:
            return date.max if _INFINITE[v] is datetime.max else date.min
        text = v[:-1] if v.endswith("Z") else v
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
        return _iso_datetime(v).date()
    raise _BadValue("expected epoch days or an ISO-8601 date")


# Multiplying a timedelta is several times faster than building one from an int.
_ONE_US: Final = timedelta(microseconds=1)
_ONE_MS: Final = timedelta(milliseconds=1)


# Converted values are memoised: commit-time columns (created_at, updated_at) repeat
# across a transaction's rows and within a row, and dates repeat across rows. A plain
# dict, emptied when it grows large, is cheaper than functools.lru_cache here.
_CACHE_LIMIT: Final = 1 << 17
_MICROS_CACHE: dict[int, datetime] = {}
_DAYS_CACHE: dict[int, date] = {}


def _micros(v: int) -> datetime:
    value = _MICROS_CACHE.get(v)
    if value is None:
        if len(_MICROS_CACHE) >= _CACHE_LIMIT:
            _MICROS_CACHE.clear()
        value = _MICROS_CACHE[v] = EPOCH + _ONE_US * v
    return value


def _days(v: int) -> date:
    value = _DAYS_CACHE.get(v)
    if value is None:
        if len(_DAYS_CACHE) >= _CACHE_LIMIT:
            _DAYS_CACHE.clear()
        value = _DAYS_CACHE[v] = epoch_days_to_date(v)
    return value


def _millis(v: int) -> datetime:
    return EPOCH + _ONE_MS * v


def _nanos(v: int) -> datetime:
    return EPOCH + _ONE_US * (v // 1000)


# 1990-01-01 .. 2100-01-01 in each unit. The three ranges do not overlap, so a value in
# one of them (created_at and updated_at are always recent) tells the log's unit.
_RECENT_FROM, _RECENT_TO = 631_152_000, 4_102_444_800  # seconds
_UNIT_WINDOWS: Final = tuple(
    (convert, _RECENT_FROM * scale, _RECENT_TO * scale)
    for convert, scale in ((_millis, 1000), (_micros, 10**6), (_nanos, 10**9))
)


def _unit_of(v: int) -> Callable[[int], datetime] | None:
    """The epoch unit a timestamp near the present must be in (None when not near it)."""
    for convert, lo, hi in _UNIT_WINDOWS:
        if lo <= v < hi:
            return convert
    return None


_INFINITE: Final = {
    "infinity": datetime.max,
    "+infinity": datetime.max,
    "-infinity": datetime.min,
}


def _timestamp(v: Any) -> Any:
    if type(v) is int:
        if v in _DBZ_EPOCH_INFINITE:
            return _DBZ_EPOCH_INFINITE[v]
        try:
            if _MICRO_FROM <= v < _NANO_FROM:
                return _micros(v)
            magnitude = -v if v < 0 else v
            if magnitude >= _NANO_FROM:
                return _nanos(v)
            if magnitude >= _MICRO_FROM:
                return _micros(v)
            return _millis(v)
        except OverflowError:
            raise _BadValue("epoch timestamp out of range") from None
    if v is None:
        return None
    if isinstance(v, str):
        if v == UNAVAILABLE_PLACEHOLDER:
            return UNAVAILABLE
        infinite = _INFINITE.get(v)
        return _iso_datetime(v) if infinite is None else infinite
    raise _BadValue("expected an epoch timestamp or an ISO-8601 timestamp")


def _timestamp_unit(convert: Callable[[int], datetime]) -> Decode:
    def decode(v: Any) -> Any:
        if type(v) is int:
            try:
                return convert(v)
            except OverflowError:
                raise _BadValue("epoch timestamp out of range") from None
        return _timestamp(v)

    return decode


_TYPE_DECODERS: Final[Mapping[PgType, Decode]] = {
    PgType.BIGINT: _bigint,
    PgType.VARCHAR: _varchar,
    PgType.DATE: _date,
    PgType.TIMESTAMP: _timestamp,
}

# Precomputed once: table -> column -> decoder.
_TABLE_DECODERS: Final[Mapping[str, Mapping[str, Decode]]] = {
    name: {c.name: _TYPE_DECODERS[c.type] for c in schema.columns}
    for name, schema in KNOWN_TABLE_SCHEMAS.items()
}

# --- decoders chosen by a Kafka Connect schema (JsonConverter, schemas enabled) -----------


# Decimal arithmetic without rounding: NUMERIC has up to 131072 digits before the point.
_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _decimal_bytes(scale: int) -> Decode:
    def decode(v: Any) -> Any:
        if v is None or isinstance(v, Decimal):
            return v
        if isinstance(v, str):
            if v == UNAVAILABLE_PLACEHOLDER:
                return UNAVAILABLE
            try:
                raw = base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                raise _BadValue("expected base64 decimal bytes") from None
            # Exact: the default context would round to 28 digits.
            return Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale, _EXACT)
        if isinstance(v, int | float):
            return Decimal(str(v))
        raise _BadValue("expected a decimal")

    return decode


def _variable_scale_decimal(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, dict) and "value" in v:
        scale = v.get("scale", 0)
        if type(scale) is not int:
            raise _BadValue("VariableScaleDecimal without an integer scale")
        return _decimal_bytes(scale)(v["value"])
    raise _BadValue("expected a VariableScaleDecimal struct {scale, value}")


def _bytes(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        if v == UNAVAILABLE_PLACEHOLDER:
            return UNAVAILABLE
        try:
            return base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise _BadValue("expected base64 bytes") from None
    raise _BadValue("expected base64 bytes")


_SCHEMA_NAME_DECODERS: Final[Mapping[str, Decode]] = {
    "io.debezium.time.Date": _date,
    "org.apache.kafka.connect.data.Date": _date,
    "io.debezium.time.Timestamp": _timestamp_unit(_millis),
    "org.apache.kafka.connect.data.Timestamp": _timestamp_unit(_millis),
    "io.debezium.time.MicroTimestamp": _timestamp_unit(_micros),
    "io.debezium.time.NanoTimestamp": _timestamp_unit(_nanos),
    "io.debezium.time.ZonedTimestamp": _timestamp,
    "io.debezium.time.IsoTimestamp": _timestamp,
    "io.debezium.time.IsoDate": _date,
    "io.debezium.data.VariableScaleDecimal": _variable_scale_decimal,
}


def _identity(v: Any) -> Any:
    return v


def _schema_decoder(field: Mapping[str, Any], fallback: Decode | None) -> Decode:
    name = field.get("name")
    if name == "org.apache.kafka.connect.data.Decimal":
        scale = (field.get("parameters") or {}).get("scale")
        try:
            return _decimal_bytes(int(scale) if scale is not None else 0)
        except (TypeError, ValueError):
            return _decimal_bytes(0)
    if isinstance(name, str) and name in _SCHEMA_NAME_DECODERS:
        return _SCHEMA_NAME_DECODERS[name]
    if fallback is not None:
        return fallback
    if field.get("type") == "bytes":
        return _bytes
    return _identity


def _row_fields(schema: Any) -> tuple[tuple[Any, ...], ...] | None:
    """(field, name, type, scale) of each column in an Envelope schema's row structs."""
    if not isinstance(schema, dict):
        return None
    columns: dict[str, tuple[Any, ...]] = {}
    for part in schema.get("fields") or ():
        if isinstance(part, dict) and part.get("field") in ("before", "after"):
            for f in part.get("fields") or ():
                if isinstance(f, dict) and isinstance(f.get("field"), str):
                    name, kind = f.get("name"), f.get("type")
                    scale = (f.get("parameters") or {}).get("scale")
                    columns[f["field"]] = (
                        f["field"],
                        name if isinstance(name, str) else None,
                        kind if isinstance(kind, str) else None,
                        scale if isinstance(scale, str | int) else None,
                    )
    return tuple(columns.values())


# --- the parser ----------------------------------------------------------------------


def _key_id(key: Any) -> int | None:
    if isinstance(key, dict):
        if "payload" in key and "schema" in key:
            return _key_id(key["payload"])
        return _key_id(key.get(PRIMARY_KEY))
    if type(key) is int:
        return key
    return None


def _is_wrapper(obj: dict[str, Any]) -> bool:
    return "value" in obj and ("topic" in obj or "key" in obj) and "op" not in obj


def _last_commit_lsn(sequence: Any) -> int | None:
    """The last commit LSN in Debezium's ``source.sequence``, ``'["31865752","31865808"]'``.

    None when absent, ``null`` or not in that form: the sequence is optional metadata.
    """
    if type(sequence) is not str or not sequence.startswith('["'):
        return None  # also '[null,"..."]', as on snapshot reads
    first = sequence[2 : sequence.find('"', 2)]
    return int(first) if first.isdigit() else None


def _optional_int(value: Any, what: str) -> int | None:
    if value is None or type(value) is int:
        return value
    raise _BadValue(f"{what} {_clipped(value)} is not an integer")


MAX_LINE_CHARS: Final = 64 << 20
"""The longest line accepted: parsing holds a line in memory several times over."""


class ChangeLogParser:
    """Turns change-log lines into :class:`ChangeEvent` objects, counting what it skips."""

    def __init__(self, *, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self.max_line_chars = max_line_chars
        self.stats = ParseStats()
        self._schema_decoders: dict[tuple[str, Any], Mapping[str, Decode]] = {}
        self._epoch: Callable[[int], datetime] | None = None
        """The log's unit for epoch timestamps without a schema, once a value tells it."""

    def parse(self, lines: Iterable[str], *, first_line_no: int = 1) -> Iterator[ChangeEvent]:
        """Yield the events of ``lines``; raise ChangeLogError at the first unusable line."""
        parse_line = self.parse_line
        for line_no, line in enumerate(lines, first_line_no):
            event = parse_line(line, line_no)
            if event is not None:
                yield event

    def parse_line(self, line: str, line_no: int) -> ChangeEvent | None:
        """The event on ``line``, or None for a tombstone, blank or non-change line."""
        self.stats.lines += 1
        if len(line) > self.max_line_chars:
            raise ChangeLogError(
                line_no,
                f"{len(line):,} characters long; lines over {self.max_line_chars >> 20} MiB are "
                "refused (a change event that large is not a row of this schema)",
            )
        try:
            obj: Any = orjson.loads(line)  # the hot path: about half of verify's time
            key: Any = None
        except ValueError as exc:
            if not line or line.isspace():
                return None
            obj, key = self._console_line(line, line_no, exc)
            if obj is _SKIP:
                self.stats.skipped += 1
                return None
        topic = None
        if type(obj) is dict and _is_wrapper(obj):
            topic, key, obj = obj.get("topic"), obj.get("key"), obj["value"]
            if isinstance(obj, str):
                obj = self._loads(obj, line_no)
        schema = None
        if type(obj) is dict and "payload" in obj and "schema" in obj:
            schema, obj = obj["schema"], obj["payload"]
        if obj is None:
            self.stats.tombstones += 1
            return None
        if type(obj) is not dict:
            raise ChangeLogError(
                line_no, f"expected a JSON object (a change event), got {type(obj).__name__}"
            )
        try:
            # A substring test is cheaper than looking at every decoded value.
            maybe_placeholders = UNAVAILABLE_PLACEHOLDER in line
            return self._event(obj, schema, key, topic, line_no, maybe_placeholders)
        except _BadValue as exc:
            raise ChangeLogError(line_no, str(exc)) from None

    def parse_line_raw(self, line: str, line_no: int) -> ChangeEvent | None:
        """Like :meth:`parse_line`, but an ordinary change event keeps its row values as
        the JSON has them (``decoded`` False): several times cheaper, for comparing two logs
        that encode values alike. Any other line is parsed in full."""
        if len(line) > self.max_line_chars:
            return self.parse_line(line, line_no)
        try:
            obj: Any = orjson.loads(line)
        except ValueError:
            return self.parse_line(line, line_no)
        topic = None
        if type(obj) is dict and "op" not in obj and "value" in obj:
            topic, obj = obj.get("topic"), obj["value"]
        if type(obj) is dict and "payload" in obj and "schema" in obj:
            obj = obj["payload"]
        if type(obj) is not dict:
            return self.parse_line(line, line_no)
        op, source = obj.get("op"), obj.get("source")
        before, after = obj.get("before"), obj.get("after")
        if (
            type(op) is not str
            or op not in OPS
            or type(source) is not dict
            or not (before is None or type(before) is dict)
            or not (after is None or type(after) is dict)
        ):
            return self.parse_line(line, line_no)
        table = source.get("table") or (topic.rsplit(".", 1)[-1] if type(topic) is str else None)
        lsn, tx_id, commit_lsn = source.get("lsn"), source.get("txId"), source.get("commit_lsn")
        image = after if after is not None else before
        key = None if image is None else image.get(PRIMARY_KEY)
        if (
            type(table) is not str
            or type(lsn) is not int
            or type(tx_id) is not int
            or (op != "t" and type(key) is not int)
            or (op in "rcu" and after is None)
        ):
            return self.parse_line(line, line_no)
        self.stats.lines += 1
        self.stats.events += 1
        return ChangeEvent(
            table, op, key, before, after, lsn, tx_id, None, None, line_no,
            commit_lsn=commit_lsn if type(commit_lsn) is int else None, decoded=False,
        )  # fmt: skip

    def _loads(self, text: str, line_no: int) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ChangeLogError(
                line_no, f"not JSON ({exc}); expected one Debezium change event per line"
            ) from None

    def _console_line(self, line: str, line_no: int, exc: ValueError) -> tuple[Any, Any]:
        """Value and key of a line that is not one JSON document."""
        text = line.strip()
        if text.startswith(_CONSUMER_TRAILER):
            return _SKIP, None
        if text.startswith("\ufeff"):  # a byte-order mark left by an editor or export tool
            text = text[1:]
            try:
                return json.loads(text), None
            except ValueError as retry:
                exc = retry
        if "\t" not in text:
            raise ChangeLogError(
                line_no, f"not JSON ({exc}); expected one Debezium change event per line"
            )
        # kafka-console-consumer prints timestamp/partition/offset/headers/key before
        # the value, separated by tabs; JSON escapes tabs inside strings, so the value
        # is the last field and the key, when printed, the one before it.
        parts = text.split("\t")
        value = self._loads(parts[-1], line_no)
        key = None
        if len(parts) >= 2:
            try:
                key = json.loads(parts[-2])
            except ValueError:
                key = None
        return value, key

    def _event(
        self,
        obj: dict[str, Any],
        schema: Any,
        key: Any,
        topic: Any,
        line_no: int,
        maybe_placeholders: bool,
    ) -> ChangeEvent | None:
        op = obj.get("op")
        if op is None:
            if "status" in obj and "id" in obj:
                self.stats.skipped += 1
                if obj["status"] == "END":
                    self._transaction_end(obj, line_no)
                return None
            if obj and set(obj) <= _HEARTBEAT_KEYS:
                self.stats.skipped += 1  # a heartbeat
                return None
            raise ChangeLogError(line_no, "no 'op' field; not a Debezium change event")
        if op == "m":
            self.stats.skipped += 1
            return None
        if type(op) is not str or op not in OPS:
            raise ChangeLogError(line_no, f"unknown op {op!r}; expected one of r, c, u, d, t")
        source = obj.get("source")
        if not isinstance(source, dict):
            source = {}
        table = source.get("table")
        if not table and isinstance(topic, str):
            table = topic.rsplit(".", 1)[-1]
        if not isinstance(table, str) or not table:
            raise ChangeLogError(line_no, "no table name (source.table) in the event")
        decoders = self._decoders(table, schema, line_no)
        before = self._row(obj.get("before"), decoders, table, "before", line_no)
        after = self._row(obj.get("after"), decoders, table, "after", line_no)
        row_key: int | None = None
        if op != "t":
            image = after if after is not None else before
            if op in "rcu" and after is None:
                raise ChangeLogError(line_no, f"op {op!r} event without an 'after' row")
            row_key = image.get(PRIMARY_KEY) if image is not None else None
            if row_key is None:
                row_key = _key_id(key)
            if type(row_key) is not int:
                raise ChangeLogError(line_no, f"{table} event without an integer 'id'")
        placeholders = 0
        if maybe_placeholders and after is not None:
            placeholders = sum(1 for v in after.values() if v is UNAVAILABLE)
            self.stats.placeholders += placeholders
        lsn, tx_id = source.get("lsn"), source.get("txId")
        source_ts_ms, ts_ms = source.get("ts_ms"), obj.get("ts_ms")
        if not (
            type(lsn) is int
            and type(tx_id) is int
            and type(source_ts_ms) is int
            and type(ts_ms) is int
        ):
            if isinstance(lsn, str):
                lsn = self._lsn(lsn, line_no)
            lsn = _optional_int(lsn, "source.lsn")
            tx_id = _optional_int(tx_id, "source.txId")
            source_ts_ms = _optional_int(source_ts_ms, "source.ts_ms")
            ts_ms = _optional_int(ts_ms, "ts_ms")
        sequence = source.get("sequence")
        commit_lsn = source.get("commit_lsn")
        transaction = obj.get("transaction")
        txn = transaction.get("id") if type(transaction) is dict else None
        if txn is not None:
            txn = _transaction_key(txn)
        self.stats.events += 1
        return ChangeEvent(
            table, op, row_key, before, after, lsn, tx_id, source_ts_ms, ts_ms, line_no,
            placeholders, None if sequence is None else _last_commit_lsn(sequence),
            commit_lsn if type(commit_lsn) is int else None,
            None if txn is None else str(txn),
        )  # fmt: skip

    def _transaction_end(self, obj: dict[str, Any], line_no: int) -> None:
        count = obj.get("event_count")
        if type(count) is not int:
            raise ChangeLogError(line_no, "transaction END marker without an integer event_count")
        tables: dict[str, int] = {}
        messages = 0
        for part in obj.get("data_collections") or ():
            if isinstance(part, dict) and type(part.get("event_count")) is int:
                collection = str(part.get("data_collection", ""))
                if collection.startswith(_DEBEZIUM_INTERNAL):
                    # A logical decoding message (pg_logical_emit_message): an 'm' event,
                    # not a row change; verify skips those.
                    messages += part["event_count"]
                    continue
                tables[collection.rsplit(".", 1)[-1]] = part["event_count"]
        if messages and not tables:
            return
        shown = str(obj["id"])
        self.stats.transaction_ends.append(
            TransactionEnd(shown, count - messages, tables, line_no, _transaction_key(shown))
        )

    @staticmethod
    def _lsn(text: str, line_no: int) -> int:
        if text.isdigit():
            return int(text)
        try:
            return parse_lsn(text)
        except ValueError as exc:
            raise ChangeLogError(line_no, f"source.lsn: {exc}") from None

    def _decoders(self, table: str, schema: Any, line_no: int) -> Mapping[str, Decode]:
        decoders = _TABLE_DECODERS.get(table)
        if decoders is None:
            raise ChangeLogError(
                line_no,
                f"table {table!r} is not one of the hospital tables ({', '.join(TABLE_NAMES)}) "
                f"nor a scenario's ({', '.join(SCENARIO_TABLE_SCHEMAS)})",
            )
        if schema is None:
            return decoders
        fields = _row_fields(schema)
        if not fields:
            return decoders
        cache_key = (table, fields)
        cached = self._schema_decoders.get(cache_key)
        if cached is None:
            cached = {
                name: _schema_decoder(
                    {"name": fname, "type": ftype, "parameters": {"scale": scale}},
                    decoders.get(name),
                )
                for name, fname, ftype, scale in fields
            }
            self._schema_decoders[cache_key] = cached
        return cached

    def _lock_epoch_unit(self, row: dict[str, Any], decoders: Mapping[str, Decode]) -> None:
        for column, value in row.items():
            if type(value) is int and decoders.get(column) is _timestamp:
                unit = _unit_of(value)
                if unit is not None:
                    self._epoch = unit
                    return

    def _row(
        self, row: Any, decoders: Mapping[str, Decode], table: str, which: str, line_no: int
    ) -> dict[str, Any] | None:
        """Decode ``row`` in place: the dict is fresh from json.loads and ours to change."""
        if row is None:
            return None
        if type(row) is not dict:
            raise ChangeLogError(line_no, f"'{which}' is not a JSON object")
        if self._epoch is None:
            # Epoch timestamps without a schema: the unit is the connector's setting, the
            # same for the whole log, so it is learnt once from a recent value rather than
            # guessed from each value's magnitude (wrong for 1966-1973 and after 5138).
            self._lock_epoch_unit(row, decoders)
        epoch = self._epoch
        get, micros_get, days_get = decoders.get, _MICROS_CACHE.get, _DAYS_CACHE.get
        for column, value in row.items():
            decode = get(column)
            # Strings and integers that need no conversion are left as they are (hot path).
            if decode is None:  # a column the hospital schema lacks (added by the user)
                if value == UNAVAILABLE_PLACEHOLDER:
                    row[column] = UNAVAILABLE
                elif type(value) is dict and value.keys() == _VARIABLE_SCALE_KEYS:
                    # A NUMERIC without precision under Debezium's default
                    # decimal.handling.mode=precise: {"scale": s, "value": base64 bytes}.
                    try:
                        row[column] = _variable_scale_decimal(value)
                    except _BadValue as exc:
                        raise ChangeLogError(
                            line_no, f"{table}.{column} in '{which}': {_clipped(value)} - {exc}"
                        ) from None
                continue
            if (
                value is None
                or (decode is _varchar and type(value) is str and value != UNAVAILABLE_PLACEHOLDER)
                or (decode is _bigint and type(value) is int)
            ):
                continue
            if type(value) is int:
                if decode is _timestamp and value in _DBZ_EPOCH_INFINITE:
                    row[column] = _DBZ_EPOCH_INFINITE[value]
                    continue
                if decode is _timestamp and epoch is not None:
                    if epoch is _micros:  # Debezium's default, inlined
                        moment = micros_get(value)
                        if moment is not None:
                            row[column] = moment
                            continue
                    try:
                        row[column] = epoch(value)
                    except OverflowError:
                        raise ChangeLogError(
                            line_no,
                            f"{table}.{column} in '{which}': {_clipped(value)} - epoch timestamp "
                            "out of range",
                        ) from None
                    continue
                # Debezium's default encodings, inlined: epoch microseconds and days.
                if decode is _timestamp and _MICRO_FROM <= value < _NANO_FROM:
                    moment = micros_get(value)
                    row[column] = _micros(value) if moment is None else moment
                    continue
                if decode is _date and _DAYS_MIN <= value <= _DAYS_MAX:
                    day = days_get(value)
                    row[column] = _days(value) if day is None else day
                    continue
            try:
                # Replacing the value of an existing key is safe while iterating.
                row[column] = decode(value)
            except _BadValue as exc:
                raise ChangeLogError(
                    line_no, f"{table}.{column} in '{which}': {_clipped(value)} - {exc}"
                ) from None
        return row


_SKIP: Final = object()
_VARIABLE_SCALE_KEYS: Final = frozenset({"scale", "value"})
_DEBEZIUM_INTERNAL: Final = "io.debezium."


def _transaction_key(value: Any) -> str:
    """A transaction's id without Debezium's LSN suffix.

    Debezium's PostgreSQL connector writes ``txid:lsn``, and the LSN is not the same in a
    transaction's BEGIN, its events and its END (seen with Debezium 3.6.3): the txid alone
    names the transaction.
    """
    text = str(value)
    head, sep, tail = text.partition(":")
    return head if sep and head.isdigit() and tail.isdigit() else text


def parse_changelog(lines: Iterable[str], stats: ParseStats | None = None) -> Iterator[ChangeEvent]:
    """Yield the events of a change log; pass ``stats`` to learn tombstones and skips."""
    parser = ChangeLogParser()
    if stats is not None:
        parser.stats = stats
    yield from parser.parse(lines)


def parse_line(line: str, line_no: int = 1) -> ChangeEvent | None:
    """Parse one line on its own (no schema cache shared with other lines)."""
    return ChangeLogParser().parse_line(line, line_no)
