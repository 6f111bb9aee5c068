"""CPF, CNPJ, CRM and card numbers: valid, unique per id, and checked like the Receita does."""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hospital_sim.generate import documents
from hospital_sim.generate.documents import (
    MAX_CRM_ID,
    MAX_DOCUMENT_ID,
    carteira_array,
    carteira_for_id,
    cnpj_for_id,
    cpf_array,
    cpf_for_id,
    crm_for_id,
    is_valid_cnpj,
    is_valid_cpf,
)
from hospital_sim.generate.places import UF_CODES

document_ids = st.integers(min_value=1, max_value=MAX_DOCUMENT_ID)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _with_digit_changed(value: str, position: int) -> str:
    char = value[position]
    return value[:position] + str((int(char) + 1) % 10) + value[position + 1 :]


# --- CPF -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(document_ids)
def test_every_cpf_is_formatted_and_has_valid_check_digits(id_: int) -> None:
    cpf = cpf_for_id(id_)
    assert re.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}", cpf)
    assert is_valid_cpf(cpf)
    assert is_valid_cpf(cpf.replace(".", "").replace("-", ""))


@settings(max_examples=150, deadline=None)
@given(document_ids, st.sampled_from([12, 13]))
def test_a_wrong_cpf_check_digit_is_rejected(id_: int, position: int) -> None:
    assert not is_valid_cpf(_with_digit_changed(cpf_for_id(id_), position))


def test_cpfs_are_unique_over_a_range_of_ids_and_bulk_matches_single() -> None:
    ids = np.arange(1, 200_001, dtype=np.int64)
    bulk = cpf_array(ids)
    assert len(set(bulk)) == ids.size
    sample = [1, 2, 3, 999, 123_456, 200_000]
    assert [bulk[i - 1] for i in sample] == [cpf_for_id(i) for i in sample]


def test_cpfs_of_the_last_ids_in_range_are_valid_and_unique() -> None:
    ids = np.arange(MAX_DOCUMENT_ID - 50_000, MAX_DOCUMENT_ID + 1, dtype=np.int64)
    bulk = cpf_array(ids)
    assert len(set(bulk)) == ids.size
    assert all(is_valid_cpf(c) for c in bulk[::997])


def test_no_id_in_range_gets_a_repeated_digit_cpf() -> None:
    # The scramble is a bijection; the ids mapping to 000000000..999999999 lie outside.
    inverse = pow(documents._CPF_MUL, -1, documents._CPF_MOD)
    for digit in range(10):
        base = int(str(digit) * 9)
        id_ = (base - documents._CPF_ADD) * inverse % documents._CPF_MOD
        assert not 1 <= id_ <= MAX_DOCUMENT_ID, f"id {id_} would get {base:09d}"


def test_consecutive_ids_do_not_give_sequential_cpfs() -> None:
    bases = [int(cpf_for_id(i)[:11].replace(".", "")) for i in range(1, 101)]
    steps = {b - a for a, b in pairwise(bases)}
    assert sorted(bases) != bases
    assert all(abs(step) > 1000 for step in steps)


@pytest.mark.parametrize("digit", range(10))
def test_repeated_digit_cpfs_are_rejected(digit: int) -> None:
    value = str(digit) * 11
    assert not is_valid_cpf(value)
    assert not is_valid_cpf(f"{value[:3]}.{value[3:6]}.{value[6:9]}-{value[9:]}")


@pytest.mark.parametrize("value", ["529.982.247-25", "52998224725", "111.444.777-35"])
def test_known_valid_cpfs_are_accepted(value: str) -> None:
    assert is_valid_cpf(value)


@pytest.mark.parametrize(
    "value", ["529.982.247-26", "529.982.24725", "529982247-25", "5299822472", "", "abc.def.ghi-jk"]
)
def test_malformed_or_wrong_cpfs_are_rejected(value: str) -> None:
    assert not is_valid_cpf(value)


@pytest.mark.parametrize("id_", [0, -1, MAX_DOCUMENT_ID + 1])
def test_cpf_ids_out_of_range_are_refused(id_: int) -> None:
    with pytest.raises(ValueError, match="between 1 and"):
        cpf_for_id(id_)


