"""The stream: workers, pacing, graceful stop, and the final summary.

``run_stream(settings)`` is the whole feature; the CLI only parses flags and prints the
summary. Each worker is a thread with its own connection, seeded rng, pools of its own
patients and stats, so workers share nothing on the hot path.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hospital_sim.config import Settings, run_seed
from hospital_sim.db import check_version, connection, server_info
from hospital_sim.lifecycle import require_schema
from hospital_sim.operations import Event, IdReserve, Operations
from hospital_sim.pacing import IntervalPacing, Pacing, RatePacing, make_profile
from hospital_sim.pools import Partition, load_pools
from hospital_sim.schema import missing_tables
from hospital_sim.server import prepare_target
from hospital_sim.signals import stop_on_signals
from hospital_sim.stats import Stats, fmt_seconds, merged, snapshot
from hospital_sim.txn import Backoff, ErrorLog, Flag, Session, TxnResult
from hospital_sim.workload import OPERATIONS, OperationPicker

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Naive UTC, like every timestamp the generator writes."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class Timeline:
    """When the run started: set once every worker has loaded its pools."""

    duration: float | None
    started: float = 0.0  # monotonic
    started_utc: dt.datetime = dt.datetime.min
    deadline: float | None = None  # monotonic

    def begin(self) -> None:
        self.adopt(time.monotonic(), utc_now())

    def adopt(self, started: float, started_utc: dt.datetime) -> None:
        """Start at a moment chosen elsewhere (the monotonic clock is the machine's)."""
        self.started = started
        self.started_utc = started_utc
        if self.duration is not None:
            self.deadline = self.started + self.duration


class Gate(Protocol):
    """Where workers wait for each other before the clock starts (threading.Barrier)."""

    def wait(self, timeout: float | None = None) -> int: ...
    def abort(self) -> None: ...


@dataclass(frozen=True)
class RunPlan:
    """What every worker needs to know, fixed for the run."""

    conninfo: str
    seed: int
    shard: int
    shards: int
    workers: int
    txn_size: int
    id_batch: int
    rate: float | None
    weights: dict[str, float]
    interval: float
    jitter: float
    profile: str
    ramp_seconds: float
    time_scale: float
    backoff: Backoff
    timeline: Timeline
    clock: Clock = utc_now

    def budget(self, events: int | None, worker: int) -> int | None:
        """This worker's share of ``--events``."""
        if events is None:
            return None
        return events // self.workers + (1 if worker < events % self.workers else 0)

    def pacing(self, worker: int, rng: random.Random) -> Pacing:
        if self.rate is None:
            return IntervalPacing(interval=self.interval, jitter=self.jitter, rng=rng)
        profile = make_profile(
            self.profile,
            ramp_seconds=self.ramp_seconds,
            time_scale=self.time_scale,
            start_utc=self.timeline.started_utc,
        )
        return RatePacing(
            rate=self.rate / self.workers,
            start=self.timeline.started,
            profile=profile,
            events_per_txn=self.txn_size,
            phase=worker / self.workers,
        )


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
                if result.status != "committed":  # undo in reverse order of planning
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
        if outcome in ("failed", "abandoned", "unresolved"):
            for event in events:
                event.rollback_pools()
        if outcome == "committed":
            stats.transactions += 1
        i = 0
        for event in events:
            if event.wanted != event.op:
                stats.substitutions[(event.wanted, event.op)] += 1
            event_stale = False
            for st in event.statements:
                state = "stale" if outcome == "committed" and i in result.stale else outcome
                event_stale = event_stale or state == "stale"
                stats.events[(event.op, st.table, state)] += 1
                i += 1
            if outcome == "committed" and not event_stale:
                if OPERATIONS[event.op].kind == "INSERT":
                    stats.inserts += 1
                else:
                    stats.updates += 1
                stats.latency.observe(result.latency)
                if self.events_log is not None:
                    self.events_log.event(event.op)


@dataclass
class StreamSummary:
    """What a run did, for the final report and for tests."""

    seed: int
    elapsed: float
    workers: int
    rate_target: float | None
    stats: Stats
    failure: str | None = None
    stopped_by: str = "end"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.stats, elapsed=self.elapsed)

    def rows(self, table: str, kind: str) -> int:
        """Committed rows of ``table`` changed by INSERT (or UPDATE) operations."""
        return sum(
            n
            for (op, t, outcome), n in self.stats.events.items()
            if t == table and outcome == "committed" and OPERATIONS[op].kind == kind
        )

    def lines(self) -> list[str]:
        s, snap = self.stats, self.snapshot
        target = f" (target {self.rate_target:g}/s)" if self.rate_target else ""
        out = [
            f"stream summary (seed {self.seed}, {self.workers} worker(s), stopped by "
            f"{self.stopped_by})",
            f"  events committed: {snap['events_committed']} in {self.elapsed:.1f} s = "
            f"{snap['rate']:.1f} events/s{target}; INSERT {s.inserts}, UPDATE {s.updates}; "
            f"{s.transactions} transactions",
            f"  latency p50 {fmt_seconds(snap['latency_p50'])}, p95 "
            f"{fmt_seconds(snap['latency_p95'])}, p99 {fmt_seconds(snap['latency_p99'])}",
        ]
        by_op: dict[str, dict[str, int]] = {}
        for (op, table, outcome), n in sorted(s.events.items()):
            if table == OPERATIONS[op].table:  # the link rows of insert_paciente are extra
                by_op.setdefault(op, {})[outcome] = by_op.get(op, {}).get(outcome, 0) + n
        for op in OPERATIONS:
            if op in by_op:
                parts = ", ".join(f"{k} {v}" for k, v in sorted(by_op[op].items()))
                out.append(f"    {op:<18} {parts}")
        links = self.rows("pacientes_convenios", "INSERT")
        if links:
            out.append(f"    (plus {links} pacientes_convenios links made by insert_paciente)")
        subs = ", ".join(f"{k} {v}" for k, v in snap["substitutions"].items()) or "none"
        doubt = ", ".join(f"{k} {v}" for k, v in snap["in_doubt"].items()) or "none"
        errors = ", ".join(f"class {k}: {v}" for k, v in snap["errors"].items()) or "none"
        retries = ", ".join(f"{k}: {v}" for k, v in snap["retries"].items()) or "none"
        out += [
            f"  reconnects {s.reconnects}; in-doubt commits: {doubt}; retries: {retries}",
            f"  substitutions: {subs}",
            f"  errors: {errors}",
        ]
        if self.rate_target:
            out.append(
                f"  schedule lag: mean {fmt_seconds(snap['lag_mean'])}, "
                f"max {fmt_seconds(snap['lag_max'])}"
            )
        if self.failure:
            out.append(f"  stopped early: {self.failure}")
        return out


