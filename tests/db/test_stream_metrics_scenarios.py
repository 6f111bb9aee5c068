"""`stream --scenarios --metrics-port`: the scenarios' counters on /metrics, scraped over
HTTP, move while the stream runs and end equal to the stream's own summary, with the
workers as a thread and as worker processes."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hospital_sim.cli.scenario_mix import ScenarioMix
from hospital_sim.scenarios import SCENARIOS
from hospital_sim.stream.metrics import MetricsServer
from hospital_sim.stream.run import StreamSummary, run_stream
from tests.db.checks import seeded
from tests.db.support import FreshDb, free_port

pytestmark = pytest.mark.db

Samples = dict[tuple[tuple[str, str], ...], float]


def scrape(url: str) -> dict[str, Samples]:
    """Every sample of /metrics: by name, then by its sorted labels."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    out: dict[str, Samples] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def by(samples: Samples, *labels: str) -> dict[tuple[str, ...], int]:
    """Sample values keyed by the values of ``labels``, zeros left out."""
    out = {}
    for key, value in samples.items():
        found = dict(key)
        if value:
            out[tuple(found[label] for label in labels)] = int(value)
    return out


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)
    return value


@pytest.fixture
def held_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MetricsServer]]:
    """The stream's /metrics server stays up once the run has ended, so a last scrape reads
    the final figures the summary is made of; it is shut down at the end of the test."""
    held: list[MetricsServer] = []
    real = MetricsServer.shutdown
    monkeypatch.setattr(MetricsServer, "shutdown", lambda self: held.append(self))
    yield held
    for server in held:
        real(server)


def occurrences(url: str) -> int:
    return int(sum(scrape(url).get("hospital_sim_scenario_occurrences_total", {}).values()))


@pytest.mark.parametrize("workers", [1, 2], ids=["thread", "processes"])
def test_scenario_counters_on_metrics_equal_the_summary(
    fresh_db: FreshDb, held_metrics: list[MetricsServer], workers: int
) -> None:
    db = seeded(fresh_db, audit=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    mix = ScenarioMix(names=tuple(SCENARIOS), every=3, hold=0.2)
    settings = db.settings(
        stream_rate=300.0, stream_workers=workers, stream_txn_size=2, metrics_port=port
    )
    stop = threading.Event()
    result: list[StreamSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(run_stream(settings, stop=stop, seed=9, scenarios=mix)),
        daemon=True,
    )
    runner.start()
    try:
        # Every scenario of the mix is listed from the start, then the counts move live.
        first = wait_for("/metrics to answer", lambda: _try(lambda: scrape(url)))
        listed = first["hospital_sim_scenario_occurrences_total"]
        assert {dict(k)["scenario"] for k in listed} == set(SCENARIOS)
        wait_for("scenario occurrences on /metrics", lambda: _try(lambda: occurrences(url)) >= 8)
    finally:
        stop.set()
        runner.join(120)
    assert result and result[0].failure is None
    summary = result[0].as_dict()

    final = scrape(url)  # the same server, after the workers have stopped
    assert by(final["hospital_sim_scenario_occurrences_total"], "scenario") == {
        (name,): n for name, n in summary["scenario_occurrences"].items()
    }
    assert sum(summary["scenario_occurrences"].values()) >= 8
    failed: Counter[tuple[str, str]] = Counter()
    for key, n in summary["scenario_failed"].items():
        name, code = key.rsplit(" ", 1)
        failed[(name, code[:2] if len(code) == 5 and code.isalnum() else "none")] += n
    assert by(
        final.get("hospital_sim_scenario_failures_total", {}), "scenario", "sqlstate_class"
    ) == dict(failed)
    assert by(final["hospital_sim_scenario_skipped_total"], "scenario") == {
        (name,): n for name, n in summary["scenario_skipped"].items()
    }
    rows = by(final["hospital_sim_scenario_rows_total"], "table", "operation")
    assert rows == {tuple(k.split("|")): n for k, n in summary["scenario_rows"].items()}
    assert {op for _, op in rows} >= {"insert", "update", "delete"}
    assert final["hospital_sim_scenario_transactions_total"][()] == summary["scenario_transactions"]
    assert summary["scenario_transactions"] > 0
    # The workers' own figures add up to the run's committed rows too.
    assert sum(final["hospital_sim_worker_events_total"].values()) == summary["rows_committed"]
    assert len(final["hospital_sim_worker_events_total"]) == workers


def _try(read: Callable[[], Any]) -> Any:
    """``read()``, or None while the server is not listening yet."""
    try:
        return read()
    except OSError:
        return None
