"""A server that crashes and comes back mid-stream: the stream carries on, exactly counted.

The server is an embedded one of the test's own, so it can be stopped the hard way
(``pg_ctl stop -m immediate``: every process killed, crash recovery on start) without
touching the server the other tests use.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from hospital_sim.stream.run import StreamSummary, run_stream
from tests.db.checks import (
    assert_coherent,
    assert_counters_equal_database,
    audit_count,
    committed_more_than,
    seeded,
)
from tests.db.support import create_database, start_embedded, wait_until

pytestmark = pytest.mark.db


@pytest.mark.parametrize("workers", [1, 2])
def test_stream_survives_a_server_crash_and_restart(embedded_dir: Path, workers: int) -> None:
    server = start_embedded(embedded_dir)
    db = seeded(create_database(server.conninfo("postgres")))
    settings = db.settings(stream_rate=300.0, stream_workers=workers, reconnect_base_seconds=0.05)
    stop = threading.Event()
    result: list[StreamSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(run_stream(settings, stop=stop, seed=2)), daemon=True
    )
    runner.start()
    try:
        # Streaming (worker processes take a moment to start, longer on a busy machine).
        wait_until(committed_more_than(db, 49), timeout=60, what="the stream to start")
        server.stop(mode="immediate")  # like kill -9 of the postmaster
        time.sleep(0.5)  # an outage of half a second, not a wait for anything
        server.start()
        back = audit_count(db)
        wait_until(committed_more_than(db, back), timeout=60, what="rows after the restart")
    finally:
        stop.set()
        runner.join(20)
    assert result, "the stream did not stop"
    summary = result[0]
    assert summary.failure is None, summary.failure
    assert summary.stats.reconnects >= 1
    assert set(summary.stats.in_doubt) <= {"committed", "aborted"}
    after = audit_count(db)
    assert after > back, "nothing was written after the server came back"
    assert_counters_equal_database(db, summary)
    assert_coherent(db)
