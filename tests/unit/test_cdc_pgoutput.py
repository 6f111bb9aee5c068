"""pgoutput messages built byte by byte (per "Logical Replication Message Formats")."""

from __future__ import annotations

import json
import struct
from datetime import UTC, date, datetime

import pytest

from hospital_sim import __version__
from hospital_sim.cdc.capture.envelope import change_event, change_events, encode_pg_value
from hospital_sim.cdc.capture.messages import (
    Begin,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Origin,
    PgOutputError,
    Relation,
    StreamStart,
    Truncate,
    TypeInfo,
    Update,
)
from hospital_sim.cdc.capture.pgoutput import Decoder, decode_message
from hospital_sim.cdc.lsn import format_lsn, parse_lsn
from hospital_sim.cdc.schema_types import TABLE_SCHEMAS, PgType
from hospital_sim.cdc.values import UNAVAILABLE, UNAVAILABLE_PLACEHOLDER
from hospital_sim.cdc.verify.events import parse_line

# 2025-03-14 08:02:11.25 UTC in microseconds since 2000-01-01 (PostgreSQL's epoch)
COMMIT_TS = 1741939331250000 - 946684800000000
PACIENTES, CONSULTAS = 16384, 16390


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def tuple_data(*values: object) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is UNAVAILABLE:
            out += b"u"
        elif isinstance(v, bytes):
            out += b"b" + struct.pack(">i", len(v)) + v
        else:
            data = str(v).encode()
            out += b"t" + struct.pack(">i", len(data)) + data
    return out


def begin(xid: int = 974) -> bytes:
    return b"B" + struct.pack(">QqI", 0x1E5EAF0, COMMIT_TS, xid)


def commit() -> bytes:
    return b"C" + struct.pack(">BQQq", 0, 0x1E5EAA0, 0x1E5EAF0, COMMIT_TS)


def relation(relid: int, table: str, identity: bytes = b"d", xid: int | None = None) -> bytes:
    schema = TABLE_SCHEMAS[table]
    out = b"R" + (b"" if xid is None else struct.pack(">I", xid))
    out += struct.pack(">I", relid) + cstr("public") + cstr(table) + identity
    out += struct.pack(">h", len(schema.columns))
    for col in schema.columns:
        flags = 1 if col.name == "id" else 0
        out += struct.pack(">B", flags) + cstr(col.name) + struct.pack(">Ii", col.type.oid, -1)
    return out


PACIENTE_21 = (
    "21",
    "Gabriel Estêvão Nogueira",
    "1999-01-14",
    "535.100.543-34",
    "(11) 99102-3345",
    None,
    "2025-03-14 08:02:11.25",
    "2026-11-29 00:28:29.9354",
    "2026-11-29 00:28:29.9354",
)


def insert(relid: int, *values: object, xid: int | None = None) -> bytes:
    head = b"I" + (b"" if xid is None else struct.pack(">I", xid))
    return head + struct.pack(">I", relid) + b"N" + tuple_data(*values)


def test_begin_and_commit() -> None:
    b = decode_message(begin())
    c = decode_message(commit())

    assert b == Begin(final_lsn=0x1E5EAF0, commit_ts=COMMIT_TS, xid=974)
    assert b.commit_time == datetime(2025, 3, 14, 8, 2, 11, 250000, tzinfo=UTC)
    assert isinstance(c, Commit)
    assert (c.flags, c.commit_lsn, c.end_lsn) == (0, 0x1E5EAA0, 0x1E5EAF0)
    assert c.commit_time == b.commit_time


def test_relation_message_lists_columns_with_types_and_key() -> None:
    rel = decode_message(relation(PACIENTES, "pacientes", b"f"))

    assert isinstance(rel, Relation)
    assert (rel.relation_id, rel.namespace, rel.name) == (PACIENTES, "public", "pacientes")
    assert rel.replica_identity == "f"
    assert rel.column_names == TABLE_SCHEMAS["pacientes"].column_names
    assert [c.type_oid for c in rel.columns][:3] == [20, 1043, 1082]
    assert [c.is_key for c in rel.columns] == [True] + [False] * 8


def test_insert_with_text_null_and_unchanged_toast_values() -> None:
    msg = decode_message(insert(PACIENTES, *PACIENTE_21[:4], UNAVAILABLE, *PACIENTE_21[5:]))

    assert isinstance(msg, Insert)
    assert msg.relation_id == PACIENTES
    assert msg.new[1] == "Gabriel Estêvão Nogueira"
    assert msg.new[4] is UNAVAILABLE
    assert msg.new[5] is None


