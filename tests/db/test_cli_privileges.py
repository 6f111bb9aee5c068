"""A role without the privileges a command needs gets one line naming the refusal, exit 2,
no traceback, and the database keeps what it held."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo, sql

from tests.db.support import SMALL, FreshDb, create_database, drop_database, run_cli

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def weak(server_dsn: str) -> Iterator[tuple[FreshDb, dict[str, str]]]:
    """An initialised, seeded database and the environment of a login role without grants."""
    db = create_database(server_dsn)
    role, password = f"t_weak_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    try:
        assert run_cli("init", env=db.env()).returncode == 0
        seeded = run_cli("seed", env=db.env(SMALL))
        assert seeded.returncode == 0, seeded.stderr
        with db.connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        dsn = conninfo.make_conninfo(db.dsn, user=role, password=password)
        yield db, db.env({"DATABASE_URL": dsn})
    finally:
        drop_database(server_dsn, db.name)
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _rows(db: FreshDb) -> object:
    with db.connect() as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM pacientes), (SELECT count(*) FROM consultas),"
            " (SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')"
        ).fetchone()


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (("counts",), "permission denied for table"),
        (("reset", "--yes"), "must be owner of table"),
        (("seed",), "permission denied for table"),
        (("scenario", "run", "lgpd-erasure"), "permission denied for table"),
        (("cdc", "verify", "--wait-quiescent", "0", "-"), "permission denied for table"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_a_missing_privilege_is_one_line_and_changes_nothing(
    weak: tuple[FreshDb, dict[str, str]], args: tuple[str, ...], refusal: str
) -> None:
    db, env = weak
    before = _rows(db)
    out = run_cli(*args, env=env, input="")
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 2, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert len(out.stderr.strip().splitlines()) <= 2, out.stderr  # a run's seed may come first
    assert last.startswith("error: the server refused: ") and refusal in last, last
    assert "GRANT" in last
    assert _rows(db) == before


def test_a_stream_without_write_privileges_is_refused_before_it_starts(
    weak: tuple[FreshDb, dict[str, str]],
) -> None:
    db, env = weak
    role = conninfo.conninfo_to_dict(env["DATABASE_URL"])["user"]
    before = _rows(db)
    out = run_cli("stream", "--events", "20", "--workers", "2", env=env, input="")
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 2, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: role {role} lacks SELECT ON convenios, medicos, "), last
    assert (
        "INSERT ON " in last
        and "UPDATE ON " in last
        and "USAGE ON the id sequences of convenios," in last
    )
    assert f"TO {role}" in last
    assert _rows(db) == before
    # Granted what the line asks for, the same stream runs.
    with db.connect() as conn:
        conn.execute(
            sql.SQL(
                "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {r};"
                " GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {r}"
            ).format(r=sql.Identifier(str(role)))
        )
    granted = run_cli("stream", "--events", "20", "--workers", "2", env=env, input="")
    assert granted.returncode == 0, granted.stderr
