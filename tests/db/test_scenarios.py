"""`scenario run`: each hospital event changes what it says, keeps the seed's rules, repeats."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest

from hospital_sim.db.lifecycle import init_database, reset_database
from hospital_sim.db.schema import TABLES
from hospital_sim.db.seed import seed_database
from hospital_sim.scenarios import SCENARIOS
from hospital_sim.scenarios.run import ScenarioResult, run_scenario
from tests.db.coherence import COHERENCE
from tests.db.support import FreshDb, run_cli

pytestmark = pytest.mark.db

VOLUMES = {
    "seed_pacientes": 300,
    "seed_medicos": 30,
    "seed_convenios": 6,
    "seed_consultas": 700,
    "seed_exames": 500,
    "seed_internacoes": 200,
    "seed_pacientes_convenios": 350,
}
Conn = psycopg.Connection[tuple[object, ...]]


def _scalar(conn: Conn, query: str) -> object:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _counts(db: FreshDb) -> dict[str, int]:
    with db.connect() as conn:
        return {t: int(str(_scalar(conn, f"SELECT count(*) FROM {t}"))) for t in TABLES}


def _fingerprint(db: FreshDb) -> dict[str, object]:
    with db.connect() as conn:
        return {
            t: _scalar(
                conn,
                f"SELECT md5(string_agg((to_jsonb(x) - 'created_at' - 'updated_at')::text, '|'"
                f" ORDER BY id)) FROM {t} x",
            )
            for t in TABLES
        }


def _all_scenarios(db: FreshDb) -> tuple[dict[str, int], list[ScenarioResult]]:
    settings = db.settings(**VOLUMES, scenario_hold_seconds=0.2)
    init_database(settings)
    seed_database(settings, seed=42)
    before = _counts(db)
    return before, [run_scenario(settings, name, seed=7, times=2) for name in SCENARIOS]


def test_every_scenario_changes_what_it_reports_keeps_the_rules_and_repeats_under_its_seed(
    make_db: Callable[[], FreshDb],
) -> None:
    a, b = make_db(), make_db()
    before, results = _all_scenarios(a)
    _all_scenarios(b)

    assert _fingerprint(a) == _fingerprint(b)  # same seed, same rows, values and keys
    assert all(r.changes.total() > 0 and r.changes.transactions >= 2 for r in results)
    after = _counts(a)
    for table in TABLES:  # every row a scenario reports inserted or deleted is really so
        inserted = sum(r.changes.rows[(table, "insert")] for r in results)
        deleted = sum(r.changes.rows[(table, "delete")] for r in results)
        assert after[table] == before[table] + inserted - deleted, table
    with a.connect() as conn:
        broken = {rule: _scalar(conn, q) for rule, q in COHERENCE.items()}
        assert broken == dict.fromkeys(COHERENCE, 0)
        assert _scalar(conn, "SELECT count(*) FROM fila_integracao") == 0  # truncated
        notes = _scalar(conn, "SELECT min(length(evolucao_clinica)) FROM internacoes")
        assert int(str(notes)) >= 4000
        assert _scalar(
            conn, "SELECT count(*) FROM pacientes_convenios WHERE validade = 'infinity'"
        ) == 2  # fmt: skip
        assert _scalar(
            conn, "SELECT max(valor_cobrado) FROM exames"
        ) == Decimal("99999999999999999999999999999999999999.99")  # fmt: skip
        assert (
            int(str(_scalar(conn, "SELECT count(*) FROM pacientes WHERE nome_social IS NOT NULL")))
            > 0
        )
        billed = _scalar(conn, "SELECT count(lote_faturamento) FROM consultas")
        assert int(str(billed)) > 100


def test_reset_removes_the_tables_and_columns_scenarios_added(fresh_db: FreshDb) -> None:
    settings = fresh_db.settings(**VOLUMES, scenario_hold_seconds=0.1)
    init_database(settings)
    seed_database(settings, seed=1)
    for name in ("nightly-cleanup", "clinical-notes", "schema-migration", "month-end-billing",
                 "long-report"):  # fmt: skip
        run_scenario(settings, name, seed=1)
    reset_database(settings, seed=lambda s: seed_database(s, seed=1))
    with fresh_db.connect() as conn:
        assert _scalar(conn, "SELECT to_regclass('fila_integracao')") is None
        assert _scalar(conn, "SELECT to_regclass('relatorios_mensais')") is None
        added = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE column_name IN ('evolucao_clinica', 'nome_social', 'valor_cobrado',"
            " 'lote_faturamento')"
        ).fetchall()
        assert added == []


def test_cli_scenario_run_reports_its_seed_and_rejects_an_unknown_name(fresh_db: FreshDb) -> None:
    env = fresh_db.env({k.upper(): str(v) for k, v in VOLUMES.items()})
    assert run_cli("init", env=env).returncode == 0
    assert run_cli("seed", "--seed", "3", env=env).returncode == 0
    ok = run_cli("scenario", "run", "cancelled-orders", "--seed", "5", "--times", "3", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "scenario cancelled-orders x3:" in ok.stdout
    assert "pass --seed 5 to repeat" in ok.stdout
    bad = run_cli("scenario", "run", "lgpd-erase", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: unknown scenario 'lgpd-erase'; did you mean lgpd-erasure? (accepted: "
        + ", ".join(SCENARIOS)
        + ")"
    ]


def test_long_report_holds_its_xmin_while_it_runs_and_releases_it_after(
    fresh_db: FreshDb,
) -> None:
    import threading

    from tests.db.support import wait_until

    settings = fresh_db.settings(**VOLUMES, scenario_hold_seconds=3)
    init_database(settings)
    seed_database(settings, seed=2)
    done: list[ScenarioResult] = []
    runner = threading.Thread(target=lambda: done.append(run_scenario(settings, "long-report")))
    held = (
        "SELECT backend_xmin::text FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
        " AND backend_xmin IS NOT NULL"
    )
    with fresh_db.connect() as conn:
        runner.start()
        wait_until(lambda: conn.execute(held).fetchone() is not None, timeout=10,
                   what="the report's open snapshot")  # fmt: skip
        xmin = conn.execute(held).fetchone()
        for _ in range(3):  # the hospital goes on writing; the report's xmin stays put
            conn.execute("UPDATE pacientes SET telefone = telefone WHERE id = 1")
        assert conn.execute(held).fetchone() == xmin
        runner.join(30)
        assert done and done[0].changes.rows == {("relatorios_mensais", "insert"): 1}
        assert conn.execute(held).fetchone() is None  # committed: the horizon moves on
        stored = str(_scalar(conn, "SELECT conteudo FROM relatorios_mensais"))
        assert '"conferencia": true' in stored and '"exames_pendentes"' in stored


def test_schema_migration_migrates_once_and_later_occurrences_only_use_it(
    fresh_db: FreshDb,
) -> None:
    settings = fresh_db.settings(**VOLUMES)
    init_database(settings)
    seed_database(settings, seed=5)
    first = run_scenario(settings, "schema-migration", seed=1).changes
    again = run_scenario(settings, "schema-migration", seed=2).changes
    # The DDL is a transaction of its own, with no row in it; then one per update, one insert.
    updates = [c.rows[("pacientes", "update")] for c in (first, again)]
    assert first.transactions == updates[0] + 2
    assert again.transactions == updates[1] + 1
