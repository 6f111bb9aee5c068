"""`stream --model hospital` on a default seed at full speed: a hospital in a steady state.

The run is cut in four equal legs so the database's own census of current stays can be
read between them. HOSPITAL_SIM_TEST_HOSPITAL_EVENTS sets the total (default 80,000; the
issue's acceptance run is 200,000, which takes minutes on a small machine).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator

import pytest

from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.stream.operations import FixedClock
from hospital_sim.stream.run import StreamSummary, run_stream
from hospital_sim.stream.stats import merged
from tests.db.checks import (
    AUDIT,
    assert_coherent,
    audited,
    counted,
    fingerprint,
    scalar,
    seeded,
)
from tests.db.support import FreshDb, create_database, drop_database, run_shards

pytestmark = [pytest.mark.db, pytest.mark.slow]

EVENTS = int(os.environ.get("HOSPITAL_SIM_TEST_HOSPITAL_EVENTS", "80000"))
BEDS, TARGET = 240, 0.8  # the default beds of the default seed (1200 stays / 5)
FAST = {"stream_rate": 1_000_000.0, "stream_interval_seconds": 0, "max_jitter_ms": 0}
CURRENT_STAYS = "SELECT count(*) FROM internacoes WHERE data_saida IS NULL"
SLOTS = 16  # the default STREAM_CLINIC_SLOTS
# The fullest doctor's day: appointments still booked per (doctor, date).
FULLEST_DAY = (
    "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM consultas"
    " WHERE status = 'agendada' GROUP BY medico_id, data::date) t"
)


@pytest.fixture(scope="module")
def hospital_run(
    server_dsn: str,
) -> Iterator[tuple[FreshDb, list[StreamSummary], list[int], list[int]]]:
    db = create_database(server_dsn)
    settings = db.settings()  # default volumes: 2000 patients, 200 doctors, 1200 stays
    init_database(settings)
    seed_database(settings, seed=11)
    with db.connect() as conn:
        conn.execute(AUDIT.encode())
    run = db.settings(**FAST, stream_model="hospital", stream_txn_size=10)
    legs: list[StreamSummary] = []
    census: list[int] = []
    fullest: list[int] = []
    for leg in range(4):
        legs.append(run_stream(run, events=EVENTS // 4, seed=20 + leg))
        with db.connect() as conn:
            census.append(int(str(scalar(conn, CURRENT_STAYS))))
            fullest.append(int(str(scalar(conn, FULLEST_DAY))))
    yield db, legs, census, fullest
    drop_database(server_dsn, db.name)


def test_occupancy_stays_under_the_beds_and_near_the_target(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int], list[int]],
) -> None:
    _db, legs, census, _ = hospital_run
    assert all(leg.stats.beds == BEDS for leg in legs)
    assert all(leg.stats.occupancy_peak <= BEDS for leg in legs)
    assert max(census) <= BEDS
    for occupied in census[2:]:  # the second half
        assert occupied == pytest.approx(TARGET * BEDS, rel=0.10), census


def test_every_event_ran_as_asked(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int], list[int]],
) -> None:
    _db, legs, _, _ = hospital_run
    total = merged(leg.stats for leg in legs)
    events = total.inserts + total.updates
    assert events == EVENTS // 4 * 4
    assert sum(total.substitutions.values()) < 0.005 * events
    # Lifecycles close as well as open: each kind of row is updated, not only inserted.
    ran = {op for (op, _table, _outcome) in total.events}
    assert {"update_consulta", "update_exame", "update_internacao"} <= ran


def test_no_doctors_day_is_booked_past_its_clinic_slots(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int], list[int]],
) -> None:
    db, legs, _, fullest = hospital_run
    assert max(fullest) <= SLOTS, fullest
    with db.connect() as conn:
        # Doctors' days are busy, not empty: the agendas are used, up to the cap.
        assert int(str(scalar(conn, FULLEST_DAY))) >= SLOTS // 2
    assert sum(leg.stats.unbooked for leg in legs) < 0.005 * EVENTS


def test_patients_change_plans_and_stay_in_each_plan_once(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int], list[int]],
) -> None:
    db, legs, _, _ = hospital_run
    changes = merged(leg.stats for leg in legs).events
    changed = sum(n for (op, _t, outcome), n in changes.items()
                  if op == "change_convenio" and outcome == "committed")  # fmt: skip
    assert 0 < changed < 0.001 * EVENTS  # rare: about 0.1 a year per enrolled patient
    with db.connect() as conn:
        # The changed enrolments carry their new card, valid about a year or more (one
        # enrolment may have changed twice).
        renewed = scalar(
            conn,
            "SELECT count(*) FROM pacientes_convenios"
            " WHERE updated_at > created_at AND validade >= current_date + 330",
        )
        assert 1 <= int(str(renewed)) <= changed


def test_the_seed_coherence_rules_hold(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int], list[int]],
) -> None:
    db, _, _, _ = hospital_run
    assert_coherent(db)


def test_counters_equal_the_database(
    hospital_run: tuple[FreshDb, list[StreamSummary], list[int], list[int]],
) -> None:
    db, legs, _, _ = hospital_run
    total: dict[tuple[str, str], int] = {}
    for leg in legs:
        for key, n in counted(leg).items():
            total[key] = total.get(key, 0) + n
    assert total == audited(db)


def test_same_seed_gives_the_same_hospital(make_db: Callable[[], FreshDb]) -> None:
    moment = dt.datetime(2026, 11, 2, 10, 30)

    def streamed_with(seed: int) -> dict[str, object]:
        db = seeded(make_db(), seed=3, audit=False, now=moment)
        settings = db.settings(**FAST, stream_model="hospital", stream_txn_size=20)
        run_stream(settings, events=1500, seed=seed, clock=FixedClock(moment))
        return fingerprint(db)

    first, second, other = streamed_with(9), streamed_with(9), streamed_with(10)
    assert first == second
    assert first != other


def test_shards_and_worker_processes_each_run_their_own_hospital(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db)

    def shard(i: int) -> StreamSummary:
        settings = db.settings(
            **FAST,
            stream_model="hospital",
            stream_beds=40,
            stream_shard_index=i,
            stream_shard_count=2,
            stream_workers=2,
            stream_txn_size=5,
        )
        return run_stream(settings, events=3000, seed=21)

    summaries = run_shards(shard, timeout=120)
    assert len(summaries) == 2
    total: dict[tuple[str, str], int] = {}
    for s in summaries:
        assert s.failure is None and s.snapshot["errors"] == {}
        assert s.stats.inserts + s.stats.updates == 3000
        assert s.stats.beds == 20  # each shard's half of the 40 beds
        assert s.stats.occupancy_peak <= 20
        for key, n in counted(s).items():
            total[key] = total.get(key, 0) + n
    assert total == audited(db)
    with db.connect() as conn:
        assert int(str(scalar(conn, CURRENT_STAYS))) <= 40
    assert_coherent(db)
