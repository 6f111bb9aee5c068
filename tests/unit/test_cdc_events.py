"""Every accepted change-log shape and value encoding parses to the same canonical event."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hospital_sim.cdc.capture.envelope import row_event
from hospital_sim.cdc.values import UNAVAILABLE
from hospital_sim.cdc.verify.events import ChangeEvent, ChangeLogError, ChangeLogParser, parse_line
from hospital_sim.cdc.verify.replay import replay
from tests.unit.cdc_helpers import A, C, find, lines

A_LOG = lines(A)
WRAPPED = json.loads(A_LOG[find(A_LOG, "pacientes", "c", 21)])
VALUE: dict[str, Any] = WRAPPED["value"]
KEY = {"id": 21}
C_FIRST = json.loads(lines(C)[0])
VALUE_SCHEMA, KEY_SCHEMA = C_FIRST["value"]["schema"], C_FIRST["key"]["schema"]

CANONICAL_AFTER = {
    "id": 21,
    "nome": "Gabriel Estêvão Nogueira",
    "nascimento": date(1999, 1, 15),
    "cpf": "535.100.543-34",
    "telefone": "(11) 99102-3345",
    "endereco": "Rua Vergueiro, 2045, apto 71 - Vila Mariana, São Paulo - SP, 04101-000",
    "data_cadastro": datetime(2025, 3, 14, 8, 2, 11, 250000),
    "created_at": datetime(2026, 11, 29, 0, 28, 29, 935400),
    "updated_at": datetime(2026, 11, 29, 0, 28, 29, 935400),
}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def essence(event: ChangeEvent | None) -> tuple[Any, ...]:
    assert event is not None
    return (
        event.table, event.op, event.key, event.before, event.after,
        event.lsn, event.tx_id, event.source_ts_ms, event.ts_ms,
    )  # fmt: skip


def with_after(**changes: Any) -> str:
    value = json.loads(dumps(VALUE))
    value["after"].update(changes)
    return dumps(value)


def after_of(line: str) -> dict[str, Any]:
    event = parse_line(line)
    assert event is not None and event.after is not None
    return event.after


def own_capture_line() -> str:
    source = VALUE["source"]
    return dumps(
        row_event(
            "pacientes", "c", before=None, after=CANONICAL_AFTER, db="hospital",
            lsn=source["lsn"], tx_id=source["txId"], source_ts_ms=source["ts_ms"],
            ts_ms=VALUE["ts_ms"],
        )
    )  # fmt: skip


SCHEMA_VALUE = {"schema": VALUE_SCHEMA, "payload": VALUE}
SCHEMA_KEY = {"schema": KEY_SCHEMA, "payload": KEY}
SHAPES = {
    "a fixture wrapper": dumps(WRAPPED),
    "b bare value envelope": dumps(VALUE),
    "c schemas enabled, wrapped": dumps(
        {"topic": "dbz.public.pacientes", "key": SCHEMA_KEY, "value": SCHEMA_VALUE}
    ),
    "c schemas enabled, bare": dumps(SCHEMA_VALUE),
    "d console consumer, value only": dumps(VALUE),
    "d console consumer, print.key": f"{dumps(KEY)}\t{dumps(VALUE)}",
    "d console consumer, schemas and key": f"{dumps(SCHEMA_KEY)}\t{dumps(SCHEMA_VALUE)}",
    "d console consumer, timestamp and partition": (
        f"CreateTime:1795912109977\tPartition:0\t{dumps(KEY)}\t{dumps(VALUE)}"
    ),
    "d console consumer, null key": f"null\t{dumps(VALUE)}",
    "e hospital-sim capture": own_capture_line(),
    "a file starting with a byte-order mark": "\ufeff" + dumps(WRAPPED),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_each_input_shape_parses_to_the_same_event(shape: str) -> None:
    event = parse_line(SHAPES[shape] + "\n", line_no=7)

    assert essence(event) == (
        "pacientes", "c", 21, None, CANONICAL_AFTER,
        31845024, 974, 1795912109936, 1795912109977,
    )  # fmt: skip
    assert event is not None and event.line_no == 7


def test_shapes_can_be_mixed_in_one_log() -> None:
    parser = ChangeLogParser()
    events = list(parser.parse(SHAPES.values()))

    assert all(essence(e) == essence(events[0]) for e in events)
    assert [e.line_no for e in events] == list(range(1, len(SHAPES) + 1))


@pytest.mark.parametrize(
    ("encoded", "why"),
    [
        (1741939331250000, "MicroTimestamp (adaptive)"),
        (1741939331250, "Timestamp, milliseconds (connect)"),
        (1741939331250000000, "NanoTimestamp"),
        ("2025-03-14T08:02:11.25Z", "ISO-8601 with Z"),
        ("2025-03-14T08:02:11.250000", "ISO-8601, no zone"),
        ("2025-03-14 05:02:11.25-03:00", "ISO-8601 with an offset"),
    ],
)
def test_timestamp_encodings(encoded: Any, why: str) -> None:
    # A connector encodes every timestamp column of a log in one unit.
    same_unit = {}
    if isinstance(encoded, int):
        scale = encoded // 1741939331250
        same_unit = {"created_at": 1795912109935 * scale, "updated_at": 1795912109935 * scale}
    after = after_of(with_after(data_cadastro=encoded, **same_unit))
    assert after["data_cadastro"] == datetime(2025, 3, 14, 8, 2, 11, 250000), why


@pytest.mark.parametrize(
    ("scale", "unit"), [(1, "milliseconds"), (1000, "microseconds"), (10**6, "nanoseconds")]
)
def test_a_log_learns_its_epoch_unit_so_1970_and_9999_decode_right(scale: int, unit: str) -> None:
    # By magnitude alone, 1970 in microseconds looked like milliseconds and 9999-12-31 in
    # microseconds like nanoseconds.
    now = 1795912109935 * scale
    recent = with_after(data_cadastro=now, created_at=now, updated_at=now)
    early = with_after(data_cadastro=3_000_000 * scale, created_at=0, updated_at=0)
    lines = [recent, early]
    if scale < 10**6:  # 9999-12-31 does not fit in 64-bit nanoseconds
        sentinel = 253_402_214_400_000 * scale
        lines.append(with_after(data_cadastro=sentinel, created_at=now, updated_at=now))
    parser = ChangeLogParser()
    events = [parser.parse_line(line, n) for n, line in enumerate(lines, 1)]
    after = [e.after for e in events if e is not None and e.after is not None]
    assert after[0]["created_at"] == datetime(2026, 11, 29, 0, 28, 29, 935000), unit
    assert after[1]["data_cadastro"] == datetime(1970, 1, 1, 0, 50), unit
    if scale < 10**6:
        assert after[2]["data_cadastro"] == datetime(9999, 12, 31), unit


def test_infinite_timestamps_and_dates_decode_to_the_extremes() -> None:
    after = after_of(with_after(data_cadastro="infinity", nascimento="-infinity"))
    assert (after["data_cadastro"], after["nascimento"]) == (datetime.max, date.min)


@pytest.mark.parametrize(
    ("schema_name", "encoded"),
    [
        ("io.debezium.time.MicroTimestamp", 86_400_000_000),
        ("io.debezium.time.Timestamp", 86_400_000),
        ("org.apache.kafka.connect.data.Timestamp", 86_400_000),
        ("io.debezium.time.NanoTimestamp", 86_400_000_000_000),
    ],
)
def test_schema_name_decides_the_timestamp_unit(schema_name: str, encoded: int) -> None:
    # 1970-01-02 is too close to the epoch for the unit to be guessed from the magnitude.
    schema = json.loads(dumps(VALUE_SCHEMA))
    for part in schema["fields"][:2]:
        for f in part["fields"]:
            if f["field"] == "data_cadastro":
                f["name"] = schema_name
    value = json.loads(with_after(data_cadastro=encoded))

    after = after_of(dumps({"schema": schema, "payload": value}))

    assert after["data_cadastro"] == datetime(1970, 1, 2)


@pytest.mark.parametrize("encoded", [10606, "1999-01-15", "1999-01-15Z"])
def test_date_encodings(encoded: Any) -> None:
    assert after_of(with_after(nascimento=encoded))["nascimento"] == date(1999, 1, 15)


def test_dates_before_1970_are_negative_epoch_days() -> None:
    assert after_of(with_after(nascimento=-4282))["nascimento"] == date(1958, 4, 12)


def test_decimals_from_schema_bytes_variable_scale_and_strings() -> None:
    schema = json.loads(dumps(VALUE_SCHEMA))
    after_fields = schema["fields"][1]["fields"]
    after_fields += [
        {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
         "parameters": {"scale": "2", "connect.decimal.precision": "10"}, "field": "valor"},
        {"type": "struct", "name": "io.debezium.data.VariableScaleDecimal", "field": "taxa"},
        {"type": "string", "field": "desconto"},
    ]  # fmt: skip
    value = json.loads(
        with_after(
            valor=base64.b64encode((-12345).to_bytes(2, "big", signed=True)).decode(),
            taxa={"scale": 3, "value": base64.b64encode((1500).to_bytes(2, "big")).decode()},
            desconto="7.50",
        )
    )

    after = after_of(dumps({"schema": schema, "payload": value}))

    assert after["valor"] == Decimal("-123.45")
    assert after["taxa"] == Decimal("1.500")
    assert after["desconto"] == "7.50"  # decimal.handling.mode=string: kept as text


def test_tombstones_are_skipped_and_counted() -> None:
    parser = ChangeLogParser()
    log = [
        dumps({"topic": "dbz.public.pacientes", "key": KEY, "value": None}),
        f"{dumps(KEY)}\tnull",
        "null",
        dumps({"schema": None, "payload": None}),
        dumps(VALUE),
    ]

    events = list(parser.parse(log))

    assert len(events) == 1
    assert parser.stats.tombstones == 4
    assert parser.stats.events == 1


def test_non_change_lines_are_skipped() -> None:
    parser = ChangeLogParser()
    log = [
        "",
        dumps({"status": "BEGIN", "id": "974:31845024", "event_count": None, "ts_ms": 1}),
        dumps({"ts_ms": 1795912109977}),  # heartbeat
        dumps({"op": "m", "source": {}, "message": {"prefix": "x", "content": ""}}),
        "Processed a total of 3 messages",
        "\n",
    ]

    assert list(parser.parse(log)) == []
    assert parser.stats.skipped == 4


def test_unavailable_placeholder_becomes_a_marker_filled_from_the_previous_row() -> None:
    parser = ChangeLogParser()
    update = json.loads(with_after(endereco="__debezium_unavailable_value", telefone="(11) 2"))
    update.update(op="u", source={**VALUE["source"], "lsn": 31845100})
    events = list(parser.parse([dumps(VALUE), dumps(update)]))

    assert events[1].after is not None and events[1].after["endereco"] is UNAVAILABLE
    assert events[1].placeholders == parser.stats.placeholders == 1
    result = replay(events)
    row = result.tables["pacientes"][21]
    assert row["endereco"] == CANONICAL_AFTER["endereco"]
    assert row["telefone"] == "(11) 2"
    assert result.stats["pacientes"].placeholders == 1
    assert result.stats["pacientes"].unresolved_placeholders == 0


def test_delete_and_truncate_events() -> None:
    delete = {**VALUE, "op": "d", "before": {"id": 21, "nome": None}, "after": None}
    no_before = {**VALUE, "op": "d", "before": None, "after": None}
    truncate = {**VALUE, "op": "t", "before": None, "after": None}

    d, d_key, t = (
        parse_line(dumps(delete)),
        parse_line(dumps({"topic": "t", "key": KEY, "value": no_before})),
        parse_line(dumps(truncate)),
    )

    assert d is not None and (d.op, d.key, d.after) == ("d", 21, None)
    assert d_key is not None and d_key.key == 21  # the id comes from the Kafka key
    assert t is not None and (t.op, t.key) == ("t", None)


def test_lsn_may_be_text() -> None:
    value = {**VALUE, "source": {**VALUE["source"], "lsn": "0/1E5EAA0"}}
    event = parse_line(dumps(value))

    assert event is not None and event.lsn == 0x1E5EAA0


def test_table_comes_from_the_topic_when_source_has_none() -> None:
    value = {**VALUE, "source": {"lsn": 5}}
    event = parse_line(dumps({"topic": "dbz.public.pacientes", "key": KEY, "value": value}))

    assert event is not None and event.table == "pacientes"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json at all", "not JSON"),
        ("key\t{broken", "not JSON"),
        ('"a string"', "expected a JSON object"),
        (dumps({**VALUE, "op": "x"}), "unknown op 'x'"),
        (dumps({**VALUE, "op": ["c"]}), "unknown op"),
        ("{}", "no 'op' field"),
        (dumps({**VALUE, "source": {"table": "leitos"}}), "'leitos' is not one of"),
        (dumps({**VALUE, "source": {}}), "no table name"),
        (dumps({**VALUE, "after": None}), "without an 'after' row"),
        (dumps({**VALUE, "after": {"nome": "x"}}), "without an integer 'id'"),
        (with_after(id="vinte"), "pacientes.id in 'after': 'vinte' - expected an integer"),
        (with_after(nome=5), "pacientes.nome in 'after': 5 - expected a string"),
        (with_after(nascimento=[1]), "expected epoch days"),
        (with_after(data_cadastro="amanhã"), "expected an ISO-8601 timestamp"),
        (with_after(data_cadastro=10**30), "data_cadastro"),  # beyond any timestamp
        (dumps({**VALUE, "source": {**VALUE["source"], "lsn": "zz"}}), "source.lsn"),
        (dumps({**VALUE, "source": {**VALUE["source"], "txId": "974"}}), "source.txId"),
    ],
)
def test_unusable_lines_raise_naming_the_line(line: str, why: str) -> None:
    with pytest.raises(ChangeLogError, match=f"^change log line 12: .*{why}"):
        parse_line(line, line_no=12)


@given(
    nome=st.text(min_size=1, max_size=40),
    nascimento=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    telefone=st.none() | st.text(max_size=20),
    # Without a schema the unit is told by magnitude: microseconds from 1973-03 on.
    moment=st.datetimes(min_value=datetime(1973, 4, 1), max_value=datetime(2200, 1, 1)),
)
@settings(max_examples=60, deadline=None)
def test_capture_envelope_round_trips_any_row(
    nome: str, nascimento: date, telefone: str | None, moment: datetime
) -> None:
    row = {**CANONICAL_AFTER, "nome": nome, "nascimento": nascimento, "telefone": telefone}
    row["data_cadastro"] = moment
    line = dumps(row_event("pacientes", "u", before=None, after=row, db="h", lsn=1))

    assert after_of(line) == row
