"""The dashboard's database reads: index plans on a seeded database, and the same numbers
as exact counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.stream.run import run_stream
from hospital_sim.tables import TABLES
from hospital_sim.web import hospital
from tests.db.support import FreshDb

pytestmark = pytest.mark.db

SMALL_TABLE_ROWS = 1_000
"""convenios has 12 rows at every scale (the seed does not multiply it): one page, which
any planner reads whole. Every other hospital table grows with the data."""


def _seq_scans(plan: dict[str, Any]) -> list[str]:
    """Relations read by a sequential scan anywhere in an EXPLAIN (FORMAT JSON) plan."""
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += _seq_scans(child)
    return found


def _plans(db: FreshDb, *, seqscan: bool = True) -> dict[str, list[str]]:
    """Each refresh query's sequentially scanned hospital tables."""
    with db.connect() as conn:
        if not seqscan:
            conn.execute("SET enable_seqscan = off")
        out = {}
        for name, (query, params) in hospital.queries(conn).items():
            row = conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchone()
            assert row is not None and isinstance(row[0], list)
            out[name] = [t for t in _seq_scans(row[0][0]["Plan"]) if t in TABLES]
        return out


def test_no_refresh_query_scans_a_hospital_table_sequentially(fresh_db: FreshDb) -> None:
    settings = fresh_db.settings(seed_scale=8)  # ~107,000 rows: the planner weighs plans
    init_database(settings)
    seed_database(settings, seed=5)
    with fresh_db.connect() as conn:
        conn.execute("ANALYZE")
        sizes = hospital.row_estimates(conn)
    assert sizes["consultas"] > 20_000
    plans = _plans(fresh_db)
    assert set(plans) >= {"rows", "open_stays", "appointments_today", "pending_exams"}
    # As the planner chooses, with its statistics: no big table is read whole.
    assert {n: [t for t in s if sizes[t] > SMALL_TABLE_ROWS] for n, s in plans.items()} == {
        n: [] for n in plans
    }
    # And every query has an index path on every hospital table, convenios included
    # (enable_seqscan = off: a sequential scan then only when nothing else can answer).
    assert _plans(fresh_db, seqscan=False) == {n: [] for n in plans}


def _exact(db: FreshDb) -> dict[str, Any]:
    """The same figures from every row, counted in Python."""
    with db.connect() as conn:
        now = conn.execute("SELECT localtimestamp").fetchone()
        stays: list[tuple[Any, ...]] = conn.execute(
            "SELECT data_entrada, data_saida FROM internacoes"
        ).fetchall()
        appointments: list[tuple[Any, ...]] = conn.execute(
            "SELECT data, status::text FROM consultas"
        ).fetchall()
        exams: list[tuple[Any, ...]] = conn.execute("SELECT data, resultado FROM exames").fetchall()
    assert now is not None
    t = now[0]
    assert isinstance(t, dt.datetime)
    hour = t.replace(minute=0, second=0, microsecond=0)
    first_hour = hour - dt.timedelta(hours=23)

    def slot(moment: dt.datetime) -> int | None:
        i = int(
            (moment.replace(minute=0, second=0, microsecond=0) - first_hour) / dt.timedelta(hours=1)
        )
        return i if 0 <= i < 24 else None

    admissions, discharges = [0] * 24, [0] * 24
    for entrada, saida in stays:
        if (i := slot(entrada)) is not None:
            admissions[i] += 1
        lookback = t - dt.timedelta(days=hospital.DISCHARGE_LOOKBACK_DAYS)
        if saida is not None and entrada >= lookback and (i := slot(saida)) is not None:
            discharges[i] += 1
    today = {"agendada": 0, "realizada": 0, "cancelada": 0, "faltou": 0}
    for data, status in appointments:
        if data.date() == t.date():
            today[status] += 1
    open_since = t - dt.timedelta(days=hospital.OPEN_STAY_DAYS)
    pending_since = t - dt.timedelta(days=hospital.PENDING_EXAM_DAYS)
    return {
        "open_stays": sum(1 for e, s in stays if s is None and e >= open_since),
        "appointments_today": today,
        "pending_exams": sum(1 for d, r in exams if r is None and pending_since <= d <= t),
        "admissions_per_hour": admissions,
        "discharges_per_hour": discharges,
    }


def test_counts_agree_with_exact_counts(fresh_db: FreshDb) -> None:
    settings = fresh_db.settings()
    init_database(settings)
    seed_database(settings, seed=6)
    # A stream stamps today's rows: admissions, discharges, appointments and exams now.
    summary = run_stream(settings.model_copy(update={"stream_rate": 500.0}), events=600, seed=6)
    assert summary.failure is None and summary.stats.updates > 0
    with fresh_db.connect() as conn:
        shown = {**hospital.hospital_counts(conn, beds=300), **hospital.per_hour(conn)}
    exact = _exact(fresh_db)
    assert sum(exact["admissions_per_hour"]) > 0 and exact["open_stays"] > 0
    assert {k: shown[k] for k in exact} == exact
    assert shown["capped"] == [] and shown["capped_per_hour"] == []
    assert shown["occupancy_pct"] == pytest.approx(100 * exact["open_stays"] / 300)