def _preflight(settings: Settings) -> str:
    target = prepare_target(settings)
    with connection(target, deadline=settings.connect_timeout) as conn:
        check_version(server_info(conn))
        require_schema(missing_tables(conn))
    return target.conninfo


def make_plan(
    settings: Settings, conninfo: str, *, seed: int, duration: float | None, clock: Clock
) -> RunPlan:
    return RunPlan(
        conninfo=conninfo,
        seed=seed,
        shard=settings.stream_shard_index,
        shards=settings.stream_shard_count,
        workers=settings.stream_workers,
        txn_size=settings.stream_txn_size,
        id_batch=settings.batch_size,
        rate=settings.stream_rate,
        weights=dict(settings.stream_weights),
        interval=settings.stream_interval_seconds,
        jitter=settings.max_jitter_ms / 1000,
        profile=settings.stream_profile,
        ramp_seconds=settings.stream_ramp_seconds,
        time_scale=settings.stream_time_scale,
        backoff=Backoff(settings.reconnect_base_seconds, settings.reconnect_cap_seconds),
        timeline=Timeline(duration=duration),
        clock=clock,
    )


Progress = Callable[[dict[str, Any]], None]


def run_stream(
    settings: Settings,
    *,
    duration: float | None = None,
    events: int | None = None,
    seed: int | None = None,
    stop: threading.Event | None = None,
    clock: Clock = utc_now,
    progress: Progress | None = None,
) -> StreamSummary:
    """Stream events until ``duration``, ``events``, ``stop`` or SIGINT/SIGTERM."""
    seed = run_seed(settings, seed)
    log.info("stream seed %d (pass --seed %d to repeat this sequence)", seed, seed)
    conninfo = _preflight(settings)
    stop = stop or threading.Event()
    plan = make_plan(settings, conninfo, seed=seed, duration=duration, clock=clock)
    crew: Crew
    # Worker processes get the plan pickled: a clock other than the module's own (tests
    # pass lambdas) keeps the workers in threads.
    if plan.workers > 1 and plan.rate is not None and clock is utc_now:
        from hospital_sim.procs import ProcessCrew

        crew = ProcessCrew(plan, events, stop)
    else:
        crew = ThreadCrew(plan, events, stop)
    reason = ["end"]

    def on_signal(name: str) -> None:
        reason[0] = name
        stop.set()

    metrics = _start_metrics(settings, crew, plan)
    with stop_on_signals(on_signal):
        try:
            crew.start()
            _supervise(crew, plan, stop, progress)
        finally:
            stop.set()
            crew.finish()
            if metrics is not None:
                metrics.shutdown()
    elapsed = time.monotonic() - plan.timeline.started if plan.timeline.started else 0.0
    failure = crew.failure()
    summary = StreamSummary(
        seed=seed,
        elapsed=elapsed,
        workers=plan.workers,
        rate_target=plan.rate,
        stats=merged(crew.stats()),
        failure=None if failure is None else _describe(failure),
        stopped_by=reason[0],
    )
    if isinstance(failure, BaseException) and not isinstance(failure, Exception):
        raise failure
    if failure is not None:
        log.error("stream stopped: %s", summary.failure)
    return summary


