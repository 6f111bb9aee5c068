"""`cdc setup`, `cdc teardown` and `cdc status`: what a pipeline needs, and nothing more."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
from psycopg import conninfo, sql

from hospital_sim.cdc.capture.builtin import Capture
from hospital_sim.cdc.capture.setup import setup_cdc, teardown_cdc
from hospital_sim.cdc.capture.status import cdc_status, slot_lag
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from hospital_sim.errors import UserError
from tests.db.cdc_support import CdcDb
from tests.db.support import JsonHandler, run_cli, serve_http

pytestmark = pytest.mark.db


def test_setup_role_reads_but_cannot_write_and_is_not_superuser(cdc: CdcDb) -> None:
    s = cdc.settings(cdc_password="s3cret-for-test")
    init_database(s)
    result = setup_cdc(s)
    assert result.publication_action == "created"
    assert result.role_created and result.generated_password is None
    with cdc.connect() as conn:
        row = conn.execute(
            "SELECT rolsuper, rolreplication, rolcanlogin FROM pg_roles WHERE rolname = %s",
            (cdc.role,),
        ).fetchone()
    assert row == (False, True, True)
    as_role = conninfo.make_conninfo(cdc.db.dsn, user=cdc.role, password="s3cret-for-test")
    with psycopg.connect(as_role, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM convenios").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute("INSERT INTO convenios (nome, cnpj, tipo) VALUES ('x', 'y', 'z')")
        assert info.value.sqlstate == "42501"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE pacientes SET nome = 'x'")
    # The role is enough to stream changes, not to lock the tables for a snapshot.
    as_cdc = cdc.settings(database_url=as_role)
    captured = Capture(as_cdc, output=Path("/dev/null"), snapshot=False, idle_timeout=0.2).run()
    assert captured.stopped_by == "idle-timeout"
    with pytest.raises(UserError, match="--no-snapshot"):
        Capture(as_cdc, output=Path("/dev/null"), slot=f"{cdc.slot}_2", snapshot=True).run()


def test_setup_twice_is_idempotent_and_teardown_removes_everything(cdc: CdcDb) -> None:
    s = cdc.settings()
    init_database(s)
    first = setup_cdc(s, replica_identity_mode="full", tables=["pacientes", "consultas"])
    assert first.generated_password  # no CDC_PASSWORD: generated and shown once
    assert first.connector["database.password"] == first.generated_password
    assert first.identity_changed == ["pacientes", "consultas"]
    second = setup_cdc(s, replica_identity_mode="full", tables=["pacientes", "consultas"])
    assert second.publication_action == "unchanged"
    assert not second.role_created and second.generated_password is None
    assert second.identity_changed == []
    status = cdc_status(s)
    assert status.publication_tables == list(TABLES)
    assert status.replica_identity["pacientes"] == "full"
    assert status.replica_identity["medicos"] == "default"

    Capture(s, output=Path("/dev/null"), idle_timeout=0.2).run()  # leaves its slot
    removed = teardown_cdc(s)
    assert removed.slots == [cdc.slot]
    assert removed.publication_dropped and removed.role_dropped
    with cdc.connect() as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (cdc.slot,)
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pg_publication WHERE pubname = %s", (cdc.publication,)
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = %s", (cdc.role,)
        ).fetchone() == (0,)


def test_setup_cli_prints_a_connector_config_and_never_logs_the_password(
    cdc: CdcDb,
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "app.log"
    env = cdc.env({"HOSPITAL_SIM_LOG_FILE": str(log_file), "LOG_LEVEL": "DEBUG"})
    assert run_cli("init", env=env).returncode == 0
    proc = run_cli("cdc", "setup", env=env)
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    assert config["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert config["plugin.name"] == "pgoutput"
    assert config["publication.name"] == cdc.publication
    assert config["publication.autocreate.mode"] == "disabled"
    assert config["database.user"] == cdc.role
    assert config["database.dbname"] == cdc.db.name
    assert config["table.include.list"].split(",") == [f"public.{t}" for t in TABLES]
    assert config["decimal.handling.mode"] == "string"
    assert "time.precision.mode=adaptive_time_microseconds:" in proc.stderr
    password = config["database.password"]
    assert len(password) >= 20
    assert password not in proc.stderr
    assert password not in log_file.read_text()


def test_register_with_kafka_connect_unreachable_is_one_line_exit_2(cdc: CdcDb) -> None:
    env = cdc.env()
    assert run_cli("init", env=env).returncode == 0
    proc = run_cli("cdc", "setup", "--register", "http://127.0.0.1:9", env=env)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "cannot reach Kafka Connect at http://127.0.0.1:9" in errors[0]


class _FakeConnect(JsonHandler):
    configs: ClassVar[dict[str, Any]] = {}
    auth: ClassVar[list[str | None]] = []

    def do_PUT(self) -> None:
        self.auth.append(self.headers.get("Authorization"))
        name = self.path.split("/")[2]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.configs[name] = json.loads(body)
        self._reply(201, {"name": name, "config": self.configs[name], "tasks": []})

    def do_GET(self) -> None:
        name = self.path.split("/")[2]
        state = {"state": "RUNNING", "worker_id": "w:8083"}
        self._reply(200, {"name": name, "connector": state, "tasks": [{"id": 0, **state}]})


@pytest.fixture
def kafka_connect() -> Iterator[str]:
    with serve_http(_FakeConnect) as url:
        yield url


def test_register_puts_the_config_and_reports_the_state(
    cdc: CdcDb,
    kafka_connect: str,
) -> None:
    s = cdc.settings(cdc_password="pw-for-test")
    init_database(s)
    url = kafka_connect.replace("http://", "http://connect:p%40ss@")
    result = setup_cdc(s, register_url=url)
    assert result.registered is not None
    assert result.registered.state == "RUNNING"
    assert result.registered.tasks == ["RUNNING"]
    sent = _FakeConnect.configs[result.connector["name"]]
    assert sent["slot.name"] == f"{cdc.slot}_debezium"
    assert sent["database.password"] == "pw-for-test"
    assert _FakeConnect.auth[-1] == "Basic " + base64.b64encode(b"connect:p@ss").decode()


def test_status_reports_slot_lag_and_coverage(cdc: CdcDb) -> None:
    s = cdc.settings()
    init_database(s)
    setup_cdc(s)
    Capture(s, output=Path("/dev/null"), idle_timeout=0.2).run()
    with cdc.connect() as conn:
        conn.execute("INSERT INTO medicos (nome, crm, especialidade) VALUES ('a', 'b', 'c')")
        lags = {lag.slot_name: lag for lag in slot_lag(conn, database=cdc.db.name)}
    lag = lags[cdc.slot]
    assert lag.plugin == "pgoutput" and not lag.active
    assert lag.retained_wal_bytes is not None and lag.retained_wal_bytes > 0
    assert lag.confirmed_flush_lag_bytes is not None and lag.confirmed_flush_lag_bytes > 0
    proc = run_cli("cdc", "status", "--json", env=cdc.env())
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["publication"]["missing_tables"] == []
    assert status["replica_identity"] == dict.fromkeys(TABLES, "default")
    assert [s["slot_name"] for s in status["slots"]] == [cdc.slot]


def test_setup_on_an_rds_style_server_grants_rds_replication(cdc: CdcDb) -> None:
    """Amazon RDS: the master user is no superuser and cannot give REPLICATION; the CDC
    role gets replication through rds_replication instead. Roles are cluster-wide, so the
    test builds that situation and removes it afterwards."""
    master = f"{cdc.db.name}_master"
    ident = sql.Identifier(master)
    with cdc.db.connect() as su:
        made_group = (
            su.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_replication'").fetchone()
            is None
        )
        if made_group:
            su.execute("CREATE ROLE rds_replication NOLOGIN")
        # A password: the embedded test server asks every login for one.
        su.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'rds-master'").format(ident))
        su.execute(sql.SQL("GRANT rds_replication TO {} WITH ADMIN OPTION").format(ident))
        su.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(cdc.db.name), ident)
        )
        try:
            s = cdc.settings(
                database_url=conninfo.make_conninfo(cdc.db.dsn, user=master, password="rds-master"),
                cdc_password="s3cret-for-test",
            )
            init_database(s)
            result = setup_cdc(s)
            assert result.role_created
            row = su.execute(
                "SELECT r.rolreplication, pg_has_role(r.oid, 'rds_replication', 'member')"
                " FROM pg_roles r WHERE r.rolname = %s",
                (cdc.role,),
            ).fetchone()
            assert row == (False, True)
        finally:
            su.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(
                    sql.Identifier(cdc.db.name)
                )
            )
            su.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
            su.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            su.execute(sql.SQL("DROP ROLE {}").format(ident))
    # The CDC role (a member of rds_replication) is dropped by the fixture; the group last.
    if made_group:
        cleanup_role = cdc.role
        with cdc.db.connect() as su:
            su.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(cleanup_role)))
            su.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(cleanup_role)))
            su.execute("DROP ROLE rds_replication")
