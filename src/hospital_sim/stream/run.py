"""A stream run: start the crew, supervise it, stop it gracefully, summarise it.

``run_stream(settings)`` is the whole feature; the CLI only parses flags and prints the
summary. Each worker has its own connection, seeded rng, pools of its own patients and
stats, so workers share nothing on the hot path. One worker runs as a thread of this
process (``crews``); several run in child processes (``processes``), in either pacing.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hospital_sim.config import Settings, run_seed
from hospital_sim.db.connect import check_version, connection, server_info
from hospital_sim.db.lifecycle import require_privileges, require_schema
from hospital_sim.db.schema import missing_privileges, missing_tables
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import UserError
from hospital_sim.signals import stop_on_signals
from hospital_sim.stream.crews import Crew, ThreadCrew, describe
from hospital_sim.stream.mixing import Mix, prepare
from hospital_sim.stream.operations import Clock
from hospital_sim.stream.plan import RunPlan, make_plan, utc_now
from hospital_sim.stream.stats import Outcome, Stats, fmt_seconds, merged, snapshot
from hospital_sim.stream.workload import OPERATIONS

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

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
    model: str = "mix"
    scenarios: str | None = None
    """The scenarios mixed in and their frequency, for the summary (None: none)."""

    @property
    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.stats, elapsed=self.elapsed)

    def rows(self, table: str, kind: str) -> int:
        """Committed rows of ``table`` changed by INSERT (or UPDATE) operations."""
        return sum(
            n
            for (op, t, outcome), n in self.stats.events.items()
            if t == table and outcome == Outcome.COMMITTED and OPERATIONS[op].kind == kind
        )

    def as_dict(self) -> dict[str, Any]:
        """The outcome for scripts: stable keys, JSON-ready (``--summary-json``)."""
        return {
            "seed": self.seed,
            "model": self.model,
            "workers": self.workers,
            "rate_target": self.rate_target,
            "stopped_by": self.stopped_by,
            "failure": self.failure,
            "scenarios": self.scenarios,
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
                out.append(f"    {op:<19} {parts}")
        links = self.rows("pacientes_convenios", "INSERT")
        if links:
            out.append(f"    (plus {links} pacientes_convenios links made by insert_paciente)")
        total = sum(sum(by_op[op].values()) for op in by_op)
        if total:
            mix = ", ".join(
                f"{op} {100 * sum(by_op[op].values()) / total:.1f}%"
                for op in OPERATIONS
                if op in by_op
            )
            out.append(f"  achieved mix ({self.model} model): {mix}")
        if self.model == "hospital":
            occupancy = 100 * s.occupied / s.beds if s.beds else 0.0
            out.append(
                f"  beds {s.beds}: occupied {s.occupied} ({occupancy:.1f}%), peak "
                f"{s.occupancy_peak}; admissions that waited for a bed: {s.deferred_admissions}"
            )
            out.append(f"  bookings given up (no free clinic slot): {s.unbooked}")
        subs = ", ".join(f"{k} {v}" for k, v in snap["substitutions"].items()) or "none"
        substituted = sum(s.substitutions.values())
        if substituted and total:
            subs += (
                f" ({100 * substituted / total:.1f}% of events had no candidate row: the mix"
                " admits faster than it discharges, see GUIDE.md 'Stream models')"
            )
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
        if self.scenarios is not None:
            out += scenario_lines(s, self.scenarios)
        if self.failure:
            out.append(f"  stopped early: {self.failure}")
        return out


def scenario_lines(s: Stats, mixed: str) -> list[str]:
    """The summary's scenario part: occurrences, and their committed rows by table and op."""
    done = ", ".join(f"{k} {v}" for k, v in sorted(s.scenarios.items())) or "none"
    out = [f"  scenarios ({mixed}): occurrences {done}"]
    if s.scenarios_failed:
        failed = ", ".join(f"{k}: {v}" for k, v in sorted(s.scenarios_failed.items()))
        out.append(f"    stopped short (what they committed is counted): {failed}")
    if s.scenarios_skipped:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(s.scenarios_skipped.items()))
        out.append(f"    skipped (one like it was running): {skipped}")
    total = sum(s.scenario_rows.values())
    out.append(f"    rows changed: {total} in {s.scenario_transactions} transactions")
    by_table: dict[str, list[str]] = {}
    for (table, op), n in sorted(s.scenario_rows.items()):
        by_table.setdefault(table, []).append(f"{op} {n}")
    for table, parts in by_table.items():
        out.append(f"      {table:<20} {', '.join(parts)}")
    return out


def _preflight(settings: Settings) -> str:
    target = prepare_target(settings)
    with connection(target, deadline=settings.connect_timeout) as conn:
        check_version(server_info(conn))
        require_schema(missing_tables(conn))
        require_privileges(conn.info.user, missing_privileges(conn))
    return target.conninfo


