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

from hospital_sim.db.embedded import EmbeddedServer
from hospital_sim.stream.run import StreamSummary, run_stream
from tests.db.support import create_database
from tests.db.test_embedded import embedded_dir, free_port  # noqa: F401 (fixture)
from tests.db.test_seed import scalar
from tests.db.test_stream import assert_coherent, assert_counters_equal_database, seeded

pytestmark = pytest.mark.db


@pytest.mark.parametrize("workers", [1, 2])
def test_stream_survives_a_server_crash_and_restart(embedded_dir: Path, workers: int) -> None:  # noqa: F811
    server = EmbeddedServer(base_dir=embedded_dir, port=free_port())
    server.start()
    db = seeded(create_database(server.conninfo("postgres")))
    settings = db.settings(stream_rate=300.0, stream_workers=workers, reconnect_base_seconds=0.05)
    stop = threading.Event()
    result: list[StreamSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(run_stream(settings, stop=stop, seed=2)), daemon=True
    )
    runner.start()
    try:
        # Streaming (worker processes take a moment to start, longer on a busy machine):
        # wait for committed rows rather than a fixed time.
        deadline = time.monotonic() + 60
        with db.connect() as conn:
            while int(str(scalar(conn, "SELECT count(*) FROM stream_audit"))) < 50:
                assert time.monotonic() < deadline, "the stream did not start"
                time.sleep(0.05)
        server.stop(mode="immediate")  # like kill -9 of the postmaster
        time.sleep(0.5)
        server.start()
        with db.connect() as conn:
            back = int(str(scalar(conn, "SELECT count(*) FROM stream_audit")))
        time.sleep(1.5)
    finally:
        stop.set()
        runner.join(20)
    assert result, "the stream did not stop"
    summary = result[0]
    assert summary.failure is None, summary.failure
    assert summary.stats.reconnects >= 1
    assert set(summary.stats.in_doubt) <= {"committed", "aborted"}
    with db.connect() as conn:
        after = int(str(scalar(conn, "SELECT count(*) FROM stream_audit")))
    assert after > back, "nothing was written after the server came back"
    assert_counters_equal_database(db, summary)
    assert_coherent(db)