# --- CNPJ ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(document_ids)
def test_every_cnpj_is_a_valid_head_office_number(id_: int) -> None:
    cnpj = cnpj_for_id(id_)
    assert re.fullmatch(r"\d{2}\.\d{3}\.\d{3}/0001-\d{2}", cnpj)
    assert is_valid_cnpj(cnpj)
    assert is_valid_cnpj(re.sub(r"[./-]", "", cnpj))


@settings(max_examples=200, deadline=None)
@given(document_ids)
def test_every_alphanumeric_cnpj_is_valid_and_never_equals_a_numeric_one(id_: int) -> None:
    cnpj = cnpj_for_id(id_, alphanumeric=True)
    assert re.fullmatch(r"[A-Z][0-9A-Z]\.[0-9A-Z]{3}\.[0-9A-Z]{3}/0001-\d{2}", cnpj)
    assert is_valid_cnpj(cnpj)
    assert cnpj != cnpj_for_id(id_)


@settings(max_examples=150, deadline=None)
@given(document_ids, st.sampled_from([16, 17]), st.booleans())
def test_a_wrong_cnpj_check_digit_is_rejected(id_: int, position: int, alnum: bool) -> None:
    assert not is_valid_cnpj(_with_digit_changed(cnpj_for_id(id_, alnum), position))


def test_cnpjs_are_unique_over_a_range_of_ids() -> None:
    for alphanumeric in (False, True):
        values = {cnpj_for_id(i, alphanumeric) for i in range(1, 10_001)}
        assert len(values) == 10_000


@pytest.mark.parametrize(
    "value",
    [
        "11.222.333/0001-81",
        "11222333000181",
        "12.ABC.345/01DE-35",  # the Receita Federal's example of the July 2026 format
        "12ABC34501DE35",
    ],
)
def test_known_valid_cnpjs_are_accepted(value: str) -> None:
    assert is_valid_cnpj(value)


@pytest.mark.parametrize(
    "value",
    [
        "11.222.333/0001-82",
        "12.ABC.345/01DE-36",
        "12.abc.345/01de-35",  # letters are upper case only
        "12.ABC.345/01DE-3A",  # check digits stay numeric
        "00.000.000/0000-00",
        "11111111111111",
        "11.222.333/0001",
        "",
    ],
)
def test_malformed_or_wrong_cnpjs_are_rejected(value: str) -> None:
    assert not is_valid_cnpj(value)


# --- CRM and member cards -----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.integers(1, MAX_CRM_ID), st.sampled_from(sorted(UF_CODES)))
def test_crm_is_six_digits_and_the_given_state(id_: int, uf: str) -> None:
    crm = crm_for_id(id_, uf)
    assert re.fullmatch(r"[1-9]\d{5}[A-Z]{2}", crm)
    assert crm.endswith(uf)


def test_crm_digits_are_unique_per_id_whatever_the_state() -> None:
    numbers = {crm_for_id(i, "SP")[:6] for i in range(1, 100_001)}
    assert len(numbers) == 100_000
    assert crm_for_id(7, "SP")[:6] == crm_for_id(7, "AM")[:6]


@pytest.mark.parametrize("uf", ["XX", "sp", "", "BR"])
def test_crm_refuses_a_state_that_does_not_exist(uf: str) -> None:
    with pytest.raises(ValueError, match="UF"):
        crm_for_id(1, uf)


@settings(max_examples=150, deadline=None)
@given(document_ids)
def test_card_numbers_are_16_digits_with_a_luhn_check(id_: int) -> None:
    card = carteira_for_id(id_)
    assert re.fullmatch(r"\d{16}", card)
    assert _luhn_ok(card)


def test_card_numbers_are_unique_and_bulk_matches_single() -> None:
    ids = np.arange(1, 200_001, dtype=np.int64)
    bulk = carteira_array(ids)
    assert len(set(bulk)) == ids.size
    top = np.array([MAX_DOCUMENT_ID - 1, MAX_DOCUMENT_ID], dtype=np.int64)
    assert carteira_array(top) == [carteira_for_id(i) for i in top.tolist()]
    assert [bulk[i - 1] for i in (1, 2, 77_777)] == [carteira_for_id(i) for i in (1, 2, 77_777)]
