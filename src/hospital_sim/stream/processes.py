"""Workers spread over child processes, for ``--workers N`` (N > 1), in both pacings.

A worker spends its time between the network and Python code (planning rows, adapting
values, counting). Threads of one process take turns on one interpreter lock, so many
workers in one process mostly wait for each other; processes run side by side. There is
one child process per usable CPU (at most one per worker), and the workers are dealt
out to them as threads, like pgbench's ``--jobs``. Each worker is exactly what a worker
thread runs (the same :class:`~hospital_sim.stream.worker.Worker`); each child reports to
this process:

* its stats, twice a second and once more when it ends, which feed the progress line,
  ``/metrics`` and the final summary;
* "ready" once its pools are loaded: when every child is ready the run's clock starts
  here and the children adopt that moment, so the schedule is shared as with threads;
* its log records, written here by the run's own handlers (one writer per log file).

The per-event line (INFO in the original interval pacing, DEBUG at a rate) numbers the
events and totals the INSERTs and UPDATEs of the whole run, as with threads: the children
count them in one shared array (:class:`SharedTally`) under its lock, and send the lines
in batches (:class:`EventLines`) a few times a second rather than one message each.

Stopping is one shared flag: set here on SIGINT/SIGTERM or at the end, set by a child
that fails, and by every child that finds its parent gone. Children are started with
"spawn", so nothing of this process (threads, locks, connections) is copied into them.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from hospital_sim.stream.crews import Joinable, describe, event_level
from hospital_sim.stream.failures import ErrorLog
from hospital_sim.stream.plan import RunPlan, Start
from hospital_sim.stream.stats import Stats, merged
from hospital_sim.stream.worker import EVENT_LINE, EventLog, Worker
from hospital_sim.stream.worker import log as worker_log

CTX = multiprocessing.get_context("spawn")
EVENT_LOGGER = worker_log.name  # the per-event line's logger, as with threads


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def deal(workers: int, processes: int) -> list[list[int]]:
    """Worker indexes for each process, dealt round-robin: deal(5, 2) == [[0, 2, 4], [1, 3]]."""
    count = max(1, min(workers, processes))
    return [list(range(p, workers, count)) for p in range(count)]


REPORT_EVERY = 0.5  # seconds between a child's stats reports
POLL = 0.1  # how often waits look at the stop flag


class SharedTally:
    """The run-wide event count in shared memory: (cycle, INSERTs, UPDATEs)."""

    def __init__(self, counts: Any) -> None:
        self.counts = counts  # a multiprocessing Array("q", 3), with its lock

    def count(self, kind: str) -> tuple[int, int, int]:
        counts = self.counts
        with counts.get_lock():
            counts[0] += 1
            counts[1 if kind == "INSERT" else 2] += 1
            return counts[0], counts[1], counts[2]


class LocalStop:
    """The run's shared stop flag as this process's workers read it: a local copy.

    Reading a multiprocessing Event takes its locks, which every worker process would
    touch on every transaction. The workers read a local ``threading.Event`` instead,
    which the child's main loop sets (:meth:`follow`) within :data:`POLL` seconds of the
    shared flag. Nothing waits on the shared flag itself: a process that ended while
    waiting on it would leave the next ``set()`` waiting forever. Setting this flag sets
    both, so a worker that fails still stops the whole run.
    """

    def __init__(self, shared: Any) -> None:
        self.shared = shared
        self.local = threading.Event()

    def follow(self) -> None:
        """Take over the shared flag's state (the child's main loop calls it)."""
        if not self.local.is_set() and self.shared.is_set():
            self.local.set()

    def is_set(self) -> bool:
        return self.local.is_set()

    def set(self) -> None:
        self.local.set()
        self.shared.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.local.wait(timeout)


@dataclass
class EventLines:
    """Per-event log lines of one worker process, sent to the parent together.

    Each line is (when, thread name, message). The parent writes them as the records
    the workers would have logged (same logger, level, time, process and thread), one
    line each, through the run's own handlers.
    """

    level: int
    process: int
    process_name: str
    lines: list[tuple[float, str, str]]

    def records(self) -> Iterator[logging.LogRecord]:
        name = logging.getLevelName(self.level)
        for created, thread, message in self.lines:
            yield logging.makeLogRecord(
                {
                    "name": EVENT_LOGGER,
                    "levelno": self.level,
                    "levelname": name,
                    "msg": message,
                    "args": None,
                    "created": created,
                    "msecs": (created - int(created)) * 1000,
                    "process": self.process,
                    "processName": self.process_name,
                    "threadName": thread,
                }
            )


class BatchedEventLog(EventLog):
    """The per-event line in a worker process: kept, and sent in batches.

    One record per event through the log queue costs a pickled message and a pipe write
    per event in the child and as much again in the parent, which at thousands of events
    a second slows the stream itself. The lines are numbered when they happen, as with
    threads (:class:`SharedTally`); the child's main loop sends what accumulated every
    :data:`POLL` seconds as one :class:`EventLines`.
    """

    def __init__(self, tally: SharedTally, *, level: int) -> None:
        super().__init__(tally, level=level)
        self._lock = threading.Lock()
        self._lines: list[tuple[float, str, str]] = []

    def emit(self, cycle: int, kind: str, table: str, inserts: int, updates: int) -> None:
        line = (
            time.time(),
            threading.current_thread().name,
            EVENT_LINE % (cycle, kind, table, inserts, updates),
        )
        with self._lock:
            self._lines.append(line)

    def flush(self, queue: Any) -> None:
        """Send the lines kept so far (nothing when there are none)."""
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            process = multiprocessing.current_process()
            queue.put(EventLines(self.level, os.getpid(), process.name, lines))


class _Listener(logging.handlers.QueueListener):
    """The parent's log listener: records, and batches of per-event lines."""

    def handle(self, record: Any) -> None:
        if isinstance(record, EventLines):
            for line in record.records():
                super().handle(line)
        else:
            super().handle(record)


