"""Database test fixtures: a real PostgreSQL, never a mock.

The server is the one in HOSPITAL_SIM_TEST_DSN (any database on it; tests create and drop
their own databases), or else an embedded server started for the session. Every module
here carries the ``db`` marker; collection fails for one that does not. Helpers live in
``support`` (databases, the CLI, ports), ``checks`` (what rows must satisfy) and
``cdc_support`` (CDC names and cleanup); test modules import nothing from each other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo

from hospital_sim.db.embedded import EmbeddedServer
from tests.db.cdc_support import CdcDb, cleanup, new_cdc_db
from tests.db.support import ROOT, FreshDb, create_database, drop_database, free_port

TEST_PORT = int(os.environ.get("HOSPITAL_SIM_TEST_PORT", "54329"))


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """A superuser DSN of the server under test (dbname=postgres)."""
    dsn = os.environ.get("HOSPITAL_SIM_TEST_DSN")
    server = None
    if not dsn:
        server = EmbeddedServer(base_dir=ROOT / ".hospital-sim-test", port=TEST_PORT)
        server.start()
        dsn = server.conninfo("postgres")
    dsn = conninfo.make_conninfo(dsn, dbname="postgres")
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"the test server at {conninfo.conninfo_to_dict(dsn).get('host')} is "
            f"unreachable: {exc}; set HOSPITAL_SIM_TEST_DSN",
            returncode=2,
        )
    yield dsn
    if server is not None:
        server.stop()


@pytest.fixture
def fresh_db(server_dsn: str) -> Iterator[FreshDb]:
    db = create_database(server_dsn)
    yield db
    drop_database(server_dsn, db.name)


@pytest.fixture
def make_db(server_dsn: str) -> Iterator[object]:
    """Factory for tests that need more than one database."""
    made: list[FreshDb] = []

    def make() -> FreshDb:
        made.append(create_database(server_dsn))
        return made[-1]

    yield make
    for db in made:
        drop_database(server_dsn, db.name)


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    # Under the project folder: as root, the server's system user must reach it.
    path = ROOT / ".hospital-sim-test" / f"e{os.getpid()}-{free_port()}"
    yield path
    EmbeddedServer(base_dir=path, port=1024).destroy()


@pytest.fixture
def cdc(fresh_db: FreshDb, server_dsn: str) -> Iterator[CdcDb]:
    """A fresh database with unique CDC names; its slots and role are dropped after."""
    made = new_cdc_db(fresh_db)
    yield made
    cleanup(server_dsn, made)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    unmarked = sorted(
        {
            item.path.name
            for item in items
            if item.path.is_relative_to(here) and item.get_closest_marker("db") is None
        }
    )
    if unmarked:
        raise pytest.UsageError(
            f"database test modules without pytestmark = pytest.mark.db: {', '.join(unmarked)}"
        )
