"""Helpers shared by the database tests."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from hospital_sim.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FreshDb:
    """An empty database created for one test."""

    dsn: str
    name: str

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
