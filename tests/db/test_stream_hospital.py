"""`stream --model hospital` on a default seed at full speed: a hospital in a steady state.

The run is cut in four equal legs so the database's own census of current stays can be
read between them. HOSPITAL_SIM_TEST_HOSPITAL_EVENTS sets the total (default 80,000; the
issue's acceptance run is 200,000, which takes minutes on a small machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.stream.run import StreamSummary, run_stream
from hospital_sim.stream.stats import merged
from tests.db.checks import AUDIT, assert_coherent, audited, counted, scalar
from tests.db.support import FreshDb, create_database, drop_database

pytestmark = [pytest.mark.db, pytest.mark.slow]

EVENTS = int(os.environ.get("HOSPITAL_SIM_TEST_HOSPITAL_EVENTS", "80000"))
BEDS, TARGET = 240, 0.8  # the default beds of the default seed (1200 stays / 5)
FAST = {"stream_rate": 1_000_000.0, "stream_interval_seconds": 0, "max_jitter_ms": 0}
CURRENT_STAYS = "SELECT count(*) FROM internacoes WHERE data_saida IS NULL"


@pytest.fixture(scope="module")
def hospital_run(server_dsn: str) -> Iterator[tuple[FreshDb, list[StreamSummary], list[int]]]:
    db = create_database(server_dsn)
    settings = db.settings()  # default volumes: 2000 patients, 200 doctors, 1200 stays
    init_database(settings)
    seed_database(settings, seed=11)
    with db.connect() as conn:
        conn.execute(AUDIT.encode())
    run = db.settings(**FAST, stream_model="hospital", stream_txn_size=10)
    legs: list[StreamSummary] = []
    census: list[int] = []
    for leg in range(4):
        legs.append(run_stream(run, events=EVENTS // 4, seed=20 + leg))
        with db.connect() as conn:
            census.append(int(str(scalar(conn, CURRENT_STAYS))))
    yield db, legs, census
    drop_database(server_dsn, db.name)


def test_occupancy_stays_under_the_beds_and_near_the_target(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int]],
) -> None:
    _db, legs, census = hospital_run
    assert all(leg.stats.beds == BEDS for leg in legs)
    assert all(leg.stats.occupancy_peak <= BEDS for leg in legs)
    assert max(census) <= BEDS
    for occupied in census[2:]:  # the second half
        assert occupied == pytest.approx(TARGET * BEDS, rel=0.10), census


def test_every_event_ran_as_asked(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int]],
) -> None:
    _db, legs, _ = hospital_run
    total = merged(leg.stats for leg in legs)
    events = total.inserts + total.updates
    assert events == EVENTS // 4 * 4
    assert sum(total.substitutions.values()) < 0.005 * events
    # Lifecycles close as well as open: each kind of row is updated, not only inserted.
    ran = {op for (op, _table, _outcome) in total.events}
    assert {"update_consulta", "update_exame", "update_internacao"} <= ran


def test_the_seed_coherence_rules_hold(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int]],
) -> None:
    db, _, _ = hospital_run
    assert_coherent(db)


def test_counters_equal_the_database(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int]],
) -> None:
    db, legs, _ = hospital_run
    total: dict[tuple[str, str], int] = {}
    for leg in legs:
        for key, n in counted(leg).items():
            total[key] = total.get(key, 0) + n
    assert total == audited(db)
