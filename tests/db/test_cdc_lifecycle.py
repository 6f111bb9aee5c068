"""CDC across the schema's lifecycle: reset keeps the publication, teardown converges."""

from __future__ import annotations

import psycopg
import pytest

from hospital_sim.cdc.capture.setup import setup_cdc, teardown_cdc
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from tests.db.cdc_support import CdcDb
from tests.db.support import FreshDb, run_cli

pytestmark = pytest.mark.db


def _published(conn: psycopg.Connection[tuple[object, ...]], pub: str) -> set[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = %s", (pub,)
    ).fetchall()
    return {str(r[0]) for r in rows}


def test_reset_keeps_the_publication_and_replica_identity(cdc: CdcDb) -> None:
    s = cdc.settings(cdc_password="pw-reset-test")
    init_database(s)
    setup_cdc(s, replica_identity_mode="full", tables=["pacientes", "consultas"])
    out = run_cli("reset", "--yes", "--seed", "1", env=cdc.env({"CDC_PASSWORD": "pw-reset-test"}))
    assert out.returncode == 0, out.stderr
    with cdc.connect() as conn:
        assert _published(conn, cdc.publication) == set(TABLES)
        idents = {
            str(name): str(ident)
            for name, ident in conn.execute(
                "SELECT relname, relreplident::text FROM pg_class WHERE relname = ANY(%s)",
                (list(TABLES),),
            ).fetchall()
        }
    assert idents["pacientes"] == "f" and idents["consultas"] == "f"
    assert idents["exames"] == "d"
    teardown_cdc(s)


def test_teardown_removes_the_role_from_every_database_it_touched(
    cdc: CdcDb,
    make_db: object,
) -> None:
    other: FreshDb = make_db()  # type: ignore[operator]
    s = cdc.settings(cdc_password="pw-teardown")
    init_database(s)
    setup_cdc(s)
    # The same role set up in a second database, as `demo` does with <db>_demo.
    s2 = other.settings(
        cdc_role=cdc.role,
        cdc_password="pw-teardown",
        cdc_publication=cdc.publication,
        cdc_slot=cdc.slot + "_o",
    )
    init_database(s2)
    setup_cdc(s2)
    out = run_cli("cdc", "teardown", "--yes", env=cdc.env())
    assert out.returncode == 0, out.stderr
    with cdc.connect() as conn:
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (cdc.role,)).fetchone()
    assert role is None
    teardown_cdc(s2)  # the other database's publication and slot; the role is gone already
