"""RowFactory: single rows for the live stream follow the same rules as the seed data."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hospital_sim.generate import TABLE_COLUMNS, RowFactory
from hospital_sim.generate.documents import carteira_for_id, cpf_for_id, is_valid_cpf
from hospital_sim.generate.places import CITIES, UF_CODES, UF_DDDS
from hospital_sim.generate.results import GENERIC_RESULT, RESULTS
from hospital_sim.generate.vocab import (
    EXAMES,
    MOTIVOS_CONSULTA_GERAL,
    MOTIVOS_INTERNACAO,
)

NOW = dt.datetime(2026, 11, 29, 14, 37, 21, 123456)
ADDRESS = re.compile(
    r"[^,]+, (\d+|s/n)(, [^-]+)? - .+, (?P<city>[^,]+) - (?P<uf>[A-Z]{2}), (?P<cep>\d{5}-\d{3})"
)
PHONE = re.compile(r"\((?P<ddd>\d{2})\) (9[6-9]\d{3}|[2-5]\d{3})-\d{4}")

moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1))
seeds = st.integers(0, 2**32)


def factory(seed: int = 1) -> RowFactory:
    return RowFactory(random.Random(seed))


def _cep_fits(cep: str, city_name: str, uf: str) -> bool:
    city = next(c for c in CITIES if c.name == city_name and c.uf == uf)
    return city.cep_first <= int(cep[:5]) <= city.cep_last


def test_a_new_patient_row_is_complete_and_coherent() -> None:
    rows = factory()
    for id_ in range(1, 301):
        row = rows.paciente(id_, NOW)
        assert len(row) == len(TABLE_COLUMNS["pacientes"])
        pid, nome, nascimento, cpf, telefone, endereco, cadastro = row
        assert pid == id_ and cpf == cpf_for_id(id_) and is_valid_cpf(cpf)
        assert len(nome.split()) >= 2
        assert type(nascimento) is dt.date and nascimento < NOW.date()
        assert NOW - cadastro < dt.timedelta(seconds=1) and cadastro <= NOW
        phone, address = PHONE.fullmatch(telefone), ADDRESS.fullmatch(endereco)
        assert phone and address, (telefone, endereco)
        assert int(phone["ddd"]) in UF_DDDS[address["uf"]]
        assert _cep_fits(address["cep"], address["city"], address["uf"])


def test_new_patients_have_ages_of_a_real_population() -> None:
    rows = factory(5)
    ages = [(NOW.date() - rows.paciente(i, NOW)[2]).days / 365.25 for i in range(1, 2001)]
    assert 0.15 <= sum(a < 15 for a in ages) / len(ages) <= 0.25
    assert 0.07 <= sum(a >= 65 for a in ages) / len(ages) <= 0.15


def test_a_new_enrolment_has_its_card_and_a_future_end_of_month_validity() -> None:
    rows = factory()
    for id_ in range(1, 200):
        row = rows.paciente_convenio(id_, 10, 2, NOW)
        assert row[:4] == (id_, 10, 2, carteira_for_id(id_))
        validade = row[4]
        assert NOW.date() + dt.timedelta(days=300) < validade
        assert (validade + dt.timedelta(days=1)).day == 1


@settings(max_examples=150, deadline=None)
@given(seeds, moments, st.integers(0, 400 * 24 * 60))
def test_a_new_appointment_is_scheduled_in_a_future_clinic_slot(
    seed: int, now: dt.datetime, minutes_since_registration: int
) -> None:
    registered = now - dt.timedelta(minutes=minutes_since_registration)
    row = factory(seed).consulta(9, 8, 7, registered, now)
    assert row[:3] == (9, 8, 7) and row[5] == "agendada"
    when = row[3]
    assert now + dt.timedelta(minutes=5) <= when <= now + dt.timedelta(days=90)
    assert when > registered
    assert when.minute % 10 == 0 or when.minute % 15 == 0
    assert row[4] in set(MOTIVOS_CONSULTA_GERAL.texts.tolist())


def test_new_appointments_are_mostly_weekdays_in_clinic_hours() -> None:
    rows = factory(3)
    dates = [rows.consulta(i, 1, 1, NOW - dt.timedelta(days=9), NOW)[3] for i in range(2000)]
    assert sum(d.weekday() < 5 for d in dates) / len(dates) > 0.9
    assert sum(7 <= d.hour <= 18 for d in dates) / len(dates) > 0.95
    assert sum(d - NOW < dt.timedelta(days=30) for d in dates) / len(dates) > 0.6


def test_an_appointment_registered_moments_ago_still_gets_a_slot() -> None:
    row = factory().consulta(1, 1, 1, NOW, NOW)
    assert NOW + dt.timedelta(minutes=5) <= row[3] <= NOW + dt.timedelta(days=90)


@settings(max_examples=150, deadline=None)
@given(seeds, moments, st.integers(0, 10 * 24 * 3600))
def test_a_new_exam_is_pending_and_taken_after_registration(
    seed: int, now: dt.datetime, seconds_since_registration: int
) -> None:
    registered = now - dt.timedelta(seconds=seconds_since_registration)
    id_, paciente_id, tipo, data, resultado = factory(seed).exame(4, 3, registered, now)
    assert (id_, paciente_id, resultado) == (4, 3, None)
    assert data <= now and data >= now - dt.timedelta(days=2)
    if registered < now:
        assert data > registered
    assert tipo in set(EXAMES.texts.tolist())


def test_new_exams_never_need_a_sex_or_age_the_stream_does_not_know() -> None:
    rows = factory(9)
    tipos = {rows.exame(i, 1, NOW - dt.timedelta(days=30), NOW)[2] for i in range(3000)}
    assert not tipos & {"Mamografia", "PSA total", "Beta-HCG"}
    assert "Hemograma completo" in tipos


@settings(max_examples=150, deadline=None)
@given(seeds, moments)
def test_a_new_stay_is_current_and_admitted_in_the_last_three_days(
    seed: int, now: dt.datetime
) -> None:
    row = factory(seed).internacao(5, 6, now)
    assert len(row) == len(TABLE_COLUMNS["internacoes"])
    assert row[:2] == (5, 6) and row[3] is None
    assert now - dt.timedelta(days=3) <= row[2] <= now
    assert re.fullmatch(r"(Enf|Apto)-\d{3}|UTI-\d{2}", row[5])


def test_new_stays_never_need_a_sex_or_age_the_stream_does_not_know() -> None:
    rows = factory(2)
    motivos = Counter(rows.internacao(i, 1, NOW)[4] for i in range(3000))
    assert set(motivos) <= set(MOTIVOS_INTERNACAO.texts.tolist())
    assert not any(m.startswith("Parto") or m == "Bronquiolite" for m in motivos)
    assert motivos.most_common(1)[0][0] == "Pneumonia"


@pytest.mark.parametrize("uf", sorted(UF_CODES))
def test_a_phone_for_a_state_uses_one_of_its_ddds(uf: str) -> None:
    rows = factory()
    for _ in range(20):
        phone = PHONE.fullmatch(rows.telefone(uf))
        assert phone and int(phone["ddd"]) in UF_DDDS[uf]


def test_phones_are_mostly_mobiles_from_populous_states() -> None:
    rows = factory(4)
    phones = [rows.telefone() for _ in range(3000)]
    assert all(PHONE.fullmatch(p) for p in phones)
    assert 0.75 <= sum(p[5] == "9" for p in phones) / len(phones) <= 0.95
    assert Counter(p[1:3] for p in phones).most_common(1)[0][0] == "11"


def test_a_phone_for_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="UF"):
        factory().telefone("ZZ")


def test_an_address_comes_with_its_state() -> None:
    rows = factory(6)
    for _ in range(500):
        address, uf = rows.endereco()
        parts = ADDRESS.fullmatch(address)
        assert parts and parts["uf"] == uf
        assert _cep_fits(parts["cep"], parts["city"], uf)


def test_appointment_outcomes_are_mostly_attended() -> None:
    rows = factory(8)
    outcomes = Counter(rows.consulta_outcome() for _ in range(5000))
    assert set(outcomes) == {"realizada", "cancelada", "faltou"}
    assert 0.75 <= outcomes["realizada"] / 5000 <= 0.90


@pytest.mark.parametrize("tipo", sorted(RESULTS))
def test_every_exam_type_gets_a_readable_result(tipo: str) -> None:
    rows = factory()
    results = {rows.exame_resultado(tipo) for _ in range(200)}
    assert all(0 < len(r) <= 200 for r in results)
    assert GENERIC_RESULT not in results
    assert len(results) > 1


def test_numeric_results_are_written_the_brazilian_way() -> None:
    rows = factory(11)
    hemogramas = [rows.exame_resultado("Hemograma completo") for _ in range(300)]
    assert all(re.match(r"Hb \d+,\d g/dL; leucócitos \d{1,2}\.\d00/mm³", h) for h in hemogramas)
    assert any("sem alterações" in h for h in hemogramas)
    assert any("anemia" in h for h in hemogramas)


def test_an_exam_type_we_do_not_model_gets_a_generic_result() -> None:
    assert factory().exame_resultado("Cintilografia óssea") == GENERIC_RESULT


@settings(max_examples=150, deadline=None)
@given(seeds, moments, st.integers(-3600, 30 * 24 * 3600))
def test_a_discharge_is_never_before_admission_nor_after_now(
    seed: int, now: dt.datetime, seconds_admitted: int
) -> None:
    entrada = now - dt.timedelta(seconds=seconds_admitted)
    saida = factory(seed).discharge_time(entrada, now)
    assert saida >= entrada
    if entrada <= now:
        assert saida <= now
        assert now - saida <= dt.timedelta(hours=2)


def test_the_same_random_state_gives_the_same_rows() -> None:
    def sample(seed: int) -> list[object]:
        rows = factory(seed)
        return [
            rows.paciente(1, NOW),
            rows.consulta(1, 1, 1, NOW, NOW),
            rows.exame(1, 1, NOW - dt.timedelta(days=1), NOW),
            rows.internacao(1, 1, NOW),
            rows.endereco(),
            rows.telefone("RJ"),
            rows.exame_resultado("Glicemia de jejum"),
        ]

    assert sample(21) == sample(21)
    assert sample(21) != sample(22)


def test_endereco_and_telefone_can_stay_in_a_state() -> None:
    import random as _random

    from hospital_sim.generate import RowFactory as _RowFactory
    from hospital_sim.generate.places import UF_DDDS

    rows = _RowFactory(_random.Random(4))
    for uf in ("SP", "AC", "RS", "DF"):
        for _ in range(20):
            address, got = rows.endereco(uf)
            assert got == uf and f" - {uf}, " in address
            assert int(rows.telefone(uf)[1:3]) in UF_DDDS[uf]


def test_weighted_draw_is_the_draw_random_choices_makes() -> None:
    import itertools
    import random

    from hospital_sim.generate.draw import weighted

    population = ["a", "b", "c", "d"]
    cum = list(itertools.accumulate([5.0, 0.5, 3.0, 1.5]))
    ours, theirs = random.Random(42), random.Random(42)
    drawn = [weighted(ours, population, cum) for _ in range(2000)]
    assert drawn == [theirs.choices(population, cum_weights=cum)[0] for _ in range(2000)]
    assert set(drawn) == set(population)  # every item can come up, weight 0.5 too
