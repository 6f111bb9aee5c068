"""A table of ordinary mistakes: each one gives one line, exit 2, no traceback, no writes.

Every case runs the real CLI against one initialised database and then checks that the
database still holds exactly what it held before.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.db.support import FreshDb, create_database, drop_database, run_cli

pytestmark = pytest.mark.db

STREAM = ("stream", "--events", "3", "--duration", "5")


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    # Builds files under tmp_path; returns extra environment (e.g. a config folder).
    files: Callable[[Path], dict[str, str]] | None = None
    expect: str = ""  # a fragment the error line must contain


def _config(name: str, content: bytes | None) -> Callable[[Path], dict[str, str]]:
    """A config folder whose ``name`` is ``content``, or a directory when None."""

    def make(tmp: Path) -> dict[str, str]:
        folder = tmp / "cfg"
        folder.mkdir()
        if content is None:
            (folder / name).mkdir()
        else:
            (folder / name).write_bytes(content)
        return {"HOSPITAL_SIM_CONFIG_DIR": str(folder)}

    return make


def _log_dir(tmp: Path) -> dict[str, str]:
    return {"HOSPITAL_SIM_LOG_FILE": str(tmp)}


def _log_under_file(tmp: Path) -> dict[str, str]:
    (tmp / "plain").write_text("x")
    return {"HOSPITAL_SIM_LOG_FILE": str(tmp / "plain" / "app.log")}


CASES: list[Case] = [
    # -- settings from the environment ----------------------------------------------------
    Case("seed-negative", ("seed",), {"SEED_PACIENTES": "-5"}, expect="SEED_PACIENTES"),
    Case("seed-not-number", ("seed",), {"SEED_MEDICOS": "many"}, expect="SEED_MEDICOS"),
    Case("seed-convenios-1", ("seed",), {"SEED_CONVENIOS": "1"}, expect="SEED_CONVENIOS"),
    Case("seed-inf", ("seed",), {"SEED_EXAMES": "inf"}, expect="SEED_EXAMES"),
    Case("hsim-seed-negative", ("seed",), {"HOSPITAL_SIM_SEED": "-1"}, expect="HOSPITAL_SIM_SEED"),
    Case(
        "connect-timeout-inf",
        ("test-connection",),
        {"HOSPITAL_SIM_CONNECT_TIMEOUT": "inf"},
        expect="HOSPITAL_SIM_CONNECT_TIMEOUT",
    ),
    Case(
        "connect-timeout-nan",
        ("test-connection",),
        {"HOSPITAL_SIM_CONNECT_TIMEOUT": "nan"},
        expect="HOSPITAL_SIM_CONNECT_TIMEOUT",
    ),
    Case(
        "connect-timeout-zero",
        ("test-connection",),
        {"HOSPITAL_SIM_CONNECT_TIMEOUT": "0"},
        expect="HOSPITAL_SIM_CONNECT_TIMEOUT",
    ),
    Case(
        "url-port-not-number",
        ("test-connection",),
        {"DATABASE_URL": "postgresql://postgres@127.0.0.1:abc/x"},
        expect="DATABASE_URL",
    ),
    Case("url-garbage", ("counts",), {"DATABASE_URL": "postgresql://[::1"}, expect="DATABASE_URL"),
    Case("pg-port-zero", ("counts",), {"PG_PORT": "0"}, expect="PG_PORT"),
    Case(
        "embedded-port-80",
        ("counts",),
        {"HOSPITAL_SIM_EMBEDDED_PORT": "80"},
        expect="HOSPITAL_SIM_EMBEDDED_PORT",
    ),
    Case("log-level", ("counts",), {"LOG_LEVEL": "LOUD"}, expect="LOG_LEVEL"),
    Case("cdc-slot-name", ("counts",), {"CDC_SLOT": "Bad-Slot"}, expect="CDC_SLOT"),
    Case(
        "interval-inf", STREAM, {"STREAM_INTERVAL_SECONDS": "inf"}, expect="STREAM_INTERVAL_SECONDS"
    ),
    Case(
        "interval-nan", STREAM, {"STREAM_INTERVAL_SECONDS": "nan"}, expect="STREAM_INTERVAL_SECONDS"
    ),
    Case(
        "interval-negative",
        STREAM,
        {"STREAM_INTERVAL_SECONDS": "-1"},
        expect="STREAM_INTERVAL_SECONDS",
    ),
    Case("jitter-huge-env", STREAM, {"MAX_JITTER_MS": "99999999999999"}, expect="MAX_JITTER_MS"),
    Case("batch-zero", STREAM, {"BATCH_SIZE": "0"}, expect="BATCH_SIZE"),
    Case(
        "reconnect-inf",
        STREAM,
        {"STREAM_RECONNECT_CAP_SECONDS": "inf"},
        expect="STREAM_RECONNECT_CAP_SECONDS",
    ),
    Case(
        "weights-overflow-env",
        STREAM,
        {"STREAM_WEIGHTS": "insert_consulta=1e308,insert_exame=1e308"},
        expect="STREAM_WEIGHTS",
    ),
    Case(
        "profile-unknown",
        STREAM,
        {"STREAM_PROFILE": "wave", "STREAM_RATE": "5"},
        expect="STREAM_PROFILE",
    ),
    Case(
        "shard-index-too-big",
        STREAM,
        {"STREAM_SHARD_INDEX": "3", "STREAM_SHARD_COUNT": "2"},
        expect="STREAM_SHARD_INDEX",
    ),
    # -- flags --------------------------------------------------------------------------
    Case("flag-jitter-huge", (*STREAM, "--jitter-ms", "99999999999999"), expect="--jitter-ms"),
    Case("flag-interval-inf", (*STREAM, "--interval", "inf"), expect="--interval"),
    Case(
        "flag-ramp-huge",
        (*STREAM, "--rate", "5", "--profile", "ramp", "--ramp-seconds", "1e15"),
        expect="--ramp-seconds",
    ),
    Case(
        "flag-time-scale-inf",
        (*STREAM, "--rate", "5", "--time-scale", "inf"),
        expect="--time-scale",
    ),
    Case(
        "flag-time-scale-nan",
        (*STREAM, "--rate", "5", "--time-scale", "nan"),
        expect="--time-scale",
    ),
    Case("model-unknown", STREAM, {"STREAM_MODEL": "city"}, expect="STREAM_MODEL"),
    Case("flag-beds-zero", (*STREAM, "--model", "hospital", "--beds", "0"), expect="--beds"),
    Case(
        "scenario-seed-negative",
        ("scenario", "run", "lgpd-erasure", "--seed", "-1"),
        expect="--seed",
    ),
    Case(
        "scenario-times-huge",
        ("scenario", "run", "lgpd-erasure", "--times", "10000000"),
        expect="--times",
    ),
    Case("flag-occupancy-nan", (*STREAM, "--occupancy", "nan"), expect="--occupancy"),
    Case("flag-occupancy-above-one", (*STREAM, "--occupancy", "1.2"), expect="--occupancy"),
    Case("flag-rate-inf", (*STREAM, "--rate", "inf"), expect="--rate"),
    Case("flag-rate-nan", (*STREAM, "--rate", "nan"), expect="--rate"),
    Case("flag-rate-zero", (*STREAM, "--rate", "0"), expect="--rate"),
    Case(
        "flag-weights-overflow",
        (*STREAM, "--weights", "insert_consulta=1e308,update_exame=1e308"),
        expect="--weights",
    ),
    Case("flag-weights-unknown", (*STREAM, "--weights", "delete_all=1"), expect="--weights"),
    Case("flag-metrics-port-1", (*STREAM, "--metrics-port", "1"), expect="--metrics-port"),
    Case("flag-metrics-port-big", (*STREAM, "--metrics-port", "70000"), expect="--metrics-port"),
    Case("flag-workers-zero", (*STREAM, "--workers", "0"), expect="--workers"),
    Case("flag-txn-size-zero", (*STREAM, "--txn-size", "0"), expect="--txn-size"),
    Case("flag-duration-negative", ("stream", "--duration", "-1"), expect="--duration"),
    Case("flag-seed-convenios", ("seed", "--convenios", "1"), expect="--convenios"),
    Case("flag-seed-not-number", ("seed", "--pacientes", "abc"), expect="--pacientes"),
    Case("flag-log-format", ("--log-format", "xml", "counts"), expect="--log-format"),
    Case(
        "config-show-config-dir-missing",
        ("--config-dir", "/nonexistent/cfg", "config", "show"),
        expect="/nonexistent/cfg",
    ),
    Case(
        "flag-config-dir-missing",
        ("--config-dir", "/nonexistent/cfg", "counts"),
        expect="/nonexistent/cfg",
    ),
    # -- files --------------------------------------------------------------------------
    Case("log-file-is-dir", ("seed",), files=_log_dir, expect="HOSPITAL_SIM_LOG_FILE"),
    Case("log-file-uncreatable", ("seed",), files=_log_under_file, expect="HOSPITAL_SIM_LOG_FILE"),
    Case(
        "toml-not-utf8",
        ("counts",),
        files=_config("settings.toml", b"pg_user = '\xff\xfe'\n"),
        expect="settings.toml",
    ),
    Case("toml-is-dir", ("counts",), files=_config("settings.toml", None), expect="settings.toml"),
    Case(
        "toml-invalid",
        ("counts",),
        files=_config("settings.toml", b"pg_user = \n"),
        expect="settings.toml",
    ),
    Case(
        "toml-unknown-key",
        ("counts",),
        files=_config("settings.toml", b"pg_usr = 'x'\n"),
        expect="pg_usr",
    ),
    Case(
        "dotenv-not-utf8", ("counts",), files=_config(".env", b"PG_USER=\xff\xfe\n"), expect=".env"
    ),
    Case("dotenv-is-dir", ("counts",), files=_config(".env", None), expect=".env"),
    Case(
        "verify-missing-file",
        ("cdc", "verify", "/nonexistent/events.jsonl"),
        expect="/nonexistent/events.jsonl",
    ),
]


def _snapshot(db: FreshDb) -> tuple[object, ...]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
            " ORDER BY relname"
        ).fetchall()
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        pubs = conn.execute("SELECT count(*) FROM pg_publication").fetchone()
        counts = [
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()
            for t in ("pacientes", "medicos", "convenios", "consultas", "exames", "internacoes")
        ]
    return (tuple(rows), tables, pubs, tuple(counts))


@pytest.fixture(scope="module")
def inited(server_dsn: str) -> Iterator[FreshDb]:
    db = create_database(server_dsn)
    out = run_cli("init", env=db.env())
    assert out.returncode == 0, out.stderr
    yield db
    drop_database(server_dsn, db.name)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: Case, inited: FreshDb, tmp_path: Path
) -> None:
    env = inited.env(case.env)
    if case.files is not None:
        env.update(case.files(tmp_path))
    before = _snapshot(inited)
    out = run_cli(*case.args, env=env, timeout=60)
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 2, out.stderr
    assert 1 <= len(lines) <= 2, out.stderr
    assert case.expect in out.stderr, out.stderr
    assert _snapshot(inited) == before


def test_metrics_port_in_use_is_one_line(inited: FreshDb) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        before = _snapshot(inited)
        out = run_cli(*STREAM, "--metrics-port", str(port), env=inited.env(), timeout=60)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) <= 2, out.stderr  # the run's seed is logged first
    assert f"--metrics-port {port}" in lines[-1] and "in use" in lines[-1]
    assert _snapshot(inited) == before


def test_permanent_connection_error_is_not_retried_and_is_named(inited: FreshDb) -> None:
    env = inited.env(
        {
            "DATABASE_URL": inited.dsn + " sslmode=bogus",
            "HOSPITAL_SIM_CONNECT_TIMEOUT": "300",
        }
    )
    # With a 300 s deadline, a retried permanent error would hit the subprocess timeout.
    out = run_cli("test-connection", env=env, timeout=20)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "sslmode" in lines[0]
    assert "PG_HOST/PG_PORT" not in lines[0]
