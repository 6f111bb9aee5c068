"""Prometheus /metrics and the /changes feed: adapters that read the core stats when asked.

A custom collector on a private registry, so nothing is kept twice and nothing leaks into
prometheus-client's global registry (tests can start as many servers as they like).
Besides the run's totals it exports a few counters per worker (``worker`` label
``shard.index``) and the scenarios mixed into the stream (``stream --scenarios``: label
values are scenario names, table names, operations and SQLSTATE classes, all bounded sets),
and the same server answers ``/changes`` with the last row changes the
workers committed, as JSON, for the dashboard's feed.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hospital_sim.errors import ConfigError
from hospital_sim.stream.stats import Change, Outcome, Stats, sqlstate_class

PREFIX = "hospital_sim"


Workers = Callable[[], Mapping[str, Stats]]
"""Each worker's own stats by its ``shard.index`` label."""


class StatsCollector(Collector):
    """Turns a :class:`Stats` (read through ``source``) into Prometheus metric families,
    and with ``workers`` a few of them per worker.

    ``scenarios`` names the scenarios mixed into the stream: their occurrence counters are
    exported at 0 from the first scrape, so a rate over the first occurrence is not lost.
    """

    def __init__(
        self,
        source: Callable[[], Stats],
        workers: Workers | None = None,
        scenarios: Iterable[str] = (),
    ) -> None:
        self.source = source
        self.workers = workers
        self.scenarios = tuple(scenarios)

    def collect(self) -> Iterable[Metric]:
        stats = self.source()
        yield from self._totals(stats)
        yield from _scenarios(stats, self.scenarios)
        if self.workers is not None:
            yield from _per_worker(self.workers())

    def _totals(self, s: Stats) -> Iterator[Metric]:
        events = CounterMetricFamily(
            f"{PREFIX}_events",
            "Rows changed by the stream.",
            labels=["operation", "table", "outcome"],
        )
        for (op, table, outcome), n in sorted(s.events.items()):
            events.add_metric([op, table, outcome], n)
        yield events
        latency = HistogramMetricFamily(
            f"{PREFIX}_event_latency_seconds",
            "Commit latency of the transaction carrying each event.",
        )
        latency.add_metric([], s.latency.cumulative(), s.latency.total)
        yield latency
        yield CounterMetricFamily(
            f"{PREFIX}_reconnects", "Connections re-established after a loss.", value=s.reconnects
        )
        yield CounterMetricFamily(
            f"{PREFIX}_skipped_events",
            "Events not run because they were later than STREAM_MAX_LAG_SECONDS.",
            value=s.skipped,
        )
        yield _labelled(
            f"{PREFIX}_in_doubt",
            "Commits whose outcome was resolved after a connection loss.",
            ["outcome"],
            [((k,), v) for k, v in s.in_doubt.items()],
        )
        yield _labelled(
            f"{PREFIX}_substitutions",
            "Operations replaced because they had no candidate row.",
            ["wanted", "ran"],
            [((w, r), n) for (w, r), n in s.substitutions.items()],
        )
        yield _labelled(
            f"{PREFIX}_errors",
            "Failed transactions by SQLSTATE class.",
            ["sqlstate_class"],
            [((k,), v) for k, v in s.errors.items()],
        )
        yield _labelled(
            f"{PREFIX}_retries",
            "Transactions retried, by SQLSTATE.",
            ["sqlstate"],
            [((k,), v) for k, v in s.retries.items()],
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_schedule_lag_seconds",
            "How late the last event started against the --rate schedule.",
            value=s.lag_last,
        )


def _committed(s: Stats) -> int:
    return sum(n for (_, _, outcome), n in s.events.items() if outcome == Outcome.COMMITTED)


def _per_worker(workers: Mapping[str, Stats]) -> Iterator[Metric]:
    """Committed events, errors, reconnects and schedule lag of each worker."""
    yield _labelled(
        f"{PREFIX}_worker_events",
        "Rows committed by each worker (its share of hospital_sim_events_total).",
        ["worker"],
        [((w,), _committed(s)) for w, s in workers.items()],
    )
    yield _labelled(
        f"{PREFIX}_worker_errors",
        "Failed transactions of each worker.",
        ["worker"],
        [((w,), sum(s.errors.values())) for w, s in workers.items()],
    )
    yield _labelled(
        f"{PREFIX}_worker_reconnects",
        "Connections each worker re-established after a loss.",
        ["worker"],
        [((w,), s.reconnects) for w, s in workers.items()],
    )
    lag = GaugeMetricFamily(
        f"{PREFIX}_worker_schedule_lag_seconds",
        "How late each worker's last event started against the --rate schedule.",
        labels=["worker"],
    )
    for w, s in sorted(workers.items()):
        lag.add_metric([w], s.lag_last)
    yield lag


_SQLSTATE = re.compile(r"[0-9A-Z]{5}")


def _failure_labels(key: str) -> tuple[str, str]:
    """(scenario, SQLSTATE class) of a ``Stats.scenarios_failed`` key, "name SQLSTATE"; an
    error without a SQLSTATE (the key names its Python class) is class "none"."""
    name, _, code = key.rpartition(" ")
    return name, sqlstate_class(code if _SQLSTATE.fullmatch(code) else None)


