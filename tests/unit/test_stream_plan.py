"""The run's start: one moment, handed to every worker when the last one is ready."""

from __future__ import annotations

import threading

import pytest

from hospital_sim.stream.plan import Start, ThreadGate


def test_every_worker_gets_the_same_start_once_all_are_ready() -> None:
    gate = ThreadGate(3)
    got: list[Start] = []
    threads = [threading.Thread(target=lambda: got.append(gate.wait())) for _ in range(2)]
    for t in threads:
        t.start()
    assert gate.start is None  # two of three ready: the clock has not started
    got.append(gate.wait())
    for t in threads:
        t.join(5)
    assert len(got) == 3 and len(set(got)) == 1
    assert gate.start == got[0]
    assert got[0].deadline(2.5) == got[0].monotonic + 2.5
    assert got[0].deadline(None) is None


def test_an_aborted_gate_releases_the_waiting_workers() -> None:
    gate = ThreadGate(2)
    gate.abort()
    with pytest.raises(threading.BrokenBarrierError):
        gate.wait()
    assert gate.start is None
