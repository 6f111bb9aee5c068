"""Column value decoders for the change-log parser: whatever a connector sends, canonical values.

Epoch days or ISO dates; epoch milli/micro/nano timestamps (told apart by the schema's name
when schemas are enabled, otherwise by magnitude) or ISO timestamps; decimals as strings or
base64 bytes; infinity sentinels. ``events`` holds the envelope parser that applies them, and
reads the caches and bounds below directly on its hot path.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any, Final

from hospital_sim.cdc.schema_types import KNOWN_TABLE_SCHEMAS, PgType
from hospital_sim.cdc.values import EPOCH, UNAVAILABLE, UNAVAILABLE_PLACEHOLDER, epoch_days_to_date

__all__ = [
    "DAYS_CACHE",
    "DAYS_MAX",
    "DAYS_MIN",
    "DBZ_EPOCH_INFINITE",
    "MICROS_CACHE",
    "MICRO_FROM",
    "NANO_FROM",
    "TABLE_DECODERS",
    "BadValue",
    "Decode",
    "days_to_date",
    "decode_bigint",
    "decode_date",
    "decode_timestamp",
    "decode_varchar",
    "decode_variable_scale_decimal",
    "micros_to_datetime",
    "schema_decoder",
    "unit_of",
]


class BadValue(Exception):
    pass


Decode = Callable[[Any], Any]

# --- per-type decoders (no schema) -------------------------------------------------

DAYS_MIN: Final = -719_162  # 0001-01-01
DAYS_MAX: Final = 2_932_896  # 9999-12-31
MICRO_FROM: Final = 10**14  # |v| at or above: microseconds (after 1973-03 or before 1966-10)
NANO_FROM: Final = 10**17  # |v| at or above: nanoseconds


def decode_bigint(v: Any) -> Any:
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
    raise BadValue("expected an integer")


def decode_varchar(v: Any) -> Any:
    if type(v) is str:
        return UNAVAILABLE if v == UNAVAILABLE_PLACEHOLDER else v
    if v is None:
        return None
    raise BadValue("expected a string")


def _iso_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue("expected an ISO-8601 timestamp") from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


# Debezium's epoch days for DATE 'infinity' and '-infinity': PostgreSQL's internal
# day numbers for them (INT32 max and min, counted from 2000-01-01) moved to 1970 in 32-bit
# arithmetic, so they wrap. Seen with Debezium 3.6.3 (tests/fixtures/debezium/README.md).
# Its initial snapshot reads rows over JDBC instead, and writes DATE 'infinity' as
# -622191234 (pgjdbc's infinity milliseconds as days, wrapped to 32 bits), seen with
# Debezium 3.6.3 on the rows edge-values leaves behind.
_DBZ_DAYS_INFINITE: Final = {
    -2_147_472_692: date.max,
    -2_147_472_691: date.min,
    -622_191_234: date.max,
}
# Debezium's TIMESTAMP 'infinity' and '-infinity': pgjdbc's PGStatement.DATE_POSITIVE_INFINITY
# and DATE_NEGATIVE_INFINITY (milliseconds), written as they are whatever the unit.
DBZ_EPOCH_INFINITE: Final = {
    9_223_372_036_825_200_000: datetime.max,
    -9_223_372_036_832_400_000: datetime.min,
}


def decode_date(v: Any) -> Any:
    if type(v) is int:
        infinite = _DBZ_DAYS_INFINITE.get(v)
        if infinite is not None:
            return infinite
        try:
            return days_to_date(v)
        except (ValueError, OverflowError):
            raise BadValue("epoch days out of range") from None
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
    raise BadValue("expected epoch days or an ISO-8601 date")


# Multiplying a timedelta is several times faster than building one from an int.
_ONE_US: Final = timedelta(microseconds=1)
_ONE_MS: Final = timedelta(milliseconds=1)


# Converted values are memoised: commit-time columns (created_at, updated_at) repeat
# across a transaction's rows and within a row, and dates repeat across rows. A plain
# dict, emptied when it grows large, is cheaper than functools.lru_cache here.
_CACHE_LIMIT: Final = 1 << 17
MICROS_CACHE: dict[int, datetime] = {}
DAYS_CACHE: dict[int, date] = {}


def micros_to_datetime(v: int) -> datetime:
    value = MICROS_CACHE.get(v)
    if value is None:
        if len(MICROS_CACHE) >= _CACHE_LIMIT:
            MICROS_CACHE.clear()
        value = MICROS_CACHE[v] = EPOCH + _ONE_US * v
    return value


def days_to_date(v: int) -> date:
    value = DAYS_CACHE.get(v)
    if value is None:
        if len(DAYS_CACHE) >= _CACHE_LIMIT:
            DAYS_CACHE.clear()
        value = DAYS_CACHE[v] = epoch_days_to_date(v)
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
    for convert, scale in ((_millis, 1000), (micros_to_datetime, 10**6), (_nanos, 10**9))
)


def unit_of(v: int) -> Callable[[int], datetime] | None:
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


def decode_timestamp(v: Any) -> Any:
    if type(v) is int:
        if v in DBZ_EPOCH_INFINITE:
            return DBZ_EPOCH_INFINITE[v]
        try:
            if MICRO_FROM <= v < NANO_FROM:
                return micros_to_datetime(v)
            magnitude = -v if v < 0 else v
            if magnitude >= NANO_FROM:
                return _nanos(v)
            if magnitude >= MICRO_FROM:
                return micros_to_datetime(v)
            return _millis(v)
        except OverflowError:
            raise BadValue("epoch timestamp out of range") from None
    if v is None:
        return None
    if isinstance(v, str):
        if v == UNAVAILABLE_PLACEHOLDER:
            return UNAVAILABLE
        infinite = _INFINITE.get(v)
        return _iso_datetime(v) if infinite is None else infinite
    raise BadValue("expected an epoch timestamp or an ISO-8601 timestamp")


def _timestamp_unit(convert: Callable[[int], datetime]) -> Decode:
    def decode(v: Any) -> Any:
        if type(v) is int:
            try:
                return convert(v)
            except OverflowError:
                raise BadValue("epoch timestamp out of range") from None
        return decode_timestamp(v)

    return decode


_TYPE_DECODERS: Final[Mapping[PgType, Decode]] = {
    PgType.BIGINT: decode_bigint,
    PgType.VARCHAR: decode_varchar,
    PgType.DATE: decode_date,
    PgType.TIMESTAMP: decode_timestamp,
}

# Precomputed once: table -> column -> decoder.
TABLE_DECODERS: Final[Mapping[str, Mapping[str, Decode]]] = {
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
                raise BadValue("expected base64 decimal bytes") from None
            # Exact: the default context would round to 28 digits.
            return Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale, _EXACT)
        if isinstance(v, int | float):
            return Decimal(str(v))
        raise BadValue("expected a decimal")

    return decode


def decode_variable_scale_decimal(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, dict) and "value" in v:
        scale = v.get("scale", 0)
        if type(scale) is not int:
            raise BadValue("VariableScaleDecimal without an integer scale")
        return _decimal_bytes(scale)(v["value"])
    raise BadValue("expected a VariableScaleDecimal struct {scale, value}")


def _bytes(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        if v == UNAVAILABLE_PLACEHOLDER:
            return UNAVAILABLE
        try:
            return base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise BadValue("expected base64 bytes") from None
    raise BadValue("expected base64 bytes")


_SCHEMA_NAME_DECODERS: Final[Mapping[str, Decode]] = {
    "io.debezium.time.Date": decode_date,
    "org.apache.kafka.connect.data.Date": decode_date,
    "io.debezium.time.Timestamp": _timestamp_unit(_millis),
    "org.apache.kafka.connect.data.Timestamp": _timestamp_unit(_millis),
    "io.debezium.time.MicroTimestamp": _timestamp_unit(micros_to_datetime),
    "io.debezium.time.NanoTimestamp": _timestamp_unit(_nanos),
    "io.debezium.time.ZonedTimestamp": decode_timestamp,
    "io.debezium.time.IsoTimestamp": decode_timestamp,
    "io.debezium.time.IsoDate": decode_date,
    "io.debezium.data.VariableScaleDecimal": decode_variable_scale_decimal,
}


def _identity(v: Any) -> Any:
    return v


def schema_decoder(field: Mapping[str, Any], fallback: Decode | None) -> Decode:
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
