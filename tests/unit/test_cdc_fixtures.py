"""The three real Debezium captures replay to exactly the rows the database held."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from hospital_sim.cdc.verify.events import ChangeLogParser
from hospital_sim.cdc.verify.psql_csv import load_expected_csv_dir, read_psql_csv
from hospital_sim.errors import UserError
from tests.unit.cdc_helpers import SETS, A, B, C, baseline, expected, lines, verify

# Row counts from the fixtures' README (pacientes, medicos, convenios,
# pacientes_convenios, consultas, exames, internacoes).
EXPECTED_COUNTS = {
    A: (31, 8, 5, 16, 45, 25, 13),
    B: (42, 8, 5, 17, 60, 30, 16),
    C: (53, 8, 5, 18, 75, 35, 19),
}
EVENTS = {A: 165, B: 57, C: 57}


@pytest.mark.parametrize("name", SETS)
def test_fixture_set_verifies_identical(name: str) -> None:
    report = verify(name)

    assert report.identical, report.render_table()
    assert report.events == EVENTS[name]
    assert tuple(t.expected_rows for t in report.tables) == EXPECTED_COUNTS[name]
    assert all(t.matched == t.expected_rows == t.replayed_rows for t in report.tables)
    assert report.render_table().endswith("IDENTICAL")
    assert report.to_dict()["identical"] is True


def test_set_a_replays_from_empty_tables_using_its_snapshot() -> None:
    events = list(ChangeLogParser().parse(lines(A)))

    ops = [e.op for e in events]
    assert ops[:108] == ["r"] * 108
    assert sorted(set(ops[108:])) == ["c", "u"]
    assert baseline(A) is None


def test_stream_only_sets_do_not_match_without_their_baseline() -> None:
    report = verify(A, lines(B))  # B's changes on A's empty start: most rows missing

    assert not report.identical
    assert sum(t.missing for t in report.tables) > 100


def test_set_c_with_schemas_decodes_to_the_same_values_as_set_b_would() -> None:
    # C is the only set with JsonConverter schemas; its rows must come out canonical.
    events = list(ChangeLogParser().parse(lines(C)))
    paciente_43 = next(e for e in events if e.table == "pacientes" and e.key == 43)

    assert paciente_43.after is not None
    assert paciente_43.after["nome"] == "Yasmin Salomão Ferreira"
    assert paciente_43.after["nascimento"] == date(2000, 12, 30)
    assert paciente_43.after["data_cadastro"] == datetime(2025, 3, 28, 8, 0, 59, 999999)


def test_set_c_full_before_images_equal_the_row_just_before_each_update() -> None:
    # README: C's before images equal the rows of its before/ dump, except consulta 61,
    # which C inserts and then updates, so compare with the row as replayed so far.
    state = {table: {row["id"]: row for row in rows} for table, rows in (baseline(C) or {}).items()}
    full = 0
    for event in ChangeLogParser().parse(lines(C)):
        assert event.key is not None and event.after is not None
        if event.op == "u" and event.table in ("pacientes", "consultas"):
            full += 1
            assert event.before == state[event.table][event.key]
        elif event.op == "u":
            # Only those two tables have REPLICA IDENTITY FULL.
            assert event.before is None
        state[event.table][event.key] = event.after
    assert full == 13


def test_set_c_sets_a_telefone_to_null() -> None:
    rows = {r["id"]: r for r in expected(C)["pacientes"]}

    assert rows[40]["telefone"] is None
    assert verify(C).identical


def test_csv_rows_are_canonical_values() -> None:
    rows = {r["id"]: r for r in expected(A)["pacientes"]}

    assert rows[1]["nascimento"] == date(1958, 4, 12)
    assert rows[1]["data_cadastro"] == datetime(2023, 2, 14, 9, 12, 33, 418205)
    exames = {r["id"]: r for r in expected(A)["exames"]}
    assert exames[17]["resultado"] is None  # NULL: an empty unquoted field


def test_psql_csv_tells_null_from_empty_string_and_keeps_quoted_commas() -> None:
    text = 'id,a,b\n1,,""\n2,"x, ""y""","multi\nline"\n'

    assert list(read_psql_csv(text)) == [
        ["id", "a", "b"],
        ["1", None, ""],
        ["2", 'x, "y"', "multi\nline"],
    ]


def test_csv_timestamps_with_dropped_trailing_zeros(tmp_path: Path) -> None:
    (tmp_path / "exames.csv").write_text(
        "id,paciente_id,tipo_exame,data,resultado,created_at,updated_at\n"
        '1,2,Raio-X,2023-05-08 16:22:10.5,"",2026-11-29 00:28:26.01392,2026-11-29 00:28:26\n',
        encoding="utf-8",
    )

    (row,) = load_expected_csv_dir(tmp_path)["exames"]

    assert row["data"] == datetime(2023, 5, 8, 16, 22, 10, 500000)
    assert row["created_at"] == datetime(2026, 11, 29, 0, 28, 26, 13920)
    assert row["resultado"] == ""


def test_csv_dir_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"none of pacientes\.csv"):
        load_expected_csv_dir(tmp_path)
    (tmp_path / "medicos.csv").write_text("id,nome\n1,Ana\nx,Bia\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"medicos.csv line 3: id = 'x' is not a valid bigint"):
        load_expected_csv_dir(tmp_path)


def test_a_csv_dump_that_is_not_utf8_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "pacientes.csv").write_bytes(b"id,nome\n1,Jos\xe9\n")  # Latin-1
    with pytest.raises(UserError) as err:
        load_expected_csv_dir(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'pacientes.csv'} is not UTF-8 text (byte 13)")
