"""One worker: a connection streaming the events of its partition of the patients."""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from hospital_sim.stream.failures import ErrorLog, Flag
from hospital_sim.stream.hospital import HospitalModel, beds_for
from hospital_sim.stream.mixing import Interludes
from hospital_sim.stream.operations import Event, IdReserve, Operations
from hospital_sim.stream.plan import Gate, RunPlan
from hospital_sim.stream.pools import Partition, load_pools
from hospital_sim.stream.session import Flight, Session, TxnResult
from hospital_sim.stream.stats import COMMITTED, STALE, Change, Stats
from hospital_sim.stream.workload import OPERATIONS, OperationPicker

log = logging.getLogger(__name__)

KIND = {name: spec.kind for name, spec in OPERATIONS.items()}  # INSERT or UPDATE, by op


class Tally(Protocol):
    """The run-wide count behind the per-event line, shared by every worker of a run."""

    def count(self, kind: str) -> tuple[int, int, int]:
        """Count one more event of ``kind``; return (cycle, INSERTs, UPDATEs) so far."""
        ...


class WorkerTally:
    """The tally of workers that share this process: their own counters, summed."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._cycle = itertools.count(1)

    def count(self, kind: str) -> tuple[int, int, int]:
        ins = sum(w.stats.inserts for w in self.workers)
        upd = sum(w.stats.updates for w in self.workers)
        return next(self._cycle), ins, upd


EVENT_LINE = "[%d] %s %s | INSERT: %d | UPDATE: %d"
"""The original per-event line: run-wide cycle, verb, table, INSERTs and UPDATEs so far."""


class EventLog:
    """The per-event log line of the original, with run-wide cycle and totals."""

    def __init__(self, tally: Tally, *, level: int) -> None:
        self.tally = tally
        self.level = level

    def event(self, op: str) -> None:
        if not log.isEnabledFor(self.level):
            return
        spec = OPERATIONS[op]
        cycle, ins, upd = self.tally.count(spec.kind)
        self.emit(cycle, spec.kind, spec.table, ins, upd)

    def emit(self, cycle: int, kind: str, table: str, inserts: int, updates: int) -> None:
        log.log(self.level, EVENT_LINE, cycle, kind, table, inserts, updates)


DEPTH = 2
"""Transactions a worker keeps in flight on its connection when the next one is due before
the last one commits: the server starts on the next the moment it commits the last, while
the worker plans the one after."""


@dataclass(slots=True)
class Pipeline:
    """A worker's transactions between planning and counting.

    At a ``--rate`` whose schedule is behind, or back to back in the interval pacing (no
    interval, no jitter), the next transaction is due before the one in flight commits:
    it is planned while the server commits and sent at once, queued behind it
    (``inflight``, oldest first, at most :data:`DEPTH`). One that cannot be queued (it
    needs BEGIN and COMMIT) waits as ``planned`` until the queue is empty. A committed one
    is ``uncounted`` until the worker has time to count it, while the server commits the
    next.
    """

    inflight: deque[tuple[list[Event], Flight]] = field(default_factory=deque)
    planned: list[Event] | None = None
    uncounted: list[tuple[list[Event], TxnResult]] = field(default_factory=list)


class Worker:
    """One connection streaming the events of its partition of the patients."""

    def __init__(
        self,
        index: int,
        plan: RunPlan,
        *,
        stop: Flag,
        errors: ErrorLog,
        gate: Gate,
    ) -> None:
        self.gate = gate
        self.index = index
        self.plan = plan
        self.stop = stop
        self.stats = Stats()
        self.label = f"{plan.shard}.{index}"
        self.name = f"worker {self.label}"
        self.rng = random.Random(f"hospital-sim:{plan.seed}:{plan.shard}:{index}")
        self.session = Session(
            plan.conninfo,
            stats=self.stats,
            stop=stop,
            errors=errors,
            backoff=plan.backoff,
            name=f"hospital-sim stream {plan.shard}.{index}",
        )
        self.events_log: EventLog | None = None
        self.failure: BaseException | None = None
        self.pipeline = Pipeline()
        self.model: HospitalModel | None = None
        self.interludes: Interludes | None = None

    def run(self, events: int | None) -> None:
        """Thread body: never raises; a fatal error stops the run and is reported."""
        try:
            self._run(self.plan.budget(events, self.index))
        except threading.BrokenBarrierError:
            pass  # another worker failed to start; it reports why
        except BaseException as exc:  # reported by run_stream
            log.debug("%s stopped on an error", self.name, exc_info=exc)
            self.failure = exc
            self.stop.set()
            self.gate.abort()
        finally:
            self._count_committed()
            if self.interludes is not None:
                self.interludes.close()
            self.session.close()

    def _run(self, budget: int | None) -> None:
        plan = self.plan
        part = Partition.of(
            shard=plan.shard, shards=plan.shards, worker=self.index, workers=plan.workers
        )
        every = plan.model == "hospital"
        pools = self.session.call(
            lambda conn: load_pools(conn, part, self.rng, every_booking=every)
        )
        log.debug("%s pools: %s", self.name, pools.sizes())
        ids = IdReserve(part, block=plan.id_batch)
        ops = Operations(rng=self.rng, pools=pools, ids=ids, clock=plan.clock)
        picker = OperationPicker(plan.weights)
        start = self.gate.wait()  # every worker is loaded: the clock starts for all at once
        model = (
            HospitalModel(
                ops=ops,
                rng=self.rng,
                beds=beds_for(plan.beds, part),
                occupancy=plan.occupancy,
                share=1 / part.modulus,
                doctors=len(pools.medicos),
                start_utc=plan.clock(),  # the rows' clock: a fixed one gives the same run
                slots=plan.clinic_slots,
                part=part,
            )
            if plan.model == "hospital"
            else None
        )
        self.model = model
        if plan.mix is not None:
            self.interludes = Interludes(
                plan.mix,
                conninfo=plan.conninfo,
                rng=self.rng,
                stats=self.stats,
                stop=self.stop,
                errors=self.session.errors,
                backoff=plan.backoff,
                name=f"scenarios {plan.shard}.{self.index}",
                scope=(part.modulus, part.residue),
                forget=pools.forget,
            )
        pacing = plan.pacing(
            self.index, random.Random(f"pacing:{plan.seed}:{self.index}"), start, self._skipped
        )
        deadline = start.deadline(plan.duration)
        ids.need = 2 * plan.txn_size  # a transaction and the next one, planned ahead

        def plan_events(n: int) -> list[Event]:
            if model is not None:
                return [model.plan() for _ in range(n)]
            return [ops.plan(picker.pick(self.rng)) for _ in range(n)]

        def may_plan_ahead(due: float | None, sent: int) -> bool:
            """Whether the next transaction is due already, so it can be planned (and
            queued) while the server commits the one in flight (ids are reserved between
            transactions only)."""
            return (
                due is not None
                and self._size(budget, sent) > 0
                and due <= time.monotonic()
                and (deadline is None or due < deadline)
                and not ids.short()
                and not self.stop.is_set()
            )

        sent = 0  # events sent or planned
        drawn: str | None = None  # a scenario drawn while planning ahead, run next
        line = self.pipeline
        inflight = line.inflight
        due: float | None = pacing.next_due(time.monotonic())
        while True:
            if not inflight:
                if line.planned is None:
                    if due is None:
                        due = pacing.next_due(time.monotonic())
                    if self._over(budget, sent, due, deadline):
                        break
                    if self.interludes is not None:
                        # Drawn for this transaction now, unless drawn when it was due early.
                        scene = drawn if drawn is not None else self.interludes.draw()
                        drawn = None
                        if scene is not None:  # its own transactions, on its own connection
                            self.interludes.occur(scene)
                    if ids.short():
                        self.session.call(lambda conn: ids.ensure(self.session.wire(conn)))
                    events = plan_events(self._size(budget, sent))
                    sent += len(events)
                else:  # planned during the last commit, because it was due: send it at once
                    if self.stop.is_set():
                        break
                    events, line.planned = line.planned, None
                if pacing.open_loop and due is not None:
                    self.stats.record_lag(max(0.0, time.monotonic() - due))
                inflight.append((events, self.session.start(events)))
                # Open loop, the schedule does not depend on when this transaction ends;
                # back to back, the next one is due the moment this one ends.
                due = pacing.next_due(time.monotonic()) if pacing.known_ahead() else None
            if inflight[-1][1].waiting:  # the server works: count, plan and queue the next
                self._count_committed()
                if len(inflight) < DEPTH and line.planned is None and may_plan_ahead(due, sent):
                    # A scenario drawn for the next transaction runs first, once those in
                    # flight are done: the next is then planned after it, on what it left.
                    drawn = None if self.interludes is None else self.interludes.draw()
                    if drawn is None:
                        events = plan_events(self._size(budget, sent))
                        sent += len(events)
                        lag = max(0.0, time.monotonic() - due) if due is not None else 0.0
                        flight = self.session.queue(events)
                        if flight is None:
                            line.planned = events  # sent once those in flight are done
                        else:
                            if pacing.open_loop:
                                self.stats.record_lag(lag)
                            inflight.append((events, flight))
                            due = pacing.next_due(time.monotonic())
            events, flight = inflight.popleft()
            result = self.session.finish(flight)
            if result.status is not COMMITTED:
                sent -= self._settle(events, result)
                continue
            self._count_committed()  # the last one, when there was no time for it above
            line.uncounted.append((events, result))
            if not inflight and line.planned is None:
                self._count_committed()

    def _settle(self, events: list[Event], result: TxnResult) -> int:
        """A transaction ended without committing: finish those sent after it, undo the
        pools of everything that did not commit, newest first, then count them all.
        Returns the events planned but not sent (given back to the budget)."""
        line = self.pipeline
        ended = [(events, result)]
        while line.inflight:
            later, flight = line.inflight.popleft()
            ended.append((later, self.session.finish(flight)))
        unsent = 0
        if line.planned is not None:
            for event in reversed(line.planned):
                event.rollback_pools()
            unsent, line.planned = len(line.planned), None
        for later, outcome in reversed(ended):
            if outcome.status is not COMMITTED:
                for event in reversed(later):
                    event.rollback_pools()
        self._count_committed()
        for later, outcome in ended:
            self._account(later, outcome)
        return unsent

    def _over(self, budget: int | None, done: int, due: float, deadline: float | None) -> bool:
        """Whether the run is over for this worker; otherwise wait until ``due``."""
        if self.stop.is_set() or (budget is not None and done >= budget):
            return True
        if deadline is not None and max(due, time.monotonic()) >= deadline:
            return True  # --duration is wall-clock: late events are not caught up after it
        wait = due - time.monotonic()
        return wait > 0 and self.stop.wait(wait)

    def _count_committed(self) -> None:
        """Count the committed transactions whose counting was left for later, if any."""
        uncounted = self.pipeline.uncounted
        while uncounted:
            events, result = uncounted.pop(0)
            self._account(events, result)

    def _skipped(self, n: int) -> None:
        """Count events the pacing skipped: later than --max-lag when they were due."""
        self.stats.skipped += n

    def _size(self, budget: int | None, done: int) -> int:
        """Events in the next transaction: --txn-size, or what is left of --events."""
        k = self.plan.txn_size
        return k if budget is None else max(0, min(k, budget - done))

    def _account(self, events: list[Event], result: TxnResult) -> None:
        stats = self.stats
        outcome = result.status
        committed = outcome is COMMITTED
        if not committed:
            for event in reversed(events):  # undo in reverse order of planning (once)
                event.rollback_pools()
        if self.model is not None:
            census = self.model.census
            stats.beds, stats.occupied = census.beds, census.occupied
            stats.occupancy_peak, stats.deferred_admissions = census.peak, census.deferred
            stats.unbooked = census.unbooked
        if committed:
            stats.transactions += 1
        at = time.time()
        counts, recent, stale = stats.events, stats.recent, result.stale
        i = 0
        for event in events:
            op = event.op
            if event.wanted != op:
                stats.substitutions[(event.wanted, op)] += 1
            event_stale = False
            for st in event.statements:
                if committed and i in stale:
                    counts[(op, st.table, STALE)] += 1
                    event_stale = True
                else:
                    counts[(op, st.table, outcome)] += 1
                    if committed:
                        recent.append(Change(at, self.label, st))
                i += 1
            if committed and not event_stale:
                if KIND[op] == "INSERT":
                    stats.inserts += 1
                else:
                    stats.updates += 1
                stats.latency.observe(result.latency)
                if self.events_log is not None:
                    self.events_log.event(op)
