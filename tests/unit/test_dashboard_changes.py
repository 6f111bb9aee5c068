"""What a stream tells the dashboard beyond its totals: the row changes it committed (with
the columns each wrote) on /changes, and its figures per worker on /metrics."""

from __future__ import annotations

import datetime as dt
import json
import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest, start_http_server

from hospital_sim.stream.metrics import registry_for, serve
from hospital_sim.stream.operations import (
    UPDATE_CONSULTA,
    UPDATE_ENDERECO,
    UPDATE_EXAME,
    UPDATE_INTERNACAO,
    Statement,
    set_columns,
)
from hospital_sim.stream.stats import RECENT_CHANGES, Change, Outcome, Stats, merged
from hospital_sim.web.scrape import StreamHistory, changes_url, fetch_changes, parse


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_update_statement_knows_its_key_and_the_columns_it_sets() -> None:
    when = dt.datetime(2026, 12, 2, 10, 30)
    st = Statement(UPDATE_CONSULTA, ("realizada", when, 42), "consultas", "UPDATE")
    assert (st.key, st.columns, st.values) == (42, ("status", "data"), ("realizada", when))
    assert set_columns(UPDATE_INTERNACAO) == ("data_saida",)
    with pytest.raises(ValueError, match="not an UPDATE"):
        set_columns(b"DELETE FROM exames WHERE id = %s")


def test_an_insert_statement_writes_every_column_of_its_row() -> None:
    row = (7, 3, 1, dt.datetime(2026, 12, 2), None, "agendada")
    st = Statement(b"INSERT ...", row, "consultas", "INSERT")
    assert st.key == 7 and st.values == row
    assert st.columns[:1] == ("id",) and len(st.columns) == len(row)


def _change(at: float, worker: str, key: int) -> Change:
    return Change(at, worker, Statement(UPDATE_EXAME, ("Normal", key), "exames", "UPDATE"))


def test_merged_stats_keep_the_newest_changes_of_all_workers() -> None:
    a, b = Stats(), Stats()
    for i in range(RECENT_CHANGES + 5):
        a.recent.append(_change(float(2 * i), "0.0", i))  # even times
        b.recent.append(_change(float(2 * i + 1), "0.1", 1000 + i))  # odd times
    both = merged([a, b]).recent
    assert len(both) == RECENT_CHANGES
    times = [c.at for c in both]
    newest = 2.0 * (RECENT_CHANGES + 4) + 1
    assert times == [newest - i for i in range(RECENT_CHANGES)][::-1]
    assert {c.worker for c in both} == {"0.0", "0.1"}


def test_changes_are_served_newest_first_with_values_as_the_page_shows_them() -> None:
    stats = Stats()
    address = "Rua " + "x" * 80
    stats.recent.append(
        Change(1.0, "0.0", Statement(UPDATE_ENDERECO, (address, 5), "pacientes", "UPDATE"))
    )
    when = dt.datetime(2026, 12, 2, 10, 30, 15, 123456)
    stats.recent.append(
        Change(2.0, "0.1", Statement(UPDATE_CONSULTA, ("faltou", when, 9), "consultas", "UPDATE"))
    )
    server = serve(_free_port(), lambda: stats)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        got = fetch_changes(url)
        with urllib.request.urlopen(changes_url(url), timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert json.loads(response.read()) == got
        with urllib.request.urlopen(url, timeout=5) as response:  # /metrics as before
            assert b"hospital_sim_events_total" in response.read()
    finally:
        server.shutdown()
    assert [c["key"] for c in got] == [9, 5]
    assert got[0] == {
        "at": 2.0,
        "worker": "0.1",
        "table": "consultas",
        "op": "UPDATE",
        "key": 9,
        "columns": ["status", "data"],
        "values": ["faltou", "2026-12-02 10:30:15"],
    }
    assert len(got[1]["values"][0]) == 40 and got[1]["values"][0].endswith("…")


def test_a_stream_without_changes_gives_an_empty_feed_not_an_error() -> None:
    # An older stream answers every path with its metrics.
    registry = CollectorRegistry()
    server, thread = start_http_server(_free_port(), addr="127.0.0.1", registry=registry)
    try:
        assert fetch_changes(f"http://127.0.0.1:{server.server_port}/metrics") == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _workers_exposition(events: dict[str, int], reconnects: int = 0) -> str:
    workers = {}
    for name, n in events.items():
        s = Stats()
        s.events[("insert_consulta", "consultas", Outcome.COMMITTED)] = n
        s.reconnects = reconnects if name == "0.1" else 0
        s.errors["40"] = 1 if name == "0.0" else 0
        s.record_lag(0.25)
        workers[name] = s
    return generate_latest(
        registry_for(lambda: merged(workers.values()), workers=lambda: workers)
    ).decode()


def test_each_worker_has_its_own_rate_errors_and_reconnects() -> None:
    history = StreamHistory("http://x/metrics")
    history.add(parse(_workers_exposition({"0.0": 100, "0.1": 100}), t=0.0))
    history.add(parse(_workers_exposition({"0.0": 300, "0.1": 150}, reconnects=2), t=10.0))
    panel = history.panel()
    assert panel["workers"] == [
        {
            "worker": "0.0",
            "rate": 20.0,
            "events_total": 300.0,
            "errors": 1.0,
            "reconnects": 0.0,
            "errors_per_min": 0.0,
            "reconnects_per_min": 0.0,
            "schedule_lag_s": 0.25,
        },
        {
            "worker": "0.1",
            "rate": 5.0,
            "events_total": 150.0,
            "errors": 0.0,
            "reconnects": 2.0,
            "errors_per_min": 0.0,
            "reconnects_per_min": 2.0,
            "schedule_lag_s": 0.25,
        },
    ]
    # The run's totals are the workers' sums, read from their own families.
    assert panel["events_total"] == 450.0 and panel["reconnects"] == 2.0


def test_a_stream_without_worker_figures_has_no_worker_rows() -> None:
    stats = Stats()
    history = StreamHistory("http://x/metrics")
    history.add(parse(generate_latest(registry_for(lambda: stats)).decode(), t=0.0))
    assert history.panel()["workers"] == []
