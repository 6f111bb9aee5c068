"""A run's workers as one crew: the protocol, and workers as threads of this process."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from hospital_sim.stream.plan import RunPlan
from hospital_sim.stream.session import ErrorLog
from hospital_sim.stream.stats import Stats, merged
from hospital_sim.stream.worker import EventLog, Worker


class Joinable(Protocol):
    def is_alive(self) -> bool: ...
    def join(self, timeout: float | None = None) -> None: ...


class Crew(Protocol):
    """The workers of a run, in threads of this process or in processes of their own."""

    def start(self) -> None: ...
    def members(self) -> list[Joinable]: ...
    def stats(self) -> list[Stats]: ...
    def stopping(self) -> bool: ...
    def failure(self) -> BaseException | str | None: ...
    def finish(self) -> None: ...


def reported(plan: RunPlan, index: int, stats: Stats) -> Stats:
    """A copy of a worker's stats with its skipped events (counted by its pacing)."""
    copy = merged([stats])
    copy.skipped = plan.skips.get(index, 0)
    return copy


class ThreadCrew:
    """Workers as threads sharing this process: the default, and the only choice in the
    original pacing, whose per-event line counts events across all workers."""

    def __init__(self, plan: RunPlan, events: int | None, stop: threading.Event) -> None:
        self.stop = stop
        errors = ErrorLog()
        gate = threading.Barrier(plan.workers, action=plan.timeline.begin)
        self.workers = [
            Worker(i, plan, stop=stop, errors=errors, gate=gate) for i in range(plan.workers)
        ]
        event_log = EventLog(
            self.workers, level=logging.INFO if plan.rate is None else logging.DEBUG
        )
        for w in self.workers:
            w.events_log = event_log
        self.threads = [
            threading.Thread(target=w.run, args=(events,), name=w.name, daemon=True)
            for w in self.workers
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def members(self) -> list[Joinable]:
        return list(self.threads)

    def stats(self) -> list[Stats]:
        return [reported(w.plan, w.index, w.stats) for w in self.workers]

    def stopping(self) -> bool:
        return self.stop.is_set()

    def failure(self) -> BaseException | str | None:
        return next((w.failure for w in self.workers if w.failure is not None), None)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()
