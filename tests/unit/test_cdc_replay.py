"""Replay semantics: upserts, deletes, truncates, duplicates, ordering and lag."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hospital_sim.cdc.lsn import percentile
from hospital_sim.cdc.values import UNAVAILABLE
from hospital_sim.cdc.verify.compare import compare
from hospital_sim.cdc.verify.events import ChangeEvent, parse_line
from hospital_sim.cdc.verify.replay import replay


def ev(
    op: str,
    key: int | None,
    after: dict[str, Any] | None = None,
    *,
    lsn: int | None = None,
    before: dict[str, Any] | None = None,
    table: str = "medicos",
    lag: int | None = None,
) -> ChangeEvent:
    placeholders = sum(1 for v in (after or {}).values() if v is UNAVAILABLE)
    ts = None if lag is None else 1_000_000
    return ChangeEvent(
        table, op, key, before, after, lsn, 1, ts, None if ts is None else ts + (lag or 0), 1,
        placeholders,
    )  # fmt: skip


def row(key: int, nome: str, telefone: Any = None) -> dict[str, Any]:
    return {"id": key, "nome": nome, "telefone": telefone}


def test_upsert_delete_and_truncate_on_a_baseline() -> None:
    baseline = {"medicos": [row(1, "Ana"), row(2, "Bia")], "convenios": [{"id": 9}]}
    events = [
        ev("u", 1, row(1, "Ana Maria"), lsn=10),
        ev("c", 3, row(3, "Caio"), lsn=11),
        ev("d", 2, None, lsn=12, before={"id": 2}),
        ev("t", None, None, lsn=13, table="convenios"),
    ]

    result = replay(events, baseline)

    assert result.tables["medicos"] == {1: row(1, "Ana Maria"), 3: row(3, "Caio")}
    assert result.tables["convenios"] == {}
    assert result.stats["medicos"].ops == {"u": 1, "c": 1, "d": 1}


def test_update_that_changes_the_primary_key_moves_the_row() -> None:
    result = replay([ev("u", 5, row(5, "Ana"), before=row(1, "Ana"))], {"medicos": [row(1, "Ana")]})

    assert list(result.tables["medicos"]) == [5]


def test_placeholder_without_an_earlier_value_stays_and_differs() -> None:
    result = replay([ev("u", 1, row(1, "Ana", UNAVAILABLE), lsn=3)])

    assert result.stats["medicos"].unresolved_placeholders == 1
    report = compare(result, {"medicos": [row(1, "Ana", "(11) 1")]})
    (diff,) = report.tables[0].diffs
    assert (diff.column, diff.got) == ("telefone", UNAVAILABLE)
    assert "got __debezium_unavailable_value" in report.render_table()


def test_order_is_checked_per_table_against_the_previous_change() -> None:
    events = [
        ev("c", 1, row(1, "a"), lsn=100),
        ev("c", 1, {"id": 1}, lsn=50, table="convenios"),  # other table: no violation
        ev("c", 2, row(2, "b"), lsn=300),
        ev("c", 3, row(3, "c"), lsn=200),  # one late event
        ev("c", 4, row(4, "d"), lsn=250),  # in order after the previous one
        ev("r", 5, row(5, "e"), lsn=10),  # snapshot reads are not checked
    ]

    result = replay(events)

    assert result.stats["medicos"].order_violations == 1
    assert result.order_violations == 1
    (v,) = result.order_violation_samples
    assert (v.lsn, v.previous_lsn) == (200, 300)


def test_same_key_and_lsn_with_a_different_image_is_not_a_duplicate() -> None:
    result = replay([ev("u", 1, row(1, "a"), lsn=7), ev("u", 1, row(1, "b"), lsn=7)])

    assert result.duplicates == 0
    assert result.tables["medicos"][1]["nome"] == "b"


def test_lag_percentiles_use_change_events_only() -> None:
    events = [ev("c", k, row(k, "x"), lsn=k, lag=k * 10) for k in range(1, 101)]
    events.append(ev("r", 500, row(500, "x"), lsn=1, lag=99_999))

    lag = replay(events).lag

    assert (lag.count, lag.p50_ms, lag.p99_ms, lag.max_ms) == (100, 500, 990, 1000)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 99) == 7
    assert percentile([1, 2, 3, 4], 50) == 2


def test_report_dict_is_json_ready_with_iso_dates() -> None:
    got = {"id": 1, "nome": "Ana", "data": datetime(2025, 3, 14, 8, 2, 11, 250000)}
    want = {**got, "data": datetime(2025, 3, 14, 8, 2, 11)}
    report = compare(replay([ev("c", 1, got, lsn=1, lag=40)]), {"medicos": [want]})

    data = json.loads(json.dumps(report.to_dict()))

    assert data["identical"] is False
    assert data["tables"]["medicos"]["diffs"] == [
        {"id": 1, "column": "data", "expected": "2025-03-14T08:02:11",
         "got": "2025-03-14T08:02:11.250000"},
    ]  # fmt: skip
    assert data["lag_ms"] == {"count": 1, "p50": 40, "p99": 40, "max": 40}
    assert "data expected 2025-03-14 08:02:11, got 2025-03-14 08:02:11.250000" in (
        report.render_table()
    )


def test_interleaved_transactions_in_commit_order_are_not_order_violations() -> None:
    # T1 writes at lsn 100 and 300 and commits at 500; T2 writes at 200 and commits at
    # 400, first. Debezium streams T2 then T1: lsn 200, 100, 300 - a correct stream whose
    # lsn goes back. source.sequence's last commit LSN keeps it in order.
    def change(key: int, lsn: int, last_commit: int | None) -> ChangeEvent:
        event = ev("c", key, row(key, "x"), lsn=lsn)
        event.last_commit_lsn = last_commit
        return event

    with_sequence = [change(2, 200, 50), change(1, 100, 400), change(3, 300, 400)]
    without = [change(2, 200, None), change(1, 100, None), change(3, 300, None)]

    assert replay(with_sequence).order_violations == 0
    assert replay(without).order_violations == 1
    late = [change(1, 100, 400), change(3, 300, 400), change(2, 200, 50)]
    assert replay(late).order_violations == 1


def test_sequence_is_read_from_the_event_source() -> None:
    value: dict[str, Any] = {
        "op": "c", "before": None, "after": {"id": 1}, "ts_ms": 2,
        "source": {"table": "medicos", "lsn": 31865808, "ts_ms": 1,
                   "sequence": '["31865752","31865808"]'},
    }  # fmt: skip
    event = parse_line(json.dumps(value))
    value["source"]["sequence"] = '[null,"31844984"]'  # as on snapshot reads
    read = parse_line(json.dumps(value))

    assert event is not None and event.last_commit_lsn == 31865752
    assert read is not None and read.last_commit_lsn is None
