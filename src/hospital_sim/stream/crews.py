"""A run's workers as one crew: the protocol, and workers as threads of this process."""

from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path
from typing import Protocol

import psycopg

from hospital_sim.stream.failures import ErrorLog
from hospital_sim.stream.plan import RunPlan, Start, ThreadGate
from hospital_sim.stream.stats import Stats
from hospital_sim.stream.worker import EventLog, Worker, WorkerTally


def describe(failure: BaseException) -> str:
    """A worker's fatal error as the summary and the logs show it.

    A database error speaks for itself; any other error is a defect of hospital-sim, so
    the line also names the source line that raised it (its message may be empty).
    """
    text = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
    if isinstance(failure, psycopg.Error) or failure.__traceback__ is None:
        return text
    frame = traceback.extract_tb(failure.__traceback__)[-1]
    where = Path(frame.filename)
    shown = (
        "/".join(where.parts[where.parts.index("hospital_sim") :])
        if ("hospital_sim" in where.parts)
        else where.name
    )
    return f"{text} (at {shown}:{frame.lineno})"


def event_level(plan: RunPlan) -> int:
    """The per-event line is the original pacing's INFO output; at a rate it is DEBUG."""
    return logging.INFO if plan.rate is None else logging.DEBUG


class Joinable(Protocol):
    def is_alive(self) -> bool: ...
    def join(self, timeout: float | None = None) -> None: ...


class Crew(Protocol):
    """The workers of a run, in threads of this process or in processes of their own."""

    def start(self) -> None: ...
    def started(self) -> Start | None:
        """When the run's clock started (None while the workers load their pools)."""

    def members(self) -> list[Joinable]: ...
    def stats(self) -> list[Stats]: ...
    def stopping(self) -> bool: ...
    def failure(self) -> BaseException | str | None: ...
    def finish(self) -> None: ...


class ThreadCrew:
    """Workers as threads sharing this process: a run with one worker."""

    def __init__(self, plan: RunPlan, events: int | None, stop: threading.Event) -> None:
        self.stop = stop
        errors = ErrorLog()
        self.gate = gate = ThreadGate(plan.workers)
        self.workers = [
            Worker(i, plan, stop=stop, errors=errors, gate=gate) for i in range(plan.workers)
        ]
        event_log = EventLog(WorkerTally(self.workers), level=event_level(plan))
        for w in self.workers:
            w.events_log = event_log
        self.threads = [
            threading.Thread(target=w.run, args=(events,), name=w.name, daemon=True)
            for w in self.workers
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def started(self) -> Start | None:
        return self.gate.start

    def members(self) -> list[Joinable]:
        return list(self.threads)

    def stats(self) -> list[Stats]:
        return [w.stats for w in self.workers]

    def stopping(self) -> bool:
        return self.stop.is_set()

    def failure(self) -> BaseException | str | None:
        return next((w.failure for w in self.workers if w.failure is not None), None)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()