def test_update_with_old_key_and_delete_and_truncate() -> None:
    new = ("32", "22", "3", "2025-03-17 09:30:00", "Planejamento", "realizada", "x", "y")
    upd = b"U" + struct.pack(">I", CONSULTAS) + b"K" + tuple_data("31", *[None] * 7)
    upd += b"N" + tuple_data(*new)
    dele = b"D" + struct.pack(">I", CONSULTAS) + b"O" + tuple_data(*new)
    trunc = b"T" + struct.pack(">IB", 2, 3) + struct.pack(">II", PACIENTES, CONSULTAS)

    u, d, t = decode_message(upd), decode_message(dele), decode_message(trunc)

    assert isinstance(u, Update) and u.old_kind == "K" and u.old is not None
    assert (u.old[0], u.new[0]) == ("31", "32")
    assert isinstance(d, Delete) and d.old_kind == "O" and d.old == new
    assert isinstance(t, Truncate)
    assert t.relation_ids == (PACIENTES, CONSULTAS)
    assert t.cascade and t.restart_identity


def test_update_without_old_tuple() -> None:
    msg = decode_message(b"U" + struct.pack(">I", 7) + b"N" + tuple_data("1", None))

    assert msg == Update(7, None, None, ("1", None))


def test_origin_type_message_and_binary_values() -> None:
    origin = decode_message(b"O" + struct.pack(">Q", 99) + cstr("node_a"))
    typ = decode_message(b"Y" + struct.pack(">I", 70000) + cstr("public") + cstr("mood"))
    content = "olá".encode()
    msg = decode_message(
        b"M" + struct.pack(">BQ", 1, 1234) + cstr("hs") + struct.pack(">i", len(content)) + content
    )
    binary = decode_message(insert(1, struct.pack(">q", 42)))

    assert origin == Origin(99, "node_a")
    assert typ == TypeInfo(70000, "public", "mood")
    assert msg == LogicalMessage(True, 1234, "hs", content)
    assert isinstance(binary, Insert) and binary.new == (struct.pack(">q", 42),)
    assert encode_pg_value(20, struct.pack(">q", 42)) == 42
    assert encode_pg_value(1082, struct.pack(">i", -15239)) == -4282  # 1958-04-12
    assert encode_pg_value(17, b"\x00\xff") == "AP8="  # bytea: base64, as Debezium


def test_protocol_2_streamed_messages_carry_a_xid() -> None:
    start = decode_message(b"S" + struct.pack(">IB", 990, 1))
    rel = decode_message(relation(PACIENTES, "pacientes", xid=990), streamed=True)
    ins = decode_message(insert(PACIENTES, *PACIENTE_21, xid=991), streamed=True)

    assert start == StreamStart(990, True)
    assert isinstance(rel, Relation) and rel.xid == 990
    assert isinstance(ins, Insert) and ins.xid == 991


def test_decoder_turns_a_transaction_into_debezium_events() -> None:
    decoder = Decoder()
    changes = []
    upd = b"U" + struct.pack(">I", PACIENTES) + b"N"
    upd += tuple_data("21", "Gabriel", "1999-01-14", "535", UNAVAILABLE, None, *PACIENTE_21[6:])
    stream = [begin(), relation(PACIENTES, "pacientes"), insert(PACIENTES, *PACIENTE_21), upd]
    for lsn, message in enumerate([*stream, commit()], start=31845000):
        changes += decoder.decode(message, lsn=lsn)

    ins, up = changes
    assert (ins.op, ins.table, ins.schema, ins.xid, ins.lsn) == (
        "c",
        "pacientes",
        "public",
        974,
        31845002,
    )
    assert ins.after is not None and ins.after["nome"] == "Gabriel Estêvão Nogueira"
    assert ins.commit_ts_ms == 1741939331250
    assert up.op == "u" and up.before is None

    event = change_event(ins, db="hospital", ts_ms=1741939331300)
    assert event["after"]["id"] == 21
    assert event["after"]["nascimento"] == 10605  # epoch days of 1999-01-14
    assert event["after"]["data_cadastro"] == 1741939331250000  # epoch microseconds
    assert event["after"]["endereco"] is None
    assert event["source"] == {
        "version": f"hospital-sim {__version__}",
        "connector": "postgresql",
        "name": "hospital_sim",
        "ts_ms": 1741939331250,
        "snapshot": "false",
        "db": "hospital",
        "ts_us": 1741939331250000,
        "ts_ns": 1741939331250000000,
        "schema": "public",
        "table": "pacientes",
        "txId": 974,
        "lsn": 31845002,
        "commit_lsn": 31845104,  # Begin's final LSN: the proof's window needs it
    }
    assert (event["op"], event["ts_ms"], event["before"]) == ("c", 1741939331300, None)
    assert (event["ts_us"], event["ts_ns"]) == (1741939331300000, 1741939331300000000)
    assert event["transaction"] is None
    assert change_event(up, db="hospital")["after"]["telefone"] == UNAVAILABLE_PLACEHOLDER


