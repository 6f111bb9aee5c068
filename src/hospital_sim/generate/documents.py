"""Brazilian identity documents: CPF, CNPJ, CRM and health-plan card numbers.

Each ``*_for_id`` function is a fixed bijection of a row id, independent of any seed:
a row inserted later by any process (the live stream, another worker) gets a document
that can never collide with a seeded one, without asking the database.
"""

from __future__ import annotations

import re
from operator import mul

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.places import UF_CODES

MAX_DOCUMENT_ID = 99_999_999
"""Largest row id accepted by cpf_for_id, cnpj_for_id and carteira_for_id."""

MAX_CRM_ID = 899_999
"""Largest row id accepted by crm_for_id (CRM numbers have six digits)."""

# Multiplier coprime with the modulus makes id -> (id * A + B) mod M a permutation, so
# consecutive ids land far apart. The CPF offset was picked so that the ten repeated-digit
# bases (000000000, 111111111, ...), which validators reject, are only reached by ids
# above MAX_DOCUMENT_ID (tests/unit/test_generate_documents.py checks this).
_CPF_MOD, _CPF_MUL, _CPF_ADD = 10**9, 736_481_297, 104_729_518
_CNPJ_MOD, _CNPJ_MUL, _CNPJ_ADD = 10**8, 73_176_637, 31_415_926
_ALNUM_MOD, _ALNUM_MUL, _ALNUM_ADD = 26 * 36**7, 1_234_567_890_131, 271_828_182
_CRM_MOD, _CRM_MUL, _CRM_ADD = 900_000, 480_737, 123_457
_CARD_MOD, _CARD_MUL, _CARD_ADD = 10**15, 592_903_871_456_117, 161_803_398_874

_CNPJ_BRANCH = "0001"
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CNPJ_W1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_W2 = (6, *_CNPJ_W1)

_CPF_RE = re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11}")
_CNPJ_RE = re.compile(r"[0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}/[0-9A-Z]{4}-\d{2}|[0-9A-Z]{12}\d{2}")


def _check_id(id_: int, maximum: int, what: str) -> None:
    if not 1 <= id_ <= maximum:
        raise ValueError(f"{what} id must be between 1 and {maximum}, got {id_}")


def _mod11_digit(total: int) -> int:
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


_CPF_W1 = tuple(range(10, 1, -1))
_CPF_W2 = tuple(range(11, 1, -1))


def cpf_check_digits(base: str) -> str:
    """The two check digits of a 9-digit CPF base."""
    digits = list(map(int, base))
    first = sum(map(mul, digits, _CPF_W1)) * 10 % 11 % 10
    digits.append(first)
    second = sum(map(mul, digits, _CPF_W2)) * 10 % 11 % 10
    return f"{first}{second}"


def cnpj_check_digits(base: str) -> str:
    """The two check digits of a 12-character CNPJ base (digits or, since 2026, 0-9A-Z)."""
    values = [ord(c) - 48 for c in base]
    first = _mod11_digit(sum(map(mul, values, _CNPJ_W1)))
    values.append(first)
    second = _mod11_digit(sum(map(mul, values, _CNPJ_W2)))
    return f"{first}{second}"


def _format_cpf(digits: str) -> str:
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def cpf_for_id(id_: int) -> str:
    """The CPF of row ``id_``, formatted ``123.456.789-09``; valid and unique per id."""
    _check_id(id_, MAX_DOCUMENT_ID, "CPF")
    base = f"{(id_ * _CPF_MUL + _CPF_ADD) % _CPF_MOD:09d}"
    return _format_cpf(base + cpf_check_digits(base))


def cnpj_for_id(id_: int, alphanumeric: bool = False) -> str:
    """The head-office CNPJ of row ``id_``, formatted ``12.345.678/0001-95``.

    With ``alphanumeric`` the 8-character root uses the 0-9A-Z alphabet the Receita
    Federal accepts from July 2026; its first character is always a letter, so an
    alphanumeric CNPJ never equals a numeric one.
    """
    _check_id(id_, MAX_DOCUMENT_ID, "CNPJ")
    if alphanumeric:
        scrambled = (id_ * _ALNUM_MUL + _ALNUM_ADD) % _ALNUM_MOD
        letter, rest = chr(65 + scrambled % 26), scrambled // 26
        tail = []
        for _ in range(7):
            rest, digit = divmod(rest, 36)
            tail.append(_BASE36[digit])
        root = letter + "".join(reversed(tail))
    else:
        root = f"{(id_ * _CNPJ_MUL + _CNPJ_ADD) % _CNPJ_MOD:08d}"
    base = root + _CNPJ_BRANCH
    dv = cnpj_check_digits(base)
    return f"{base[:2]}.{base[2:5]}.{base[5:8]}/{base[8:]}-{dv}"