@dataclass
class Report:
    """What a child sends: ``kind`` is "ready", "stats" or "final"."""

    kind: str
    index: int
    stats: Stats | None = None
    failure: str | None = None


class ProcessCrew:
    """The parent's side: starts the children, gathers their reports, stops them."""

    def __init__(
        self,
        plan: RunPlan,
        events: int | None,
        stop: threading.Event,
        *,
        processes: int | None = None,
    ) -> None:
        self.plan = plan
        self.stop = stop
        self.groups = deal(plan.workers, processes or usable_cpus())
        self.flag = CTX.Event()  # the run's stop flag, shared with every child
        self.go = CTX.Event()
        self.start_at = CTX.Array("d", 2)  # monotonic start, UTC start (epoch seconds)
        self.tally = CTX.Array("q", 3)  # the per-event line's run-wide count
        self.reports: multiprocessing.Queue[Report] = CTX.Queue()
        self.logs: multiprocessing.Queue[logging.LogRecord | EventLines] = CTX.Queue()
        self._stats = [Stats() for _ in range(plan.workers)]
        self._final = [False] * plan.workers
        self._failures: list[str | None] = [None] * plan.workers
        self._ready = 0
        self._start: Start | None = None
        root = logging.getLogger()
        self._listener = _Listener(self.logs, *root.handlers, respect_handler_level=True)
        self.procs: list[BaseProcess] = [
            CTX.Process(
                target=child_main,
                args=(
                    group,
                    plan,
                    events,
                    self.flag,
                    self.go,
                    self.start_at,
                    self.tally,
                    self.reports,
                    self.logs,
                    os.getpid(),
                    root.level,
                ),
                name=f"hospital-sim workers {plan.shard}.{','.join(map(str, group))}",
                daemon=True,
            )
            for group in self.groups
        ]
        self._collector = threading.Thread(target=self._collect, name="reports", daemon=True)
        self._listening = False
        self._done = threading.Event()

    def start(self) -> None:
        self._listener.start()
        self._listening = True
        for p in self.procs:
            p.start()
        self._collector.start()
        # The run's stop (a signal, --duration, the caller) is set on the shared flag at
        # once, not when the supervisor next wakes up; each child's main loop passes it
        # on to its workers within POLL seconds.
        threading.Thread(target=self._relay, name="stop relay", daemon=True).start()

    def _relay(self) -> None:
        self.stop.wait()
        self.flag.set()

    def started(self) -> Start | None:
        return self._start

    def members(self) -> list[Joinable]:
        return list(self.procs)  # a process joins and tells is_alive() like a thread

    def stats(self) -> list[Stats]:
        return list(self._stats)

    def stopping(self) -> bool:
        return self.flag.is_set()

    def failure(self) -> str | None:
        found = next((f for f in self._failures if f is not None), None)
        if found is not None:
            return found
        lost = [
            p
            for p, group in zip(self.procs, self.groups, strict=True)
            if not all(self._final[i] for i in group)
        ]
        if lost:
            codes = ", ".join(f"{p.name} exit code {p.exitcode}" for p in lost)
            return f"worker process ended without its final report ({codes})"
        return None

    def finish(self) -> None:
        self.flag.set()
        for p in self.procs:
            if p.pid is not None:  # started (start() may have failed part way)
                p.join()
        self._done.set()
        if self._collector.ident is not None:
            self._collector.join()
        self._drain()
        if self._listening:
            self._listener.stop()

    # -- reports ---------------------------------------------------------------------
    def _collect(self) -> None:
        while not self._done.is_set():
            try:
                report = self.reports.get(timeout=POLL)
            except queue.Empty:
                continue
            self._take(report)

    def _drain(self) -> None:
        """Take the reports still queued once every child has exited."""
        while not all(self._final):
            try:
                report = self.reports.get(timeout=POLL)
            except queue.Empty:
                return  # a child died without its final report: failure() says so
            self._take(report)

    def _take(self, report: Report) -> None:
        i = report.index
        if report.kind == "ready":
            self._ready += 1
            if self._ready == self.plan.workers:
                start = Start.now()
                self.start_at[0] = start.monotonic
                self.start_at[1] = start.utc.replace(tzinfo=dt.UTC).timestamp()
                self._start = start
                self.go.set()
            return
        if report.stats is not None:
            self._stats[i] = report.stats
        if report.kind == "final":
            self._final[i] = True
            self._failures[i] = report.failure


