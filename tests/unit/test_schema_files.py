"""The schema's SQL files agree with the generator."""

from __future__ import annotations

import re
from importlib import resources

from hospital_sim.generate import LOOKUP_CONVENIOS
from hospital_sim.generate.documents import cnpj_for_id


def lookup_sql() -> str:
    return resources.files("hospital_sim.db.schema").joinpath("04_lookups.sql").read_text("utf-8")


def test_lookup_rows_in_sql_are_the_generators() -> None:
    rows = re.findall(r"\((\d+), '([^']*)', '([^']*)', '([^']*)',\s*'([^']*)'\)", lookup_sql())
    assert [(int(r[0]), *r[1:]) for r in rows] == [tuple(r) for r in LOOKUP_CONVENIOS]


def test_lookup_cnpjs_are_those_of_their_ids() -> None:
    # Generated plans take ids >= 3, so their CNPJs can never collide with these two.
    assert [r[2] for r in LOOKUP_CONVENIOS] == [cnpj_for_id(1), cnpj_for_id(2)]


def test_every_layer_knows_the_same_tables_and_columns() -> None:
    from hospital_sim.cdc import schema_types
    from hospital_sim.generate import TABLE_COLUMNS
    from hospital_sim.tables import TABLES

    sql = "".join(
        resources.files("hospital_sim.db.schema").joinpath(n).read_text("utf-8")
        for n in ("01_tables.sql",)
    )
    assert set(schema_types.TABLE_SCHEMAS) == set(TABLES)
    assert tuple(TABLE_COLUMNS) == TABLES
    for table in TABLES:
        cdc_columns = schema_types.TABLE_SCHEMAS[table].column_names
        assert cdc_columns == (*TABLE_COLUMNS[table], "created_at", "updated_at")
        block = sql.split(f"CREATE TABLE IF NOT EXISTS {table} (", 1)[1].split(");", 1)[0]
        declared = tuple(
            line.split()[0]
            for line in block.splitlines()
            if line.strip()
            and not line.strip().startswith(("UNIQUE", "CHECK", "CHECK ("))
            and line.startswith("    ")
            and not line.startswith("     ")
        )
        assert declared == cdc_columns, table


def test_verify_knows_every_table_a_scenario_creates() -> None:
    from hospital_sim.cdc.schema_types import SCENARIO_TABLE_SCHEMAS
    from hospital_sim.scenarios import EXTRA_TABLES

    # A scenario's table that verify does not know makes it refuse the scenario's log.
    assert set(EXTRA_TABLES) == set(SCENARIO_TABLE_SCHEMAS)