def crm_for_id(id_: int, uf: str) -> str:
    """The CRM registration of doctor ``id_`` in state ``uf``, e.g. ``123456SP``.

    The six digits alone are unique per id, so two doctors never share a CRM even when
    registered in different states.
    """
    _check_id(id_, MAX_CRM_ID, "CRM")
    if uf not in UF_CODES:
        raise ValueError(f"CRM state must be a Brazilian UF such as SP or RJ, got {uf!r}")
    return f"{100_000 + (id_ * _CRM_MUL + _CRM_ADD) % _CRM_MOD}{uf}"


def _luhn_digit(payload: str) -> int:
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def carteira_for_id(id_: int) -> str:
    """The 16-digit member card number of plan enrolment ``id_`` (last digit is Luhn)."""
    _check_id(id_, MAX_DOCUMENT_ID, "carteira")
    payload = f"{(id_ * _CARD_MUL + _CARD_ADD) % _CARD_MOD:015d}"
    return payload + str(_luhn_digit(payload))


def is_valid_cpf(value: str) -> bool:
    """True for a CPF with correct check digits, formatted or as 11 digits.

    Repeated-digit numbers such as 111.111.111-11 pass the arithmetic but are rejected,
    as the Receita Federal does.
    """
    if not isinstance(value, str) or not _CPF_RE.fullmatch(value):
        return False
    digits = value.replace(".", "").replace("-", "")
    if len(set(digits)) == 1:
        return False
    return cpf_check_digits(digits[:9]) == digits[9:]


def is_valid_cnpj(value: str) -> bool:
    """True for a CNPJ with correct check digits, numeric or alphanumeric, formatted or not."""
    if not isinstance(value, str) or not _CNPJ_RE.fullmatch(value):
        return False
    chars = value.replace(".", "").replace("/", "").replace("-", "")
    if len(set(chars)) == 1:
        return False
    return cnpj_check_digits(chars[:12]) == chars[12:]


# Vectorised versions for bulk generation; they must agree with the scalar ones above.

_PAD2 = np.array([f"{i:02d}" for i in range(100)], dtype=object)
_PAD3 = np.array([f"{i:03d}" for i in range(1000)], dtype=object)
PAD4 = np.array([f"{i:04d}" for i in range(10_000)], dtype=object)


def _digits(values: npt.NDArray[np.int64], width: int) -> list[npt.NDArray[np.int64]]:
    """Decimal digits of each value, most significant first."""
    out = []
    rest = values.copy()
    for _ in range(width):
        out.append(rest % 10)
        rest //= 10
    return out[::-1]


def cpf_array(ids: npt.NDArray[np.int64]) -> list[str]:
    """cpf_for_id over an array of ids, vectorised."""
    if ids.size and (ids.min() < 1 or ids.max() > MAX_DOCUMENT_ID):
        raise ValueError(f"CPF ids must be between 1 and {MAX_DOCUMENT_ID}")
    base = (ids.astype(np.int64) * _CPF_MUL + _CPF_ADD) % _CPF_MOD
    digits = _digits(base, 9)
    first = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) * 10 % 11 % 10
    second = (
        (sum(d * w for d, w in zip(digits, range(11, 2, -1), strict=True)) + 2 * first)
        * 10
        % 11
        % 10
    )
    dv = first * 10 + second
    parts = (_PAD3[base // 1_000_000], _PAD3[base // 1000 % 1000], _PAD3[base % 1000], _PAD2[dv])
    a, b, c, d = (p.tolist() for p in parts)
    return [f"{w}.{x}.{y}-{z}" for w, x, y, z in zip(a, b, c, d, strict=True)]


def carteira_array(ids: npt.NDArray[np.int64]) -> list[str]:
    """carteira_for_id over an array of ids, vectorised."""
    if ids.size and (ids.min() < 1 or ids.max() > MAX_DOCUMENT_ID):
        raise ValueError(f"carteira ids must be between 1 and {MAX_DOCUMENT_ID}")
    # Split the multiplier so every product fits in int64: id * A = id * hi * 10^8 + id * lo.
    ids = ids.astype(np.int64)
    high = ids * (_CARD_MUL // 10**8) % 10**7 * 10**8
    payload = (high + ids * (_CARD_MUL % 10**8) + _CARD_ADD) % _CARD_MOD
    total = np.zeros_like(payload)
    for position, digit in enumerate(reversed(_digits(payload, 15))):
        doubled = digit * 2 if position % 2 == 0 else digit
        total += np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - total % 10) % 10
    parts = (
        PAD4[payload // 10**11],
        PAD4[payload // 10**7 % 10_000],
        PAD4[payload // 1000 % 10_000],
        _PAD3[payload % 1000],
        check.astype(str).astype(object),
    )
    a, b, c, d, e = (p.tolist() for p in parts)
    return [f"{v}{w}{x}{y}{z}" for v, w, x, y, z in zip(a, b, c, d, e, strict=True)]
