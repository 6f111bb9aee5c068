"""The seed's read-ahead thread: same items in order, errors surface, bounded lead."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from hospital_sim.db.prefetch import prefetched


def test_items_come_out_in_order_and_complete() -> None:
    with prefetched(iter(range(1000)), depth=3) as items:
        assert list(items) == list(range(1000))


def test_a_generator_error_is_raised_in_the_consumer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("cannot generate block 2")

    with prefetched(failing(), depth=2) as items:
        assert next(items) == 1
        with pytest.raises(ValueError, match="block 2"):
            next(items)


def test_the_producer_stays_at_most_depth_items_ahead_and_stops_when_left() -> None:
    made: list[int] = []

    def counting() -> Iterator[int]:
        for i in range(10_000):
            made.append(i)
            yield i

    with prefetched(counting(), depth=4) as items:
        next(items)
        # Give the producer every chance to run ahead: it must block on the bound.
        for _ in range(50):
            threading.Event().wait(0.005)
        # One taken, depth queued, and one more made and waiting to be queued.
        assert len(made) <= 1 + 4 + 1
    assert len(made) < 10_000  # leaving the block stopped it


def test_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth must be >= 1"), prefetched(iter([]), depth=0):
        pass
