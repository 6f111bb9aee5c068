"""`init`: the schema a user gets, and that running it again changes nothing."""

from __future__ import annotations

import psycopg
import pytest

from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from hospital_sim.generate.documents import is_valid_cnpj
from tests.db.support import FreshDb, run_cli

pytestmark = pytest.mark.db

CATALOG = """
SELECT 'col', c.table_name || '.' || c.column_name || ' ' || c.data_type
       || coalesce('(' || c.character_maximum_length || ')', '') || ' ' || c.is_nullable
  FROM information_schema.columns c WHERE c.table_schema = 'public'
UNION ALL
SELECT 'idx', indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'con', conrelid::regclass || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'trg', tgrelid::regclass || ' ' || tgname || ' ' || t.oid::text
  FROM pg_trigger t WHERE NOT tgisinternal
UNION ALL
SELECT 'row', id || ' ' || cnpj || ' ' || xmin::text FROM convenios
ORDER BY 1, 2
"""


def catalog(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return conn.execute(CATALOG).fetchall()


def test_init_creates_the_seven_tables_with_the_original_columns(fresh_db: FreshDb) -> None:
    init_database(fresh_db.settings())
    with fresh_db.connect() as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
        assert tables == set(TABLES)
        cols = {
            str(name): str(kind)
            for name, kind in conn.execute(
                "SELECT column_name, data_type"
                " || coalesce('(' || character_maximum_length || ')', '')"
                " FROM information_schema.columns WHERE table_name = 'pacientes'"
            ).fetchall()
        }
    assert cols == {
        "id": "bigint",
        "nome": "character varying(150)",
        "nascimento": "date",
        "cpf": "character varying(20)",
        "telefone": "character varying(20)",
        "endereco": "character varying(200)",
        "data_cadastro": "timestamp without time zone",
        "created_at": "timestamp without time zone",
        "updated_at": "timestamp without time zone",
    }


def test_init_twice_changes_nothing(fresh_db: FreshDb) -> None:
    init_database(fresh_db.settings())
    with fresh_db.connect() as conn:
        before = catalog(conn)
    init_database(fresh_db.settings())
    with fresh_db.connect() as conn:
        assert catalog(conn) == before


def test_lookup_plans_exist_with_valid_cnpjs(fresh_db: FreshDb) -> None:
    init_database(fresh_db.settings())
    with fresh_db.connect() as conn:
        rows = conn.execute("SELECT id, nome, cnpj, tipo FROM convenios ORDER BY id").fetchall()
        nextval = conn.execute("SELECT nextval('convenios_id_seq')").fetchone()
    assert [r[0] for r in rows] == [1, 2]
    assert str(rows[0][1]).startswith("SUS") and rows[0][3] == "publico" and rows[1][3] == "privado"
    assert all(is_valid_cnpj(str(r[2])) for r in rows)
    assert nextval == (3,)


def test_no_index_duplicates_a_unique_constraint(fresh_db: FreshDb) -> None:
    init_database(fresh_db.settings())
    with fresh_db.connect() as conn:
        dup = conn.execute(
            """
            SELECT a.indexrelid::regclass, b.indexrelid::regclass
              FROM pg_index a JOIN pg_index b
                ON a.indrelid = b.indrelid AND a.indexrelid < b.indexrelid
               AND (a.indkey::int2[])[0] = (b.indkey::int2[])[0]
               AND (a.indisunique OR b.indisunique)
             WHERE a.indrelid::regclass::text = ANY(%s)
               AND (a.indnatts = 1 OR b.indnatts = 1)
        """,
            (list(TABLES),),
        ).fetchall()
        fk_unindexed = conn.execute("""
            SELECT c.conrelid::regclass, c.conkey FROM pg_constraint c
             WHERE c.contype = 'f' AND NOT EXISTS (
                SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid
                   AND (i.indkey::int2[])[0] = c.conkey[1])
        """).fetchall()
    assert dup == []
    assert fk_unindexed == []


def test_updated_at_follows_updates(fresh_db: FreshDb) -> None:
    init_database(fresh_db.settings())
    with fresh_db.connect() as conn:
        conn.execute("UPDATE convenios SET cobertura = 'Nacional' WHERE id = 1")
        row = conn.execute("SELECT updated_at > created_at FROM convenios WHERE id = 1").fetchone()
    assert row == (True,)


def test_fk_rules_cascade_updates_and_restrict_deletes(fresh_db: FreshDb) -> None:
    init_database(fresh_db.settings())
    with fresh_db.connect() as conn:
        rules = set(
            conn.execute(
                "SELECT confupdtype, confdeltype FROM pg_constraint WHERE contype = 'f'"
            ).fetchall()
        )
        checks = [
            str(r[0])
            for r in conn.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c'"
            )
        ]
    assert rules == {("c", "r")}
    assert any("agendada" in c and "faltou" in c for c in checks)
    assert any("data_saida >= data_entrada" in c for c in checks)


def test_cli_init_then_counts_json(fresh_db: FreshDb) -> None:
    env = fresh_db.env()
    first = run_cli("init", env=env)
    assert first.returncode == 0, first.stderr
    out = run_cli("counts", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        '{"convenios": 2, "medicos": 0, "pacientes": 0, "pacientes_convenios": 0, '
        '"consultas": 0, "exames": 0, "internacoes": 0}'
    )


def test_counts_before_init_says_to_run_init(fresh_db: FreshDb) -> None:
    out = run_cli("counts", env=fresh_db.env())
    assert out.returncode == 2
    assert "run 'hospital-sim init' first" in out.stderr
