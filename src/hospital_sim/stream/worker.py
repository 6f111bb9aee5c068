"""One worker: a connection streaming the events of its partition of the patients."""

from __future__ import annotations

import functools
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable

from hospital_sim.stream.operations import Event, IdReserve, Operations
from hospital_sim.stream.plan import Gate, RunPlan
from hospital_sim.stream.pools import Partition, load_pools
from hospital_sim.stream.session import ErrorLog, Flag, Session, TxnResult
from hospital_sim.stream.stats import Outcome, Stats
from hospital_sim.stream.workload import OPERATIONS, OperationPicker

log = logging.getLogger(__name__)


class EventLog:
    """The per-event log line of the original, with run-wide cycle and totals."""

    def __init__(self, workers: list[Worker], *, level: int) -> None:
        self.workers = workers
        self.level = level
        self._cycle = itertools.count(1)

    def event(self, op: str) -> None:
        if not log.isEnabledFor(self.level):
            return
        spec = OPERATIONS[op]
        ins = sum(w.stats.inserts for w in self.workers)
        upd = sum(w.stats.updates for w in self.workers)
        log.log(
            self.level,
            "[%d] %s %s | INSERT: %d | UPDATE: %d",
            next(self._cycle),
            spec.kind,
            spec.table,
            ins,
            upd,
        )


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
        self.name = f"worker {plan.shard}.{index}"
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
        self._backlog: list[tuple[list[Event], TxnResult]] = []

    def run(self, events: int | None) -> None:
        """Thread body: never raises; a fatal error stops the run and is reported."""
        try:
            self._run(self.plan.budget(events, self.index))
        except threading.BrokenBarrierError:
            pass  # another worker failed to start; it reports why
        except BaseException as exc:  # reported by run_stream
            self.failure = exc
            self.stop.set()
            self.gate.abort()
        finally:
            self._catch_up()
            self.session.close()

    def _run(self, budget: int | None) -> None:
        plan = self.plan
        part = Partition.of(
            shard=plan.shard, shards=plan.shards, worker=self.index, workers=plan.workers
        )
        pools = self.session.call(lambda conn: load_pools(conn, part, self.rng))
        log.debug("%s pools: %s", self.name, pools.sizes())
        ids = IdReserve(part, block=plan.id_batch)
        ops = Operations(rng=self.rng, pools=pools, ids=ids, clock=plan.clock)
        picker = OperationPicker(plan.weights)
        self.gate.wait()  # every worker is loaded: the clock starts for all at once
        pacing = plan.pacing(self.index, random.Random(f"pacing:{plan.seed}:{self.index}"))
        deadline = plan.timeline.deadline
        ids.need = 2 * plan.txn_size  # a transaction and the next one, planned ahead

        def plan_events(n: int) -> list[Event]:
            return [ops.plan(picker.pick(self.rng)) for _ in range(n)]

        done = 0
        ahead: list[Event] | None = None  # planned while the previous one committed
        chained = False  # ``ahead`` is already sent: its answer must be collected
        due = pacing.next_due(time.monotonic())
        while True:
            if chained:
                assert ahead is not None
                events, k = ahead, len(ahead)
            else:
                if self.stop.is_set() or (budget is not None and done >= budget):
                    break
                if deadline is not None and max(due, time.monotonic()) >= deadline:
                    break  # --duration is wall-clock: late events are not caught up after it
                wait = due - time.monotonic()
                if wait > 0 and self.stop.wait(wait):
                    break
                if ids.short():
                    self.session.call(lambda conn: ids.ensure(self.session.wire(conn)))
                k = self._size(budget, done)
                events = ahead if ahead is not None else plan_events(k)
            ahead = None
            if pacing.open_loop:
                self.stats.record_lag(max(0.0, time.monotonic() - due))
            # Open loop, the schedule does not depend on when this one ends. When the next
            # transaction is already due, it is planned (and the previous one counted)
            # while the server commits this one, and sent the moment this one commits.
            upcoming = pacing.next_due(0.0) if pacing.open_loop else None
            box: list[list[Event]] = []
            meanwhile = None
            left = self._size(budget, done + k)
            if (
                upcoming is not None
                and left > 0
                and upcoming <= time.monotonic()
                and (deadline is None or upcoming < deadline)
                and not ids.short()  # ids are reserved between transactions only
            ):
                meanwhile = functools.partial(self._meanwhile, box, plan_events, left)
            result = self.session.run(events, meanwhile, sent=chained)
            chained = result.chained
            if self._backlog:
                self._catch_up()  # the transaction ended before it was sent
            if box:
                ahead = box[0]
                if result.status is not Outcome.COMMITTED:  # undo in reverse order of planning
                    for event in reversed(ahead):
                        event.rollback_pools()
                    ahead = None
            if ahead is not None:
                self._backlog.append((events, result))  # counted during the next one
            else:
                self._account(events, result)
            done += k
            due = upcoming if upcoming is not None else pacing.next_due(time.monotonic())
        self._catch_up()

    def _meanwhile(
        self, box: list[list[Event]], plan: Callable[[int], list[Event]], n: int
    ) -> list[Event]:
        self._catch_up()
        box.append(plan(n))
        return box[0]

    def _catch_up(self) -> None:
        """Count the committed transactions whose counting was left for later."""
        while self._backlog:
            self._account(*self._backlog.pop())

    def _size(self, budget: int | None, done: int) -> int:
        """Events in the next transaction: --txn-size, or what is left of --events."""
        k = self.plan.txn_size
        return k if budget is None else max(0, min(k, budget - done))

    def _account(self, events: list[Event], result: TxnResult) -> None:
        stats = self.stats
        outcome = result.status
        if outcome is not Outcome.COMMITTED:
            for event in events:
                event.rollback_pools()
        if outcome is Outcome.COMMITTED:
            stats.transactions += 1
        i = 0
        for event in events:
            if event.wanted != event.op:
                stats.substitutions[(event.wanted, event.op)] += 1
            event_stale = False
            for st in event.statements:
                stale = outcome is Outcome.COMMITTED and i in result.stale
                state = Outcome.STALE if stale else outcome
                event_stale = event_stale or stale
                stats.events[(event.op, st.table, state)] += 1
                i += 1
            if outcome is Outcome.COMMITTED and not event_stale:
                if OPERATIONS[event.op].kind == "INSERT":
                    stats.inserts += 1
                else:
                    stats.updates += 1
                stats.latency.observe(result.latency)
                if self.events_log is not None:
                    self.events_log.event(event.op)