def _scenarios(s: Stats, names: tuple[str, ...]) -> Iterator[Metric]:
    """Occurrences, failures, skips, row changes and transactions of the scenarios."""
    occurrences = Counter({name: 0 for name in names})
    occurrences.update(s.scenarios.copy())
    yield _labelled(
        f"{PREFIX}_scenario_occurrences",
        "Scenario occurrences (stream --scenarios) that ran to the end, by scenario.",
        ["scenario"],
        [((name,), n) for name, n in occurrences.items()],
    )
    failures: Counter[tuple[str, str]] = Counter()
    for key, n in s.scenarios_failed.copy().items():
        failures[_failure_labels(key)] += n
    yield _labelled(
        f"{PREFIX}_scenario_failures",
        "Scenario occurrences that stopped short on an error, by scenario and SQLSTATE "
        "class; the rows they committed before it are counted, and the stream goes on.",
        ["scenario", "sqlstate_class"],
        list(failures.items()),
    )
    skipped = Counter({name: 0 for name in names})
    skipped.update(s.scenarios_skipped.copy())
    yield _labelled(
        f"{PREFIX}_scenario_skipped",
        "Scenario occurrences drawn but not run because one that must not overlap it "
        "was running (a serial scenario, the long report).",
        ["scenario"],
        [((name,), n) for name, n in skipped.items()],
    )
    yield _labelled(
        f"{PREFIX}_scenario_rows",
        "Rows committed by scenario occurrences, by table and operation (insert, update, "
        "delete; truncate counts one per table emptied).",
        ["table", "operation"],
        [((table, op), n) for (table, op), n in s.scenario_rows.copy().items()],
    )
    yield CounterMetricFamily(
        f"{PREFIX}_scenario_transactions",
        "Transactions committed by scenario occurrences.",
        value=s.scenario_transactions,
    )


def _labelled(
    name: str, doc: str, labels: list[str], values: Iterable[tuple[tuple[str, ...], int]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, n in sorted(values):
        family.add_metric(list(label_values), n)
    return family


SHOWN_TEXT = 40
"""Longer text values are cut in /changes (an address, a result): the feed shows a glance."""


def _shown(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | Decimal):
        return str(value)
    text = str(value)
    return text if len(text) <= SHOWN_TEXT else text[: SHOWN_TEXT - 1] + "…"


def changes_json(changes: Iterable[Change]) -> bytes:
    """The body of /changes: the changes newest first, values cut to a glance."""
    return json.dumps(
        [
            {
                "at": c.at,
                "worker": c.worker,
                "table": c.statement.table,
                "op": c.statement.kind,
                "key": c.statement.key,
                "columns": list(c.statement.columns),
                "values": [_shown(v) for v in c.statement.values],
            }
            for c in sorted(changes, key=lambda c: c.at, reverse=True)
        ],
        separators=(",", ":"),
    ).encode()


Changes = Callable[[], Iterable[Change]]
App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _app(registry: CollectorRegistry, changes: Changes) -> App:
    """/changes as JSON; every other path is /metrics, as prometheus-client serves it."""
    metrics: App = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/").endswith("/changes"):
            body = changes_json(changes())
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return metrics(environ, start_response)

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress does not hold the run's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


@dataclass
class MetricsServer:
    port: int
    server: Any
    registry: CollectorRegistry

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def registry_for(
    source: Callable[[], Stats],
    extra: Iterable[Collector] = (),
    *,
    workers: Workers | None = None,
    scenarios: Iterable[str] = (),
) -> CollectorRegistry:
    """The stream's collector, and ``extra`` ones beside it, on a private registry."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(source, workers, scenarios))
    for collector in extra:
        registry.register(collector)
    return registry


def serve(
    port: int,
    source: Callable[[], Stats],
    addr: str = "127.0.0.1",
    extra: Iterable[Collector] = (),
    *,
    workers: Workers | None = None,
    scenarios: Iterable[str] = (),
) -> MetricsServer:
    """Serve /metrics and /changes on ``addr:port`` from a daemon thread until ``shutdown()``.

    ``extra`` collectors are served beside the stream's own (the CLI adds the source's
    replication slot lag, which the stream layer does not know about); ``workers`` adds the
    per-worker figures; ``scenarios`` (the names mixed in) exports their occurrence
    counters from 0. A port that cannot be bound is a :class:`ConfigError` naming the
    setting.
    """
    registry = registry_for(source, extra, workers=workers, scenarios=scenarios)
    try:
        family = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        server_class = type("MetricsHTTPServer", (_Server,), {"address_family": family[0][0]})
        server: WSGIServer = make_server(
            addr, port, _app(registry, lambda: source().recent), server_class, _QuietHandler
        )
    except OSError as exc:
        reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise ConfigError(
            f"cannot serve /metrics on {addr}:{port} (--metrics-port {port}, "
            f"STREAM_METRICS_PORT; STREAM_METRICS_ADDRESS): {reason}; choose a free port"
        ) from None
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return MetricsServer(port=server.server_port, server=server, registry=registry)