@dataclass
class _ChildGate:
    """The start gate inside a child: report ready, then wait for the parent's go."""

    index: int
    flag: Any
    go: Any
    start_at: Any
    reports: Any

    def wait(self) -> Start:
        self.reports.put(Report("ready", self.index))
        while not self.go.wait(POLL):
            if self.flag.is_set():
                raise threading.BrokenBarrierError
        # The monotonic clock is the machine's: the parent's reading holds here too.
        utc = dt.datetime.fromtimestamp(self.start_at[1], dt.UTC).replace(tzinfo=None)
        return Start(self.start_at[0], utc)

    def abort(self) -> None:
        self.flag.set()


def child_main(
    indexes: list[int],
    plan: RunPlan,
    events: int | None,
    flag: Any,
    go: Any,
    start_at: Any,
    tally: Any,
    reports: Any,
    logs: Any,
    parent: int,
    level: int,
) -> None:
    """A child process: its workers as threads, their reports, a graceful stop on signals."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(logs))
    root.setLevel(level)
    logging.getLogger("psycopg").setLevel(max(logging.INFO, level))
    stop = LocalStop(flag)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    errors = ErrorLog()
    workers = []
    for i in indexes:
        gate = _ChildGate(i, flag, go, start_at, reports)
        workers.append(Worker(i, plan, stop=stop, errors=errors, gate=gate))
    event_log = BatchedEventLog(SharedTally(tally), level=event_level(plan))
    logging.getLogger(__name__).debug(
        "worker process %d runs %s", os.getpid(), ", ".join(w.name for w in workers)
    )
    for w in workers:
        w.events_log = event_log
    threads = [threading.Thread(target=w.run, args=(events,), name=w.name) for w in workers]
    for t in threads:
        t.start()
    next_report = time.monotonic() + REPORT_EVERY
    while alive := [t for t in threads if t.is_alive()]:
        alive[0].join(POLL)
        stop.follow()
        event_log.flush(logs)
        if time.monotonic() >= next_report:
            next_report += REPORT_EVERY
            if os.getppid() != parent:  # the parent is gone: stop rather than run on
                stop.set()
            for w in workers:
                reports.put(Report("stats", w.index, merged([w.stats])))
    event_log.flush(logs)  # the last lines go before the final reports
    for w in workers:
        failure = None if w.failure is None else describe(w.failure)
        reports.put(Report("final", w.index, merged([w.stats]), failure))
