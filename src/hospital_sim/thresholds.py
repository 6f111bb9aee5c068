"""The dashboard's alert thresholds (attention, critical): defaults and the
``DASHBOARD_ALERTS`` syntax. Pure, below :mod:`hospital_sim.config`, which validates the
setting with it; :mod:`hospital_sim.web.alerts` evaluates them."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

# attention, critical; a figure at or above a threshold fires it.
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "slot_lag_mb": (64.0, 512.0),
    "slot_lag_s": (60.0, 600.0),
    "schedule_lag_s": (1.0, 5.0),
    "errors_per_min": (1.0, 10.0),
    "reconnects_per_min": (1.0, 5.0),
    "occupancy_pct": (85.0, 95.0),
    "pending_exams": (500.0, 2000.0),
}


def _parse(text: str) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        low, sep2, high = value.partition(":")
        try:
            if not sep or not sep2:
                raise ValueError
            out[key.strip()] = (float(low), float(high))
        except ValueError:
            raise ValueError(
                f"{part!r} is not name=attention:critical, e.g. occupancy_pct=85:95"
            ) from None
    return out


_SHAPE = "name=attention:critical pairs, e.g. slot_lag_mb=64:512,occupancy_pct=85:95"


def _pair(key: str, pair: Any) -> tuple[float, float]:
    """(attention, critical) of the known alert ``key`` from a mapping: ``[a, c]`` or ``"a:c"``."""
    if isinstance(pair, str):
        return _parse(f"{key}={pair}")[key]
    numbers = isinstance(pair, list | tuple) and len(pair) == 2
    if not numbers or any(isinstance(x, bool) or not isinstance(x, int | float) for x in pair):
        example = "[{:g}, {:g}]".format(*DEFAULT_THRESHOLDS[key])
        raise ValueError(f"{key}={pair!r} is not [attention, critical], e.g. {key} = {example}")
    return float(pair[0]), float(pair[1])


def resolve_thresholds(value: Any) -> dict[str, tuple[float, float]]:
    """The defaults with ``value`` (``"name=a:c,..."`` or a mapping) on top, validated."""
    given: Mapping[str, Any]
    if isinstance(value, str):
        given = _parse(value)
    elif value is None or isinstance(value, Mapping):
        given = {str(k): v for k, v in (value or {}).items()}
    else:
        raise ValueError(f"it must be {_SHAPE}")
    merged = dict(DEFAULT_THRESHOLDS)
    for key, pair in given.items():
        if key not in DEFAULT_THRESHOLDS:
            close = difflib.get_close_matches(key, DEFAULT_THRESHOLDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(
                f"unknown alert {key!r}{hint}; accepted: {', '.join(DEFAULT_THRESHOLDS)}"
            )
        attention, critical = _pair(key, pair)
        if not 0 <= attention <= critical:
            raise ValueError(f"{key}={attention:g}:{critical:g}: need 0 <= attention <= critical")
        merged[key] = (attention, critical)
    return merged
