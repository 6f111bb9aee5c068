"""Read PostgreSQL's ``infinity`` dates and timestamps as the extremes Python has.

psycopg cannot load them as ``date``/``datetime`` and raises ``DataError``, which used to
end ``cdc verify`` with a traceback. The change-log parser maps the same values (text
``infinity``, as our capture writes them) to the same extremes, so they compare equal.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

import psycopg
from psycopg.types.datetime import (
    DateBinaryLoader,
    DateLoader,
    TimestampBinaryLoader,
    TimestampLoader,
)

__all__ = ["load_infinity"]

_TS_MAX: Final = (2**63 - 1).to_bytes(8, "big")
_TS_MIN: Final = (-(2**63)).to_bytes(8, "big", signed=True)
_DATE_MAX: Final = (2**31 - 1).to_bytes(4, "big")
_DATE_MIN: Final = (-(2**31)).to_bytes(4, "big", signed=True)


class _Timestamp(TimestampLoader):
    def load(self, data: Any) -> datetime:
        text = bytes(data)
        if text == b"infinity":
            return datetime.max
        if text == b"-infinity":
            return datetime.min
        return super().load(data)


class _TimestampBinary(TimestampBinaryLoader):
    def load(self, data: Any) -> datetime:
        raw = bytes(data)
        if raw == _TS_MAX:
            return datetime.max
        if raw == _TS_MIN:
            return datetime.min
        return super().load(data)


class _Date(DateLoader):
    def load(self, data: Any) -> date:
        text = bytes(data)
        if text == b"infinity":
            return date.max
        if text == b"-infinity":
            return date.min
        return super().load(data)


class _DateBinary(DateBinaryLoader):
    def load(self, data: Any) -> date:
        raw = bytes(data)
        if raw == _DATE_MAX:
            return date.max
        if raw == _DATE_MIN:
            return date.min
        return super().load(data)


def load_infinity(conn: psycopg.Connection[Any]) -> None:
    """Make ``conn`` load ±infinity dates and timestamps as date/datetime max and min."""
    adapters = conn.adapters
    adapters.register_loader("timestamp", _Timestamp)
    adapters.register_loader("timestamp", _TimestampBinary)
    adapters.register_loader("date", _Date)
    adapters.register_loader("date", _DateBinary)