OnSnapshot = Callable[[dict[str, Any]], None]
"""Called once a second with the run's snapshot (the live view), instead of the log line."""
Collectors = Callable[[str], "Iterable[Collector]"]
"""Given the run's conninfo, more Prometheus collectors to serve beside the stream's."""

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
    progress: OnSnapshot | None = None,
    collectors: Collectors | None = None,
    scenarios: Mix | None = None,
) -> StreamSummary:
    """Stream events until ``duration``, ``events``, ``stop`` or SIGINT/SIGTERM.

    ``scenarios`` mixes scenario occurrences into the workers' transactions (their DDL
    runs once first); the CLI builds it from ``--scenarios`` (``cli.scenario_mix``).

    With ``settings.metrics_port``, /metrics serves the stream's stats and whatever
    ``collectors(conninfo)`` returns (the CLI adds the replication slots' lag).

    Several workers run in worker processes (``processes``), whatever the pacing; one
    worker runs as a thread of this process (``crews``). ``clock`` stamps the rows;
    worker processes receive it pickled, so it must be picklable there (a
    :class:`~hospital_sim.stream.operations.FixedClock`, a module-level function): a
    lambda raises ValueError rather than silently changing how the workers run.
    """
    in_processes = settings.stream_workers > 1
    if in_processes:
        _check_picklable(clock)
    seed = run_seed(settings, seed)
    log.info("stream seed %d (pass --seed %d to repeat this sequence)", seed, seed)
    conninfo = _preflight(settings)
    shard_lock = lock_shard(conninfo, settings)
    try:
        plan = make_plan(settings, conninfo, seed=seed, duration=duration, clock=clock)
        if scenarios is not None:
            with connection(prepare_target(settings), deadline=settings.connect_timeout) as c:
                prepare(scenarios, c)
            plan = replace(plan, mix=scenarios)
        return _run_locked(
            settings,
            plan,
            events=events,
            stop=stop or threading.Event(),
            progress=progress,
            collectors=collectors,
            in_processes=in_processes,
        )
    finally:
        shard_lock.close()


def _run_locked(
    settings: Settings,
    plan: RunPlan,
    *,
    events: int | None,
    stop: threading.Event,
    progress: OnSnapshot | None,
    collectors: Collectors | None,
    in_processes: bool,
) -> StreamSummary:
    """Run the crew with the shard locked: supervise it, stop it, summarise it."""
    crew: Crew
    if in_processes:
        from hospital_sim.stream.processes import ProcessCrew

        crew = ProcessCrew(plan, events, stop)
    else:
        crew = ThreadCrew(plan, events, stop)
    reason = ["end"]

    def on_signal(name: str) -> None:
        reason[0] = name
        stop.set()

    metrics = _start_metrics(settings, crew, plan, collectors)
    with stop_on_signals(on_signal):
        try:
            crew.start()
            _supervise(crew, plan, stop, progress)
        finally:
            stop.set()
            crew.finish()
            if metrics is not None:
                metrics.shutdown()
    start = crew.started()
    elapsed = 0.0 if start is None else time.monotonic() - start.monotonic
    failure = crew.failure()
    summary = StreamSummary(
        seed=plan.seed,
        elapsed=elapsed,
        workers=plan.workers,
        rate_target=plan.rate,
        stats=merged(crew.stats()),
        failure=failure if failure is None or isinstance(failure, str) else describe(failure),
        stopped_by=reason[0],
        max_lag=plan.max_lag if plan.rate is not None else None,
        model=plan.model,
        scenarios=None if plan.mix is None else describe_mix(plan.mix),
    )
    if isinstance(failure, BaseException) and not isinstance(failure, Exception):
        raise failure
    if failure is not None:
        log.error("stream stopped: %s", summary.failure)
    return summary


def describe_mix(mix: Mix) -> str:
    return f"{', '.join(mix.names)}; one per {mix.every:g} transactions on average"


def _check_picklable(clock: Clock) -> None:
    """Worker processes receive the plan pickled, clock included: say so plainly rather
    than fail inside a child (or quietly run the workers as threads instead)."""
    try:
        pickle.dumps(clock)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ValueError(
            f"run_stream(clock={clock!r}) cannot reach the worker processes that "
            "--workers > 1 uses: pass a picklable clock, such as "
            "FixedClock(moment) or a module-level function"
        ) from exc


def _supervise(
    crew: Crew, plan: RunPlan, stop: threading.Event, progress: OnSnapshot | None
) -> None:
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
            start = crew.started()
            if start is None:
                continue  # still loading pools
            snap = snapshot(merged(crew.stats()), elapsed=now - start.monotonic)
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


def _start_metrics(
    settings: Settings, crew: Crew, plan: RunPlan, collectors: Collectors | None
) -> Any:
    if settings.metrics_port is None:
        return None
    from hospital_sim.stream.metrics import serve

    def current() -> Stats:
        return merged(crew.stats())

    def workers() -> dict[str, Stats]:
        return {f"{plan.shard}.{i}": s for i, s in enumerate(crew.stats())}

    extra = () if collectors is None else collectors(plan.conninfo)
    return serve(
        settings.metrics_port,
        current,
        addr=str(settings.metrics_address),
        extra=extra,
        workers=workers,
        scenarios=() if plan.mix is None else plan.mix.names,
    )
