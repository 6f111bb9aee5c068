"""One weighted draw from a random.Random, for the stream's per-event choices."""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def weighted(rng: random.Random, population: Sequence[T], cum: Sequence[float]) -> T:
    """An item of ``population``, ``cum`` being its cumulative weights.

    The same draw as ``rng.choices(population, cum_weights=cum)[0]`` (one ``random()``,
    the same item) without the checks and the list that ``choices`` builds each call.
    """
    return population[bisect.bisect(cum, rng.random() * (cum[-1] + 0.0), 0, len(cum) - 1)]