def _describe(failure: BaseException | str) -> str:
    return failure if isinstance(failure, str) else f"{type(failure).__name__}: {failure}"


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
        return [w.stats for w in self.workers]

    def stopping(self) -> bool:
        return self.stop.is_set()

    def failure(self) -> BaseException | str | None:
        return next((w.failure for w in self.workers if w.failure is not None), None)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def _supervise(crew: Crew, plan: RunPlan, stop: threading.Event, progress: Progress | None) -> None:
    """Wait for the workers; once a second, report progress."""
    next_tick = time.monotonic() + 1.0
    while alive := [m for m in crew.members() if m.is_alive()]:
        # Joining (not sleeping) returns as soon as the last worker ends.
        alive[0].join(max(0.0, min(next_tick - time.monotonic(), 1.0)))
        if stop.is_set() or crew.stopping():
            return
        now = time.monotonic()
        if now >= next_tick:
            next_tick += 1.0
            if not plan.timeline.started:
                continue  # still loading pools
            snap = snapshot(merged(crew.stats()), elapsed=now - plan.timeline.started)
            if progress is not None:
                progress(snap)
            elif plan.rate is not None:
                log.info("%s", progress_line(snap))


def progress_line(snap: dict[str, Any]) -> str:
    """pgbench -P style: elapsed, rate, totals, lag, errors."""
    errors = sum(snap["errors"].values())
    return (
        f"progress: {snap['elapsed_seconds']:.1f} s, {snap['rate']:.1f} events/s, "
        f"{snap['events_committed']} events (INSERT {snap['inserts']}, UPDATE "
        f"{snap['updates']}), p95 {fmt_seconds(snap['latency_p95'])}, lag "
        f"{fmt_seconds(snap['lag_last'])} (max {fmt_seconds(snap['lag_max'])}), "
        f"errors {errors}, reconnects {snap['reconnects']}"
    )


def _start_metrics(settings: Settings, crew: Crew, plan: RunPlan) -> Any:
    if settings.metrics_port is None:
        return None
    from hospital_sim.metrics import serve

    def current() -> Stats:
        return merged(crew.stats())

    return serve(settings.metrics_port, current, conninfo=plan.conninfo)
