"""`cdc diff`: source tables against a copy in another database, chunk by chunk."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from hospital_sim.cdc.verify.diff import diff_databases
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from hospital_sim.db.seed import seed_database
from tests.db.cdc_support import SMALL
from tests.db.support import FreshDb, run_cli

pytestmark = pytest.mark.db


def _copy(source: FreshDb, target: FreshDb, *, schema: str = "public", prefix: str = "") -> None:
    """Plain tables in the target (as a sink would create them), rows copied over."""
    with source.connect() as src, target.connect() as dst:
        dst.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for table in TABLES:
            cols = src.execute(
                "SELECT string_agg(quote_ident(column_name) || ' ' || data_type, ', '"
                " ORDER BY ordinal_position) FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = %s",
                (table,),
            ).fetchone()
            assert cols is not None
            name = sql.Identifier(schema, prefix + table)
            dst.execute(sql.SQL("CREATE TABLE {} ({})").format(name, sql.SQL(str(cols[0]))))
            out = sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))
            into = sql.SQL("COPY {} FROM STDIN").format(name)
            with src.cursor().copy(out) as reader, dst.cursor().copy(into) as writer:
                for data in reader:
                    writer.write(data)


@pytest.fixture
def two(make_db: Callable[[], FreshDb]) -> tuple[FreshDb, FreshDb]:
    source, target = make_db(), make_db()
    s = source.settings(**SMALL)
    init_database(s)
    seed_database(s, seed=11)
    return source, target


def test_identical_copies_exit_0(two: tuple[FreshDb, FreshDb]) -> None:
    source, target = two
    _copy(source, target, schema="sink", prefix="dbz_")
    proc = run_cli(
        "cdc", "diff", "--target", target.dsn, "--target-schema", "sink",
        "--table-prefix", "dbz_", "--chunk", "37", env=source.env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("IDENTICAL")
    n = SMALL["seed_consultas"]
    assert re.search(rf"^consultas\s+{n}\s+{n}\s+{n}\s+0\s+0\s+0$", proc.stdout, re.M)


def test_missing_extra_and_changed_rows_are_found(two: tuple[FreshDb, FreshDb]) -> None:
    source, target = two
    _copy(source, target)
    with target.connect() as conn:
        conn.execute("DELETE FROM consultas WHERE id = 42")
        conn.execute(
            "INSERT INTO exames SELECT 9999, paciente_id, tipo_exame, data, resultado,"
            " created_at, updated_at FROM exames WHERE id = 1"
        )
        conn.execute("UPDATE pacientes SET telefone = '(11) 1234-5678' WHERE id = 77")
    report = diff_databases(source.settings(), target.dsn, chunk=50)
    tables = {t.table: t for t in report.tables}
    assert not report.identical
    assert (tables["consultas"].missing, tables["consultas"].missing_ids) == (1, [42])
    assert (tables["exames"].extra, tables["exames"].extra_ids) == (1, [9999])
    assert tables["pacientes"].differing == 1
    assert [(d.id, d.column, d.got) for d in tables["pacientes"].diffs] == [
        (77, "telefone", "(11) 1234-5678")
    ]
    assert tables["medicos"].identical

    proc = run_cli("cdc", "diff", "--target", target.dsn, "--json", env=source.env())
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["tables"]["consultas"]["missing_ids"] == [42]
    proc = run_cli("cdc", "diff", "--target", target.dsn, env=source.env())
    assert "consultas: 1 missing in the target, id 42" in proc.stdout
    assert "pacientes id 77: telefone source" in proc.stdout


def test_a_target_without_the_tables_exits_2(two: tuple[FreshDb, FreshDb]) -> None:
    source, target = two
    proc = run_cli("cdc", "diff", "--target", target.dsn, env=source.env())
    assert proc.returncode == 2
    assert "target has no table public.pacientes" in proc.stderr
    with psycopg.connect(target.dsn):
        pass


def test_a_column_the_user_added_is_compared_too(two: tuple[FreshDb, FreshDb]) -> None:
    # It used to be left out of both hashes: a wrong value in it read as identical.
    source, target = two
    with source.connect() as conn:
        conn.execute("ALTER TABLE exames ADD COLUMN valor numeric(10,2)")
        conn.execute("UPDATE exames SET valor = 120.50 WHERE id <= 10")
    _copy(source, target)
    with target.connect() as conn:
        conn.execute("UPDATE exames SET valor = 99.99 WHERE id = 4")

    report = diff_databases(source.settings(), target.dsn, chunk=50)

    exames = next(t for t in report.tables if t.table == "exames")
    assert (exames.differing, exames.missing, exames.extra) == (1, 0, 0)
    assert [(d.id, d.column, str(d.expected), str(d.got)) for d in exames.diffs] == [
        (4, "valor", "120.50", "99.99")
    ]
    with target.connect() as conn:
        conn.execute("ALTER TABLE exames DROP COLUMN valor")
    proc = run_cli("cdc", "diff", "--target", target.dsn, env=source.env())
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: target table public.exames has no column valor (the source table exames has "
        "it); add it to the sink or drop it from the source"
    )


def test_a_changed_timestamp_is_printed_as_a_timestamp(two: tuple[FreshDb, FreshDb]) -> None:
    source, target = two
    _copy(source, target)
    with target.connect() as conn:
        conn.execute("UPDATE consultas SET data = '2025-03-04 10:30:00' WHERE id = 5")
    with source.connect() as conn:
        before = conn.execute("SELECT data FROM consultas WHERE id = 5").fetchone()
    assert before is not None and isinstance(before[0], dt.datetime)

    proc = run_cli("cdc", "diff", "--target", target.dsn, env=source.env())

    assert proc.returncode == 1
    assert "datetime.datetime(" not in proc.stdout
    assert (
        f"consultas id 5: data source {before[0].isoformat(sep=' ')}, target 2025-03-04 10:30:00"
        in proc.stdout
    )
