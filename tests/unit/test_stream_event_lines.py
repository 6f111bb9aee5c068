"""The per-event line of worker processes: sent in batches, written as the same records."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading

from hospital_sim.stream.processes import BatchedEventLog, LocalStop, SharedTally, _Listener
from hospital_sim.stream.worker import EventLog, WorkerTally


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(threadName)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_batched_lines_read_exactly_like_the_lines_a_thread_logs() -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    batched = BatchedEventLog(SharedTally(ctx.Array("q", 3)), level=logging.INFO)
    direct = EventLog(WorkerTally([]), level=logging.INFO)
    handler = Collect()
    logger = logging.getLogger("hospital_sim.stream.worker")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        for op in ("insert_consulta", "update_exame", "insert_paciente"):
            batched.event(op)
        direct.event("insert_consulta")  # logged at once, the way one thread logs it
        assert len(handler.records) == 1
        batched.flush(queue)
        listener = _Listener(queue, handler, respect_handler_level=True)
        listener.handle(queue.get(timeout=5))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    direct_line, *lines = (handler.format(r) for r in handler.records)
    assert lines == [
        "INFO hospital_sim.stream.worker MainThread [1] INSERT consultas | INSERT: 1 | UPDATE: 0",
        "INFO hospital_sim.stream.worker MainThread [2] UPDATE exames | INSERT: 1 | UPDATE: 1",
        "INFO hospital_sim.stream.worker MainThread [3] INSERT pacientes | INSERT: 2 | UPDATE: 1",
    ]
    assert direct_line.split(" [")[0] == lines[0].split(" [")[0]  # same logger, level, thread
    assert {r.process for r in handler.records} == {os.getpid()}
    assert handler.records[1].created <= handler.records[3].created


def test_nothing_is_sent_when_no_line_was_logged() -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    BatchedEventLog(SharedTally(ctx.Array("q", 3)), level=logging.DEBUG).flush(queue)
    assert queue.empty()


def test_a_worker_sees_the_runs_stop_once_the_child_follows_it_and_its_own_at_once() -> None:
    ctx = multiprocessing.get_context("spawn")
    shared = ctx.Event()
    stop = LocalStop(shared)
    shared.set()  # the parent stops the run
    assert not stop.is_set()  # seen at the child's next look, not mid-transaction
    stop.follow()
    assert stop.is_set() and stop.wait(0)
    other = LocalStop(ctx.Event())
    waiter = threading.Thread(target=other.wait, args=(5,))
    waiter.start()
    other.set()  # a failing worker stops its own process and the whole run
    waiter.join(5)
    assert not waiter.is_alive() and other.shared.is_set()
