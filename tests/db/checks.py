"""What the database tests check rows with: the coherence rules (``coherence``), fingerprints,
and the audit that counts every row change on the server, to compare with the stream's own
counters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from hospital_sim.db.seed import seed_database
from hospital_sim.generate.addresses import ADDRESS_UF
from hospital_sim.stream.mixing import Mix
from hospital_sim.stream.run import StreamSummary
from hospital_sim.stream.workload import OPERATIONS
from tests.db.coherence import COHERENCE
from tests.db.support import FreshDb


def scalar(conn: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


ROWS_WITHOUT_AUDIT = {
    t: f"SELECT md5(string_agg((to_jsonb(x) - 'created_at' - 'updated_at')::text, '|'"
    f" ORDER BY id)) FROM {t} x"
    for t in TABLES
}


def fingerprint(db: FreshDb) -> dict[str, object]:
    with db.connect() as conn:
        return {t: scalar(conn, q) for t, q in ROWS_WITHOUT_AUDIT.items()}


def phone_area_mismatches(conn: psycopg.Connection[tuple[object, ...]]) -> list[object]:
    """Patients whose phone area code (DDD) is not one of their address's state."""
    from hospital_sim.generate.places import UF_DDDS

    rows = conn.execute(
        "SELECT id, substring(telefone FROM '^\\((\\d\\d)\\)'),"
        " substring(endereco FROM %s::text) FROM pacientes",
        (ADDRESS_UF,),
    ).fetchall()
    return [r for r in rows if r[2] is None or int(str(r[1])) not in UF_DDDS[str(r[2])]]


STREAM_VOLUMES = {
    "seed_pacientes": 200,
    "seed_medicos": 20,
    "seed_convenios": 5,
    "seed_consultas": 400,
    "seed_exames": 300,
    "seed_internacoes": 100,
    "seed_pacientes_convenios": 250,
}

# Test-only instrumentation: every row change, counted by the server itself.
AUDIT = """
CREATE TABLE stream_audit (tbl text, op text);
CREATE FUNCTION stream_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO stream_audit VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$;
""" + "".join(
    f"CREATE TRIGGER audit_{t} AFTER INSERT OR UPDATE ON {t}"
    " FOR EACH ROW EXECUTE FUNCTION stream_audit();\n"
    for t in TABLES
)


def seeded(db: FreshDb, seed: int = 11, *, audit: bool = True, **kw: Any) -> FreshDb:
    settings = db.settings(**STREAM_VOLUMES)
    init_database(settings)
    seed_database(settings, seed=seed, **kw)
    if audit:
        with db.connect() as conn:
            conn.execute(AUDIT.encode())
    return db


def audited(db: FreshDb) -> dict[tuple[str, str], int]:
    with db.connect() as conn:
        rows = conn.execute("SELECT tbl, op, count(*) FROM stream_audit GROUP BY 1, 2").fetchall()
    return {(str(t), str(op)): int(str(n)) for t, op, n in rows}


def audit_count(db: FreshDb) -> int:
    """Row changes the server has committed since the audit was installed."""
    with db.connect() as conn:
        return int(str(scalar(conn, "SELECT count(*) FROM stream_audit")))


def committed_more_than(db: FreshDb, count: int) -> Callable[[], bool]:
    """A condition to wait for: the server has committed more than ``count`` row changes."""
    return lambda: audit_count(db) > count


def counted(summary: StreamSummary) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for (op, table, outcome), n in summary.stats.events.items():
        if outcome == "committed":
            key = (table, OPERATIONS[op].kind)
            out[key] = out.get(key, 0) + n
    return out


def assert_counters_equal_database(db: FreshDb, summary: StreamSummary) -> None:
    assert counted(summary) == audited(db)


def assert_coherent(db: FreshDb) -> None:
    with db.connect() as conn:
        broken = {rule: scalar(conn, q) for rule, q in COHERENCE.items()}
    assert broken == dict.fromkeys(COHERENCE, 0)


SCENARIO_TABLES = ("fila_integracao", "relatorios_mensais")  # created by the scenarios

# Test-only instrumentation: every row change and every TRUNCATE, counted by the server.
SCENARIO_AUDIT = """
CREATE TABLE scenario_audit (tbl text, op text);
CREATE FUNCTION scenario_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO scenario_audit VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$;
"""


def audit_scenarios(db: FreshDb, mix: Mix) -> None:
    """Prepare ``mix``'s DDL, then count every row change and TRUNCATE of its tables."""
    with db.connect() as conn:
        mix.prepare(conn)  # the scenarios' own tables exist before the triggers go on
        conn.execute(SCENARIO_AUDIT.encode())
        for table in (*TABLES, *SCENARIO_TABLES):
            if scalar(conn, f"SELECT to_regclass('{table}')") is None:
                continue  # not one of this mix's tables
            conn.execute(
                f"CREATE TRIGGER audit_{table} AFTER INSERT OR UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION scenario_audit()"
            )
            conn.execute(
                f"CREATE TRIGGER audit_t_{table} AFTER TRUNCATE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION scenario_audit()"
            )


def scenario_audited(db: FreshDb) -> dict[tuple[str, str], int]:
    with db.connect() as conn:
        rows = conn.execute("SELECT tbl, op, count(*) FROM scenario_audit GROUP BY 1, 2")
        return {(str(t), str(op)): int(str(n)) for t, op, n in rows.fetchall()}


def scenario_counts(summary: StreamSummary) -> dict[tuple[str, str], int]:
    """The stream's events and the scenarios' rows, as (table, INSERT/UPDATE/...)."""
    total = counted(summary)
    for (table, op), n in summary.stats.scenario_rows.items():
        total[(table, op.upper())] = total.get((table, op.upper()), 0) + n
    return total


KILL_AT_COMMIT = """
CREATE SEQUENCE kill_once;
CREATE FUNCTION kill_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A sequence is not rolled back with the transaction: this fires exactly once.
    IF nextval('kill_once') = %(nth)s THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER kill_at_commit AFTER INSERT ON %(table)s
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kill_at_commit();
"""


def kill_at_commit(db: FreshDb, table: str, nth: int) -> None:
    """End the server process that commits the ``nth`` row inserted into ``table``, once,
    at its commit (a deferred trigger): the client's connection drops with the outcome
    unknown, and the transaction is rolled back."""
    with db.connect() as conn:
        conn.execute((KILL_AT_COMMIT % {"table": table, "nth": nth}).encode())
