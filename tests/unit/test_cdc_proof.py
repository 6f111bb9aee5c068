"""The event-level proof on the real Debezium logs: faults a state comparison misses."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from hospital_sim.cdc.schema_types import TABLE_SCHEMAS, PgType
from hospital_sim.cdc.values import EPOCH
from hospital_sim.cdc.verify.proof import ProofReport, prove_events
from hospital_sim.errors import UserError
from tests.unit.cdc_helpers import (
    FIXTURES,
    SETS,
    A,
    B,
    C,
    alter,
    envelope,
    find,
    later_event,
    lines,
    superseded,
    verify,
)


def prove(name: str, log: list[str], *, allow_redelivery: bool = False) -> ProofReport:
    """The set's own clean log is the reference; ``log`` is the pipeline's version of it."""
    return prove_events(
        log,
        lines(name),
        reference_path=FIXTURES / f"{name}.jsonl",
        allow_redelivery=allow_redelivery,
    )


def totals(report: ProofReport) -> dict[str, int]:
    return dict(report.to_dict()["totals"])


@pytest.mark.parametrize("name", SETS)
def test_a_clean_debezium_log_matches_its_reference(name: str) -> None:
    report = prove(name, lines(name))

    assert report.ok
    assert totals(report) == dict.fromkeys(totals(report), 0)
    assert sum(t.matched for t in report.tables) == 57
    assert report.render().endswith(
        "EVENTS IDENTICAL: every reference event exactly once, in order"
    )


@pytest.mark.parametrize("name", [A, C])  # B has no row inserted and then updated
def test_removed_insert_that_a_later_update_supersedes_is_lost(name: str) -> None:
    log = lines(name)
    i = superseded(log, "c")
    table, key = envelope(log[i])["source"]["table"], envelope(log[i])["after"]["id"]
    del log[i]

    report = prove(name, log)
    state = verify(name, log)

    # The final state matches; the replay sees an update of a row nothing inserted.
    assert sum(t.differing + t.missing for t in state.tables) == 0
    assert sum(t.lost_events for t in state.tables) == 1
    assert not state.identical
    assert not report.ok
    assert totals(report)["lost"] == 1
    assert sum(v for k, v in totals(report).items() if k != "lost") == 0
    lost = report.examples["lost"][0]
    assert (lost.table, lost.key, lost.op) == (table, key, "c")
    assert f"lost: {table} id {key} op 'c'" in report.render()
    assert report.render().endswith("EVENTS DIFFER: 1 lost")


def test_removed_snapshot_read_that_a_later_update_supersedes_is_a_lost_snapshot_row() -> None:
    log = lines(A)
    i = superseded(log, "r")
    table, key = envelope(log[i])["source"]["table"], envelope(log[i])["after"]["id"]
    del log[i]

    report = prove(A, log)
    state = verify(A, log)

    assert state.render_table().endswith("NOT IDENTICAL: 1 lost event")
    assert f"{table} id {key}: op 'u'" in state.render_table()
    snapshot = {s.table: s for s in report.snapshot}
    assert snapshot[table].lost == 1
    assert snapshot[table].rows == snapshot[table].expected - 1
    assert totals(report)["lost"] == 1
    assert report.examples["lost"][0].snapshot
    assert f"lost: {table} id {key} snapshot row" in report.render()


def test_removed_update_is_lost_and_named() -> None:
    log = lines(A)
    i = find(log, "consultas", "u", 19)
    del log[i]

    report = prove(A, log)

    assert totals(report)["lost"] == 1
    consultas = next(t for t in report.tables if t.table == "consultas")
    assert (consultas.reference, consultas.matched, consultas.lost) == (23, 22, 1)
    assert report.examples["lost"][0].tx_id == 1012


@pytest.mark.parametrize("name", [A, C])
def test_altered_value_in_a_superseded_image_is_reported_with_the_column(name: str) -> None:
    log = lines(name)
    i = superseded(log, "c")
    key = envelope(log[i])["after"]["id"]
    log[i] = alter(log[i], "created_at", envelope(log[i])["after"]["created_at"] + 1)

    report = prove(name, log)

    assert verify(name, log).identical  # the update that follows overwrote the image
    assert totals(report)["altered"] == 1
    example = report.examples["altered"][0]
    assert example.key == key
    assert [c[0] for c in example.columns] == ["created_at"]
    assert "created_at reference" in report.render()


def test_duplicate_fails_unless_redelivery_is_allowed_and_is_counted_either_way() -> None:
    log = lines(A)
    i = find(log, "pacientes", "c", 21)
    log.insert(i + 1, log[i])

    strict = prove(A, log)
    lenient = prove(A, log, allow_redelivery=True)

    assert not strict.ok and totals(strict)["duplicated"] == 1
    assert lenient.ok and totals(lenient)["duplicated"] == 1
    assert lenient.summary() == "EVENTS IDENTICAL (redelivery allowed): 1 duplicated"


def test_events_of_one_row_swapped_are_reordered() -> None:
    log = lines(A)
    i = find(log, "pacientes", "c", 21)
    j = later_event(log, i)
    log[i], log[j] = log[j], log[i]

    report = prove(A, log)

    assert totals(report) == {
        "lost": 0,
        "duplicated": 0,
        "reordered": 1,
        "altered": 0,
        "unexpected": 0,
    }
    assert report.examples["reordered"][0].op == "c"


def test_redelivery_after_a_restart_is_counted_as_duplicates_in_order() -> None:
    # A connector restarted from its last flushed offset sends the events after it again.
    log = lines(A)
    resent = log[140:150]
    log[150:150] = resent

    report = prove(A, log)
    allowed = prove(A, log, allow_redelivery=True)

    assert totals(report)["duplicated"] == 10
    assert totals(report)["reordered"] == 0
    assert not report.ok and allowed.ok


def test_event_not_in_the_reference_is_unexpected() -> None:
    log = lines(A)
    extra = json.loads(log[find(log, "pacientes", "u")])
    extra["value"]["source"]["lsn"] += 1
    log.append(json.dumps(extra) + "\n")

    report = prove(A, log)

    assert totals(report)["unexpected"] == 1
    assert not report.ok


def test_json_report_has_the_counts_and_examples() -> None:
    log = lines(A)
    del log[find(log, "consultas", "u", 19)]

    data = prove(A, log).to_dict()

    assert data["identical"] is False
    assert data["tables"]["consultas"]["lost"] == 1
    assert data["examples"]["lost"][0]["id"] == 19
    assert data["examples"]["lost"][0]["lsn"].startswith("0/")
    json.dumps(data)


def _iso_encoded(line: str) -> str:
    """``line`` as a converter writing ISO-8601 dates and timestamps would have it."""
    obj = json.loads(line)
    event = obj["value"]
    types = TABLE_SCHEMAS[event["source"]["table"]].types
    for image in (event["before"], event["after"]):
        for column, value in (image or {}).items():
            if isinstance(value, int) and types.get(column) is PgType.TIMESTAMP:
                image[column] = (EPOCH + timedelta(microseconds=value)).isoformat() + "Z"
            elif isinstance(value, int) and types.get(column) is PgType.DATE:
                image[column] = (date(1970, 1, 1) + timedelta(days=value)).isoformat()
    return json.dumps(obj, ensure_ascii=False) + "\n"


def test_a_log_encoded_differently_matches_on_canonical_values() -> None:
    log = [_iso_encoded(line) for line in lines(A)]
    assert log != lines(A)

    clean = prove(A, log)
    i = find(log, "consultas", "u", 19)
    log[i] = alter(log[i], "motivo", "Outro motivo")
    j = find(log, "pacientes", "r", 3)
    log[j] = alter(log[j], "telefone", "(11) 90000-0000")
    faulty = prove(A, log)

    assert clean.ok, clean.render()
    assert sum(t.matched for t in clean.tables) == 57
    assert totals(faulty) == {
        "lost": 0,
        "duplicated": 0,
        "reordered": 0,
        "altered": 2,
        "unexpected": 0,
    }
    changed = [e for e in faulty.examples["altered"] if not e.snapshot]
    assert [c[0] for c in changed[0].columns] == ["motivo"]
    assert {s.table: s.altered for s in faulty.snapshot}["pacientes"] == 1


def test_an_unusable_reference_line_is_named_as_the_reference_s() -> None:
    reference = lines(B)
    reference[3] = "{not json\n"

    with pytest.raises(UserError) as err:
        prove_events(lines(B), reference)

    assert str(err.value).startswith("reference change log line 4: not JSON")


@pytest.mark.parametrize("reference", [[], ["\n", "   \n"]])
def test_a_reference_without_events_is_refused_not_passed(reference: list[str]) -> None:
    # Every log, even an empty one, would "match" it: the proof would pass vacuously. (A
    # reference of snapshot rows alone is fine: the log's snapshot is proven against it.)
    with pytest.raises(UserError) as err:
        prove_events([], reference)

    assert "holds no events" in str(err.value)
    assert "cdc capture" in str(err.value)


def test_a_reference_of_snapshot_rows_alone_proves_the_log_s_snapshot() -> None:
    snapshot = [line for line in lines(A) if envelope(line)["op"] == "r"]
    assert snapshot, "the fixture starts with a snapshot"

    assert prove_events(snapshot, snapshot).ok
    missing = prove_events(snapshot[1:], snapshot)
    assert not missing.ok
