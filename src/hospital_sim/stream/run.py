"""A stream run: start the crew, supervise it, stop it gracefully, summarise it.

``run_stream(settings)`` is the whole feature; the CLI only parses flags and prints the
summary. Each worker has its own connection, seeded rng, pools of its own patients and
stats, so workers share nothing on the hot path; they run as threads of this process
(``crews``) or, with several workers at a ``--rate``, in child processes (``processes``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hospital_sim.config import Settings, run_seed
from hospital_sim.db.connect import check_version, connection, server_info
from hospital_sim.db.lifecycle import require_schema
from hospital_sim.db.schema import missing_tables
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import UserError
from hospital_sim.signals import stop_on_signals
from hospital_sim.stream.crews import Crew, ThreadCrew
from hospital_sim.stream.plan import Clock, RunPlan, make_plan, utc_now
from hospital_sim.stream.stats import Stats, fmt_seconds, merged, snapshot
from hospital_sim.stream.workload import OPERATIONS

log = logging.getLogger(__name__)


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
    max_lag: float | None = None
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

    def as_dict(self) -> dict[str, Any]:
        """The outcome for scripts: stable keys, JSON-ready (``--summary-json``)."""
        return {
            "seed": self.seed,
            "workers": self.workers,
            "rate_target": self.rate_target,
            "stopped_by": self.stopped_by,
            "failure": self.failure,
            **self.snapshot,
            **self.extra,
        }

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
        if self.max_lag is not None:
            out.append(
                f"  skipped: {s.skipped} events later than --max-lag {self.max_lag:g} s (not run)"
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


Progress = Callable[[dict[str, Any]], None]

# Advisory lock class of "a stream writes this shard"; the shard index is the object id.
_SHARD_LOCK = 0x48535354  # "HSST"


class ShardBusy(UserError):
    """Another stream already writes this shard of the database."""


def lock_shard(conninfo: str, settings: Settings) -> Any:
    """Hold a session advisory lock on this run's shard; refuse if another stream has it.

    Two streams on one shard pick the same rows to update and break the lifecycle rules
    (two open stays for a patient). The lock lives as long as the returned connection.
    """
    import psycopg

    shard = settings.stream_shard_index
    conn = psycopg.connect(conninfo, autocommit=True, application_name="hospital-sim lock")
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_SHARD_LOCK, shard)).fetchone()
    if row is not None and row[0]:
        return conn
    holder = conn.execute(
        "SELECT l.pid, coalesce(a.client_addr::text, 'local') FROM pg_locks l"
        " LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
        " AND l.classid = %s AND l.objid = %s AND l.granted AND l.database ="
        " (SELECT oid FROM pg_database WHERE datname = current_database())",
        (_SHARD_LOCK, shard),
    ).fetchone()
    dbname = conn.info.dbname
    conn.close()
    who = f" (server pid {holder[0]}, client {holder[1]})" if holder else ""
    raise ShardBusy(
        f"another stream already writes shard {shard} of database {dbname}{who}; stop it, "
        "or give each stream its own shard: --shard-index I --shard-count N"
    )


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
    shard_lock = lock_shard(conninfo, settings)
    try:
        return _run_locked(settings, conninfo, duration, events, seed, stop, clock, progress)
    finally:
        shard_lock.close()


def _run_locked(
    settings: Settings,
    conninfo: str,
    duration: float | None,
    events: int | None,
    seed: int,
    stop: threading.Event | None,
    clock: Clock,
    progress: Progress | None,
) -> StreamSummary:
    stop = stop or threading.Event()
    plan = make_plan(settings, conninfo, seed=seed, duration=duration, clock=clock)
    crew: Crew
    # Worker processes get the plan pickled: a clock other than the module's own (tests
    # pass lambdas) keeps the workers in threads.
    if plan.workers > 1 and plan.rate is not None and clock is utc_now:
        from hospital_sim.stream.processes import ProcessCrew

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
        max_lag=plan.max_lag if plan.rate is not None else None,
    )
    if isinstance(failure, BaseException) and not isinstance(failure, Exception):
        raise failure
    if failure is not None:
        log.error("stream stopped: %s", summary.failure)
    return summary


def _describe(failure: BaseException | str) -> str:
    return failure if isinstance(failure, str) else f"{type(failure).__name__}: {failure}"


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
    from hospital_sim.stream.metrics import serve

    def current() -> Stats:
        return merged(crew.stats())

    return serve(
        settings.metrics_port,
        current,
        addr=str(settings.metrics_address),
        conninfo=plan.conninfo,
    )
