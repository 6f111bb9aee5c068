"""Prometheus /metrics: an adapter that reads the core stats at scrape time.

A custom collector on a private registry, so nothing is kept twice and nothing leaks into
prometheus-client's global registry (tests can start as many servers as they like).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hospital_sim.errors import ConfigError
from hospital_sim.stream.stats import Stats

PREFIX = "hospital_sim"


class StatsCollector(Collector):
    """Turns a :class:`Stats` (read through ``source``) into Prometheus metric families."""

    def __init__(self, source: Callable[[], Stats]) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        s = self.source()
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


def _labelled(
    name: str, doc: str, labels: list[str], values: Iterable[tuple[tuple[str, ...], int]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, n in sorted(values):
        family.add_metric(list(label_values), n)
    return family


@dataclass
class MetricsServer:
    port: int
    server: Any
    registry: CollectorRegistry

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def registry_for(source: Callable[[], Stats], extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """The stream's collector, and ``extra`` ones beside it, on a private registry."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(source))
    for collector in extra:
        registry.register(collector)
    return registry


def serve(
    port: int,
    source: Callable[[], Stats],
    addr: str = "127.0.0.1",
    extra: Iterable[Collector] = (),
) -> MetricsServer:
    """Serve /metrics on ``addr:port`` from a daemon thread until ``shutdown()``.

    ``extra`` collectors are served beside the stream's own (the CLI adds the source's
    replication slot lag, which the stream layer does not know about). A port that cannot
    be bound is a :class:`ConfigError` naming the setting.
    """
    registry = registry_for(source, extra)
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise ConfigError(
            f"cannot serve /metrics on {addr}:{port} (--metrics-port {port}, "
            f"STREAM_METRICS_PORT; STREAM_METRICS_ADDRESS): {reason}; choose a free port"
        ) from None
    return MetricsServer(port=server.server_port, server=server, registry=registry)
