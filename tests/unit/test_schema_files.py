"""The schema's SQL files agree with the generator."""

from __future__ import annotations

import re
from importlib import resources

from hospital_sim.generate import LOOKUP_CONVENIOS
from hospital_sim.generate.documents import cnpj_for_id


def lookup_sql() -> str:
    return resources.files("hospital_sim.schema").joinpath("04_lookups.sql").read_text("utf-8")


def test_lookup_rows_in_sql_are_the_generators() -> None:
    rows = re.findall(r"\((\d+), '([^']*)', '([^']*)', '([^']*)',\s*'([^']*)'\)", lookup_sql())
    assert [(int(r[0]), *r[1:]) for r in rows] == [tuple(r) for r in LOOKUP_CONVENIOS]


def test_lookup_cnpjs_are_those_of_their_ids() -> None:
    # Generated plans take ids >= 3, so their CNPJs can never collide with these two.
    assert [r[2] for r in LOOKUP_CONVENIOS] == [cnpj_for_id(1), cnpj_for_id(2)]
