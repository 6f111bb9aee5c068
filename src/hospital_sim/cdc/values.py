"""Value codecs shared by the CDC tools: epoch conversions, PostgreSQL text, placeholders.

Canonical values are what psycopg returns for our column types: ``int``, ``str``,
``datetime.date``, naive ``datetime.datetime`` holding UTC wall time, and ``None``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final, final

from hospital_sim.cdc.schema_types import PgType

__all__ = [
    "EPOCH",
    "PG_EPOCH_OFFSET_US",
    "UNAVAILABLE",
    "UNAVAILABLE_PLACEHOLDER",
    "Unavailable",
    "date_to_epoch_days",
    "datetime_to_epoch_micros",
    "epoch_days_to_date",
    "epoch_micros_to_datetime",
    "parse_pg_text",
    "to_debezium",
]

# What Debezium writes in place of a value it did not receive (an unchanged TOASTed
# column under REPLICA IDENTITY DEFAULT); the default of `unavailable.value.placeholder`.
UNAVAILABLE_PLACEHOLDER: Final = "__debezium_unavailable_value"

EPOCH: Final = datetime(1970, 1, 1)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_ONE_US: Final = timedelta(microseconds=1)

# PostgreSQL's own epoch (2000-01-01) is this many microseconds after the Unix epoch.
PG_EPOCH_OFFSET_US: Final = 946_684_800_000_000


@final
class Unavailable:
    """The marker for a column value the change stream did not carry (unchanged TOAST)."""

    __slots__ = ()
    _instance: Unavailable | None = None

    def __new__(cls) -> Unavailable:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNAVAILABLE"

    def __reduce__(self) -> str:
        return "UNAVAILABLE"


UNAVAILABLE: Final = Unavailable()


def date_to_epoch_days(value: date) -> int:
    """Days since 1970-01-01 (Debezium ``io.debezium.time.Date``)."""
    return value.toordinal() - _EPOCH_ORDINAL


def epoch_days_to_date(days: int) -> date:
    return date.fromordinal(days + _EPOCH_ORDINAL)


def datetime_to_epoch_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch; a naive value is taken as UTC, like Debezium does."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return (value - EPOCH) // _ONE_US


def epoch_micros_to_datetime(micros: int) -> datetime:
    """The naive UTC datetime ``micros`` microseconds after the Unix epoch."""
    return EPOCH + _ONE_US * micros


def parse_pg_text(pg_type: PgType, text: str) -> int | str | date | datetime:
    """Decode PostgreSQL's text output (ISO DateStyle) for ``pg_type``.

    Raises ValueError for text that has no canonical value (``infinity``, BC dates).
    """
    if pg_type is PgType.VARCHAR:
        return text
    if pg_type is PgType.BIGINT:
        return int(text)
    if pg_type is PgType.TIMESTAMP:
        return datetime.fromisoformat(text)
    return date.fromisoformat(text)


def to_debezium(pg_type: PgType, value: object) -> object:
    """Encode a canonical value as Debezium's JSON does by default (adaptive time mode).

    DATE -> epoch days, TIMESTAMP -> epoch microseconds; the unavailable marker becomes
    Debezium's placeholder string; everything else is passed through.
    """
    if value is None:
        return None
    if value is UNAVAILABLE:
        return UNAVAILABLE_PLACEHOLDER
    if pg_type is PgType.TIMESTAMP and isinstance(value, datetime):
        return datetime_to_epoch_micros(value)
    if pg_type is PgType.DATE and isinstance(value, date) and not isinstance(value, datetime):
        return date_to_epoch_days(value)
    return value
