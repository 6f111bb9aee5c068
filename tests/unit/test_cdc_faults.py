"""Faults injected into fixture set A are each caught and named in the report."""

from __future__ import annotations

import json

import pytest

from hospital_sim.cdc.verify import ChangeLogError
from hospital_sim.errors import UserError
from tests.unit.cdc_helpers import A, find, lines, table_by_name, value_of, verify


def test_untouched_set_a_is_identical() -> None:
    assert verify(A).identical


def test_dropped_update_shows_the_row_differing_on_the_updated_column() -> None:
    log = lines(A)
    del log[find(log, "consultas", "u", 19)]

    report = verify(A, log)

    consultas = table_by_name(report, "consultas")
    assert not report.identical
    assert (consultas.differing, consultas.missing, consultas.extra) == (1, 0, 0)
    diffs = {d.column: (d.expected, d.got) for d in consultas.diffs if d.id == 19}
    assert diffs["status"] == ("realizada", "agendada")
    assert "consultas id 19: status expected 'realizada', got 'agendada'" in report.render_table()


def test_dropped_insert_shows_the_row_missing() -> None:
    log = lines(A)
    del log[find(log, "internacoes", "c")]

    report = verify(A, log)

    internacoes = table_by_name(report, "internacoes")
    assert not report.identical
    assert internacoes.missing == 1
    assert internacoes.missing_ids == [11]
    assert "internacoes: 1 missing, id 11" in report.render_table()


def test_duplicated_event_is_counted_once_and_does_not_change_the_rows() -> None:
    log = lines(A)
    i = find(log, "pacientes", "c", 21)
    log.insert(i + 1, log[i])

    report = verify(A, log)

    pacientes = table_by_name(report, "pacientes")
    assert not report.identical
    assert pacientes.duplicates == 1
    assert (pacientes.missing, pacientes.extra, pacientes.differing) == (0, 0, 0)
    assert sum(t.order_violations for t in report.tables) == 0
    assert "NOT IDENTICAL: 1 duplicate event" in report.render_table()


def test_late_redelivery_of_an_old_update_does_not_roll_the_row_back() -> None:
    # Paciente 21 is inserted then updated; redelivering the insert after the update
    # must neither overwrite the update nor count as an ordering fault.
    log = lines(A)
    insert = log[find(log, "pacientes", "c", 21)]
    log.append(insert)

    report = verify(A, log)

    pacientes = table_by_name(report, "pacientes")
    assert pacientes.duplicates == 1
    assert (pacientes.differing, pacientes.order_violations) == (0, 0)


def test_altered_column_value_is_reported_with_the_column() -> None:
    log = lines(A)
    i = find(log, "exames", "u")
    wrapper = json.loads(log[i])
    key = wrapper["value"]["after"]["id"]
    wrapper["value"]["after"]["resultado"] = "Resultado trocado"
    log[i] = json.dumps(wrapper, ensure_ascii=False) + "\n"

    report = verify(A, log)

    exames = table_by_name(report, "exames")
    assert not report.identical
    assert exames.differing == 1
    (diff,) = exames.diffs
    assert (diff.id, diff.column, diff.got) == (key, "resultado", "Resultado trocado")
    assert report.to_dict()["tables"]["exames"]["diffs"][0]["column"] == "resultado"


def test_all_events_of_one_table_removed_shows_that_table_all_missing() -> None:
    log = [line for line in lines(A) if value_of(line)["source"]["table"] != "internacoes"]

    report = verify(A, log)

    internacoes = table_by_name(report, "internacoes")
    assert not report.identical
    assert internacoes.missing == internacoes.expected_rows == 13
    assert internacoes.replayed_rows == 0
    others = [t for t in report.tables if t.table != "internacoes"]
    assert all(t.identical for t in others)


def test_two_change_events_swapped_out_of_lsn_order_count_one_violation() -> None:
    log = lines(A)
    first = find(log, "consultas", "c")
    second = next(
        i for i in range(first + 1, len(log)) if value_of(log[i])["source"]["table"] == "consultas"
    )
    log[first], log[second] = log[second], log[first]

    report = verify(A, log)

    consultas = table_by_name(report, "consultas")
    assert not report.identical
    assert consultas.order_violations == 1
    # Two different rows: the final state is still right, only the order is wrong.
    assert (consultas.missing, consultas.extra, consultas.differing) == (0, 0, 0)
    (violation,) = report.order_violation_samples
    assert violation.line_no == second + 1
    assert f"consultas: line {second + 1} (lsn 0/" in report.render_table()
    assert f"is out of order, after line {second} (lsn 0/" in report.render_table()


def test_snapshot_reads_do_not_count_as_order_violations() -> None:
    # Set A's snapshot reads carry the snapshot's LSN, below the stream's; a re-snapshot
    # of a row arriving after the stream is not an ordering fault.
    log = lines(A)
    wrapper = json.loads(log[find(log, "medicos", "r", 1)])
    wrapper["value"]["after"]["especialidade"] = "Cardiologia pediátrica"
    log.append(json.dumps(wrapper) + "\n")

    report = verify(A, log)

    medicos = table_by_name(report, "medicos")
    assert (medicos.order_violations, medicos.duplicates, medicos.differing) == (0, 0, 1)


@pytest.mark.parametrize(
    ("bad_line", "why"),
    [
        ("{not json", "not JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"before": null, "after": {"id": 1}, "source": {"table": "x"}}', "no 'op'"),
        (
            '{"op": "c", "before": null, "after": {"id": 1}, "source": {"table": "leitos"}}',
            "table 'leitos' is not one of the hospital tables",
        ),
        (
            '{"op": "c", "before": null, "after": {"id": 1, "nascimento": "ontem"},'
            ' "source": {"table": "pacientes"}}',
            "pacientes.nascimento",
        ),
    ],
)
def test_malformed_input_names_the_line(bad_line: str, why: str) -> None:
    log = lines(A)
    log.insert(120, bad_line + "\n")

    with pytest.raises(ChangeLogError, match=f"change log line 121: .*{why}") as info:
        verify(A, log)

    assert isinstance(info.value, UserError)
    assert info.value.line_no == 121
