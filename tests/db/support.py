"""Helpers shared by the database tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql

from hospital_sim.config import Settings, load_settings
from hospital_sim.db.connect import redact
from hospital_sim.db.embedded import EmbeddedServer
from hospital_sim.errors import EmbeddedServerError
from hospital_sim.stream.run import StreamSummary

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FreshDb:
    """An empty database created for one test."""

    dsn: str  # holds the server's password: __repr__ shows it redacted
    name: str

    def __repr__(self) -> str:
        # A failing assertion prints its operands: the password stays out of the report.
        return f"FreshDb(name={self.name!r}, dsn={redact(self.dsn)!r})"

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn, autocommit=True)

    def settings(self, **values: object) -> Settings:
        overrides: dict[str, object] = {"database_url": self.dsn, "log_file": Path(os.devnull)}
        overrides.update(values)
        return load_settings(
            config_dir=Path("/nonexistent"), environ={}, overrides=overrides
        ).settings

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for running the CLI against this database."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PG_", "SEED_", "HOSPITAL_SIM_")) and k != "DATABASE_URL"
        }
        env.update({"DATABASE_URL": self.dsn, "HOSPITAL_SIM_LOG_FILE": os.devnull})
        env.update(extra or {})
        return env


def create_database(server_dsn: str) -> FreshDb:
    name = f"hsim_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return FreshDb(dsn=conninfo.make_conninfo(server_dsn, dbname=name), name=name)


def drop_database(server_dsn: str, name: str) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run_cli(
    *args: str, env: Mapping[str, str], input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hospital_sim`` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "hospital_sim", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def free_port() -> int:
    """A port nothing listens on now (another process may take it before it is used)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_embedded(base_dir: Path, *, tries: int = 5) -> EmbeddedServer:
    """An embedded server of the test's own on a free port.

    A port found free may be taken by another process before the server binds it: then
    the start is tried again on another port, not failed.
    """
    for attempt in range(1, tries + 1):
        server = EmbeddedServer(base_dir=base_dir, port=free_port())
        try:
            server.start()
        except EmbeddedServerError as exc:
            if "in use" not in str(exc) or attempt == tries:
                raise
            continue
        return server
    raise AssertionError("unreachable")


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test, naming ``what``, after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


SMALL = {  # seed volumes, as the CLI reads them, for tests that only need some rows
    "SEED_PACIENTES": "30",
    "SEED_MEDICOS": "5",
    "SEED_CONVENIOS": "4",
    "SEED_CONSULTAS": "20",
    "SEED_EXAMES": "10",
    "SEED_INTERNACOES": "5",
    "SEED_PACIENTES_CONVENIOS": "20",
}


def cli_env(base: Path, port: int) -> dict[str, str]:
    """Environment for the CLI on an embedded server of the test's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG_", "HOSPITAL_SIM_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "HOSPITAL_SIM_DIR": str(base),
            "HOSPITAL_SIM_EMBEDDED_PORT": str(port),
            "HOSPITAL_SIM_LOG_FILE": os.devnull,
        }
    )
    return env


class JsonHandler(BaseHTTPRequestHandler):
    """A stand-in HTTP service (Kafka Connect's REST API) that answers in JSON, quietly."""

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1 and yield its base URL."""
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_shards(
    shard: Callable[[int], StreamSummary], count: int = 2, timeout: float = 120
) -> list[StreamSummary]:
    """Run ``shard(i)`` for each shard index at once, each in its thread; their summaries.

    A shard that did not finish within ``timeout`` leaves its summary out, which the
    caller's count of summaries shows.
    """
    summaries: list[StreamSummary] = []
    threads = [
        threading.Thread(target=lambda i=i: summaries.append(shard(i))) for i in range(count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return summaries
