"""The source's replication slot lag on the stream's /metrics, read at scrape time.

An adapter between two layers that do not know each other: the stream serves /metrics,
the CDC side knows the slots. The command line hands this collector to the stream.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hospital_sim.cdc.capture.status import slot_lag
from hospital_sim.stream.metrics import PREFIX


class SlotLagCollector(Collector):
    """Replication slot lag of the source database, read at scrape time.

    The CDC pipeline's slot is what grows when a consumer falls behind the stream, so it
    belongs next to the stream's own figures. A failed read yields no sample rather than
    failing the whole scrape.
    """

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def collect(self) -> Iterable[Metric]:
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


def slot_collectors(conninfo: str) -> list[Collector]:
    """What ``run_stream(collectors=...)`` serves beside the stream's own figures."""
    return [SlotLagCollector(conninfo)]
