"""The dashboard over a stream of two worker processes: the feed names the columns each
UPDATE wrote, with the values the database holds, and each worker has its own figures."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from hospital_sim.db.connect import resolve_target
from hospital_sim.stream.metrics import SHOWN_TEXT
from hospital_sim.stream.run import StreamSummary, run_stream
from hospital_sim.web.collect import Collector, Sources
from tests.db.checks import seeded
from tests.db.support import FreshDb, free_port

pytestmark = pytest.mark.db

# What the default (mix) model's updates write, by table.
UPDATE_COLUMNS: dict[str, set[tuple[str, ...]]] = {
    "pacientes": {("telefone",), ("endereco",)},
    "consultas": {("status", "data")},
    "exames": {("resultado",)},
    "internacoes": {("data_saida",)},
}
# Columns the stream writes once and never again: the database still holds what the feed says.
FINAL = {"consultas", "exames", "internacoes"}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
    return value


def _as_shown(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)  # long text is shortened in the feed, marked with an ellipsis
    return text if len(text) <= SHOWN_TEXT else text[: SHOWN_TEXT - 1] + "\u2026"


def test_feed_and_workers_follow_a_two_worker_stream(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    port = free_port()
    settings = db.settings(
        stream_rate=150.0, stream_workers=2, metrics_port=port, reconnect_base_seconds=0.05
    )
    stop = threading.Event()
    result: list[StreamSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(run_stream(settings, stop=stop, seed=4)), daemon=True
    )
    runner.start()
    collector = Collector(
        Sources(
            target=resolve_target(settings),
            metrics_urls=(f"http://127.0.0.1:{port}/metrics",),
            refresh_s=0.5,
        )
    )
    try:

        def updates() -> list[dict[str, Any]]:
            snap = collector.poll()
            assert snap["feed_source"] == "streams"
            return [c for c in snap["feed"] if c["op"] == "UPDATE" and c["table"] in FINAL]

        shown = wait_for("UPDATEs in the feed", updates)
        with db.connect() as conn:
            for change in shown:
                columns = tuple(change["columns"])
                assert columns in UPDATE_COLUMNS[change["table"]], change
                assert change["worker"] in ("0.0", "0.1")
                row = conn.execute(
                    f"SELECT {', '.join(columns)} FROM {change['table']} WHERE id = %s",
                    (change["key"],),
                ).fetchone()
                assert row is not None
                assert [_as_shown(v) for v in row] == change["values"], change

        # Each worker: its own rate, and the totals add up to the stream's.
        def both_writing() -> list[dict[str, Any]]:
            panel = collector.poll()["streams"][0]
            workers: list[dict[str, Any]] = panel.get("workers", [])
            return workers if len(workers) == 2 and all(w["rate"] > 0 for w in workers) else []

        workers = wait_for("both workers' rates", both_writing)
        assert [w["worker"] for w in workers] == ["0.0", "0.1"]
        panel = collector.poll()["streams"][0]
        assert sum(w["events_total"] for w in panel["workers"]) == panel["events_total"]

        # One worker loses its connection: its reconnect shows on its row, not the other's.
        with db.connect() as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'hospital-sim stream 0.1'"
            ).fetchone()
        assert killed is not None and killed[0] == 1

        def reconnects() -> dict[str, float]:
            by_worker = {
                w["worker"]: w["reconnects"] for w in collector.poll()["streams"][0]["workers"]
            }
            return by_worker if by_worker.get("0.1") else {}

        assert wait_for("the reconnect of worker 0.1", reconnects) == {"0.0": 0.0, "0.1": 1.0}
    finally:
        stop.set()
        runner.join(60)
        collector.stop()
    assert result and result[0].failure is None and result[0].stats.reconnects == 1
