"""`cdc setup --register`: a FAILED connector or a placeholder password is an error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from hospital_sim.cdc.capture.setup import setup_cdc, teardown_cdc
from hospital_sim.db.lifecycle import init_database
from tests.db.cdc_support import CdcDb
from tests.db.support import JsonHandler, run_cli, serve_http

pytestmark = pytest.mark.db


class _FailingConnect(JsonHandler):
    puts: ClassVar[list[dict[str, Any]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.puts.append(json.loads(body))
        self._reply(201, {"name": "x", "tasks": []})

    def do_GET(self) -> None:
        name = self.path.split("/")[2]
        failed = {"state": "FAILED", "worker_id": "w:8083", "trace": "PSQLException: boom\n.."}
        body = {"name": name, "connector": {"state": "RUNNING"}, "tasks": [{"id": 0, **failed}]}
        self._reply(200, body)


@pytest.fixture
def failing_connect() -> Iterator[str]:
    with serve_http(_FailingConnect) as url:
        yield url


def test_a_failed_task_is_an_error(cdc: CdcDb, failing_connect: str) -> None:
    env = cdc.env({"CDC_PASSWORD": "pw-register"})
    assert run_cli("init", env=env).returncode == 0
    out = run_cli("cdc", "setup", "--register", failing_connect, env=env)
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "FAILED" in errors[0] and "PSQLException: boom" in errors[0]
    teardown_cdc(cdc.settings())


def test_a_placeholder_password_is_never_registered(cdc: CdcDb, failing_connect: str) -> None:
    s = cdc.settings(cdc_password="pw-first")
    init_database(s)
    setup_cdc(s)  # the role exists; its password is not in the settings below
    _FailingConnect.puts.clear()
    out = run_cli("cdc", "setup", "--register", failing_connect, env=cdc.env())
    assert out.returncode == 2
    assert "CDC_PASSWORD" in out.stderr and "--new-password" in out.stderr
    assert _FailingConnect.puts == []  # nothing was sent
    teardown_cdc(s)


def test_for_post_prints_name_and_config(cdc: CdcDb) -> None:
    env = cdc.env({"CDC_PASSWORD": "pw-post"})
    assert run_cli("init", env=env).returncode == 0
    out = run_cli("cdc", "setup", "--for-post", env=env)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert set(body) == {"name", "config"}
    assert body["config"]["name"] == body["name"]
    assert body["config"]["database.password"] == "pw-post"
    teardown_cdc(cdc.settings())
