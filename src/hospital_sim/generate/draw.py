"""Weighted draws: one from a random.Random (the stream's per-event choices), and many at
once from cumulative weights (the seed's vectorised columns)."""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")
Last = int | npt.NDArray[np.intp]


def weighted(rng: random.Random, population: Sequence[T], cum: Sequence[float]) -> T:
    """An item of ``population``, ``cum`` being its cumulative weights.

    The same draw as ``rng.choices(population, cum_weights=cum)[0]`` (one ``random()``,
    the same item) without the checks and the list that ``choices`` builds each call.
    """
    return population[bisect.bisect(cum, rng.random() * (cum[-1] + 0.0), 0, len(cum) - 1)]


def pick(
    cum: npt.NDArray[np.float64], u: npt.NDArray[np.float64], last: Last | None = None
) -> npt.NDArray[np.intp]:
    """For each ``u``, the index of the first cumulative weight above it: a weighted draw.

    Clamped to ``last`` (the table's last index by default), which float rounding at the
    top of ``cum`` could otherwise overstep.
    """
    top = cum.size - 1 if last is None else last
    return np.minimum(np.searchsorted(cum, u, side="right"), top)


def pick_sorted(
    cum: npt.NDArray[np.float64], u: npt.NDArray[np.float64], last: Last | None = None
) -> npt.NDArray[np.intp]:
    """:func:`pick`, faster for large tables: the same indexes, looked up in ascending order.

    Ascending lookups keep the table's cache lines warm: several times faster than random
    order once the table outgrows the CPU cache.
    """
    order = np.argsort(u, kind="stable")
    found = np.empty(u.size, dtype=np.intp)
    found[order] = np.searchsorted(cum, u[order], side="right")
    top = cum.size - 1 if last is None else last
    return np.minimum(found, top)
