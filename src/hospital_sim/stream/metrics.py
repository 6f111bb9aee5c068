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


class SlotLagCollector(Collector):
    """Replication slot lag of the source database, read at scrape time.

    The CDC pipeline's slot is what grows when a consumer falls behind the stream, so it
    belongs next to the stream's own figures. A failed read yields no sample rather than
    failing the whole scrape.
    """

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def collect(self) -> Iterable[Metric]:
        import psycopg

        from hospital_sim.cdc.capture.status import slot_lag

        retained = GaugeMetricFamily(
            f"{PREFIX}_slot_retained_wal_bytes",
            "WAL the server keeps for a replication slot (current LSN - restart_lsn).",
            labels=["slot"],
        )
        flush_lag = GaugeMetricFamily(
            f"{PREFIX}_slot_confirmed_flush_lag_bytes",
            "WAL a slot's consumer has not confirmed yet (current LSN - confirmed_flush_lsn).",
            labels=["slot"],
        )
        active = GaugeMetricFamily(
            f"{PREFIX}_slot_active", "1 when a consumer is attached to the slot.", labels=["slot"]
        )
        try:
            with psycopg.connect(self.conninfo, connect_timeout=2, autocommit=True) as conn:
                dbname = conn.info.dbname
                slots = slot_lag(conn, database=dbname)
        except psycopg.Error:
            slots = []
        for slot in slots:
            if slot.retained_wal_bytes is not None:
                retained.add_metric([slot.slot_name], slot.retained_wal_bytes)
            if slot.confirmed_flush_lag_bytes is not None:
                flush_lag.add_metric([slot.slot_name], slot.confirmed_flush_lag_bytes)
            active.add_metric([slot.slot_name], 1 if slot.active else 0)
        yield retained
        yield flush_lag
        yield active


def registry_for(source: Callable[[], Stats], conninfo: str | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(source))
    if conninfo is not None:
        registry.register(SlotLagCollector(conninfo))
    return registry


def serve(
    port: int, source: Callable[[], Stats], addr: str = "127.0.0.1", conninfo: str | None = None
) -> MetricsServer:
    """Serve /metrics on ``addr:port`` from a daemon thread until ``shutdown()``.

    With ``conninfo``, the source's replication slots are reported too. A port that cannot
    be bound is a :class:`ConfigError` naming the setting.
    """
    registry = registry_for(source, conninfo)
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise ConfigError(
            f"cannot serve /metrics on {addr}:{port} (--metrics-port {port}, "
            f"STREAM_METRICS_PORT; STREAM_METRICS_ADDRESS): {reason}; choose a free port"
        ) from None
    return MetricsServer(port=server.server_port, server=server, registry=registry)
