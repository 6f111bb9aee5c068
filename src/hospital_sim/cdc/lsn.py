"""PostgreSQL log sequence numbers (LSNs) and the percentile used for lag figures.

Shared by the capture and the verify halves, so neither imports the other.
"""

from __future__ import annotations

import math

__all__ = ["format_lsn", "parse_lsn", "percentile"]


def format_lsn(lsn: int) -> str:
    """``31844984`` -> ``"0/1E5EA78"``, PostgreSQL's ``pg_lsn`` text form."""
    if not 0 <= lsn < 1 << 64:
        raise ValueError(f"LSN {lsn} is outside 0..2**64-1")
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """``"0/16B3748"`` -> ``23803720``."""
    high, sep, low = text.strip().partition("/")
    try:
        if not sep or not high or not low or len(high) > 8 or len(low) > 8:
            raise ValueError
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an LSN; expected two hex numbers like 0/16B3748"
        ) from None


def percentile(sorted_values: list[int], pct: float) -> int | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