def test_envelope_round_trips_through_the_change_log_parser() -> None:
    decoder = Decoder()
    decoder.decode(begin())
    decoder.decode(relation(PACIENTES, "pacientes"))
    (change,) = decoder.decode(insert(PACIENTES, *PACIENTE_21), lsn=31845024)

    event = parse_line(json.dumps(change_event(change, db="hospital", ts_ms=1741939331400)))

    assert event is not None
    assert (event.table, event.op, event.key, event.lsn, event.tx_id) == (
        "pacientes", "c", 21, 31845024, 974,
    )  # fmt: skip
    assert event.after is not None
    assert event.after["nascimento"] == date(1999, 1, 14)
    assert event.after["data_cadastro"] == datetime(2025, 3, 14, 8, 2, 11, 250000)
    assert event.ts_ms is not None and event.source_ts_ms is not None
    assert event.ts_ms - event.source_ts_ms == 150


def test_decoder_handles_delete_with_key_and_truncate() -> None:
    decoder = Decoder()
    decoder.decode(begin(1029))
    decoder.decode(relation(PACIENTES, "pacientes"))
    decoder.decode(relation(CONSULTAS, "consultas"))
    dele = b"D" + struct.pack(">I", PACIENTES) + b"K" + tuple_data("21", *[None] * 8)
    trunc = b"T" + struct.pack(">IB", 2, 0) + struct.pack(">II", PACIENTES, CONSULTAS)

    (d,) = decoder.decode(dele, lsn=10)
    t1, t2 = decoder.decode(trunc, lsn=11)

    assert d.op == "d" and d.before_is_key and d.before is not None and d.before["id"] == "21"
    assert (t1.op, t1.table, t2.table) == ("t", "pacientes", "consultas")
    event = change_event(t2, db="hospital")
    assert (event["op"], event["before"], event["after"]) == ("t", None, None)
    assert change_event(d, db="hospital")["before"]["id"] == 21


def test_decoder_holds_streamed_changes_until_stream_commit_and_drops_aborted() -> None:
    decoder = Decoder()
    out = decoder.decode(relation(PACIENTES, "pacientes"))
    out += decoder.decode(b"S" + struct.pack(">IB", 990, 1))
    out += decoder.decode(insert(PACIENTES, *PACIENTE_21, xid=990), lsn=1)
    out += decoder.decode(insert(PACIENTES, "22", *PACIENTE_21[1:], xid=995), lsn=2)
    out += decoder.decode(b"E")
    assert out == []

    assert decoder.decode(b"A" + struct.pack(">II", 990, 995)) == []  # subtransaction
    (change,) = decoder.decode(b"c" + struct.pack(">IBQQq", 990, 0, 5, 6, COMMIT_TS))

    assert change.after is not None and change.after["id"] == "21"
    assert (change.xid, change.commit_ts) == (990, COMMIT_TS)


def test_lsn_text_form() -> None:
    assert parse_lsn("0/16B3748") == 0x16B3748
    assert format_lsn(0x16B3748) == "0/16B3748"
    assert format_lsn(parse_lsn("1A/FF000028")) == "1A/FF000028"
    with pytest.raises(ValueError, match="not an LSN"):
        parse_lsn("16B3748")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (b"Z\x00", "unsupported pgoutput message type 'Z'"),
        (b"B" + struct.pack(">Qq", 1, 2), "truncated"),
        (b"I" + struct.pack(">I", 1) + b"X", "expected one of N"),
        (b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"q", "tuple column kind"),
        (commit() + b"\x00", "trailing bytes"),
        (b"O" + struct.pack(">Q", 1) + b"no-terminator", "NUL terminator"),
    ],
)
def test_malformed_messages_raise(data: bytes, why: str) -> None:
    with pytest.raises(PgOutputError, match=why):
        decode_message(data)


def test_change_for_an_unknown_relation_is_an_error() -> None:
    with pytest.raises(PgOutputError, match="relation id 99 before any Relation"):
        Decoder().decode(insert(99, "1"))


def test_type_oids_of_the_schema() -> None:
    assert [t.oid for t in PgType] == [20, 1043, 1082, 1114]


def test_a_primary_key_update_becomes_a_delete_and_a_create_as_in_debezium() -> None:
    decoder = Decoder()
    decoder.decode(begin())
    decoder.decode(relation(PACIENTES, "pacientes"))
    upd = b"U" + struct.pack(">I", PACIENTES) + b"K"
    upd += tuple_data("21", None, None, None, None, None, None, None, None)
    upd += b"N" + tuple_data("99", *PACIENTE_21[1:])
    (change,) = decoder.decode(upd, lsn=31845100)

    delete, create = change_events(change, db="hospital", ts_ms=1)

    assert (delete["op"], delete["before"]["id"], delete["after"]) == ("d", 21, None)
    assert (create["op"], create["before"], create["after"]["id"]) == ("c", None, 99)
    assert delete["source"]["lsn"] == create["source"]["lsn"] == 31845100
