"""`seed`: what a user finds in the database afterwards, checked with SQL over every row."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from hospital_sim.db.copytext import copy_text
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.schema import TABLES
from hospital_sim.db.seed import CHUNK_ROWS, FIRST_IDS, anchor_for, seed_database, volumes_from
from hospital_sim.generate import TABLE_COLUMNS, generate_tables
from hospital_sim.generate.documents import is_valid_cnpj, is_valid_cpf
from tests.db.checks import fingerprint, phone_area_mismatches, scalar
from tests.db.coherence import COHERENCE
from tests.db.support import FreshDb, create_database, drop_database, run_cli

pytestmark = pytest.mark.db

SMALL = {
    "seed_pacientes": 300,
    "seed_medicos": 30,
    "seed_convenios": 6,
    "seed_consultas": 700,
    "seed_exames": 500,
    "seed_internacoes": 200,
    "seed_pacientes_convenios": 350,
}


def seeded(db: FreshDb, seed: int, chunk_rows: int = CHUNK_ROWS, **volumes: int) -> FreshDb:
    settings = db.settings(**{**SMALL, **volumes})
    init_database(settings)
    seed_database(settings, seed=seed, chunk_rows=chunk_rows)
    return db


@pytest.fixture(scope="module")
def default_db(server_dsn: str) -> Iterator[FreshDb]:
    """One database seeded with the default volumes, shared by the read-only checks."""
    db = create_database(server_dsn)
    settings = db.settings()
    init_database(settings)
    seed_database(settings, seed=7)
    yield db
    drop_database(server_dsn, db.name)


def test_counts_equal_the_default_volumes(default_db: FreshDb) -> None:
    with default_db.connect() as conn:
        counts = {t: scalar(conn, f"SELECT count(*) FROM {t}") for t in TABLES}
    assert counts == {
        "convenios": 12,
        "medicos": 200,
        "pacientes": 2000,
        "pacientes_convenios": 2500,
        "consultas": 4000,
        "exames": 3500,
        "internacoes": 1200,
    }


FK_ORPHANS = [
    ("pacientes_convenios", "paciente_id", "pacientes"),
    ("pacientes_convenios", "convenio_id", "convenios"),
    ("consultas", "paciente_id", "pacientes"),
    ("consultas", "medico_id", "medicos"),
    ("exames", "paciente_id", "pacientes"),
    ("internacoes", "paciente_id", "pacientes"),
]


@pytest.mark.parametrize(("child", "column", "parent"), FK_ORPHANS)
def test_no_fk_orphans(default_db: FreshDb, child: str, column: str, parent: str) -> None:
    with default_db.connect() as conn:
        orphans = scalar(
            conn,
            f"SELECT count(*) FROM {child} c LEFT JOIN {parent} p"
            f" ON p.id = c.{column} WHERE p.id IS NULL",
        )
    assert orphans == 0


def test_every_document_is_valid(default_db: FreshDb) -> None:
    with default_db.connect() as conn:
        cpfs = [str(r[0]) for r in conn.execute("SELECT cpf FROM pacientes")]
        cnpjs = [str(r[0]) for r in conn.execute("SELECT cnpj FROM convenios")]
        bad_crm = scalar(
            conn,
            "SELECT count(*) FROM medicos WHERE crm !~ "
            "'^[0-9]{4,7}(AC|AL|AP|AM|BA|CE|DF|ES|GO|MA|MT|MS|MG|PA|PB|PR|PE|"
            "PI|RJ|RN|RS|RO|RR|SC|SP|SE|TO)$'",
        )
    assert all(c[3] == "." and c[7] == "." and c[11] == "-" for c in cpfs)
    assert [c for c in cpfs if not is_valid_cpf(c)] == []
    assert [c for c in cnpjs if not is_valid_cnpj(c)] == []
    assert bad_crm == 0


@pytest.mark.parametrize("rule", sorted(COHERENCE))
def test_coherence_rule_holds_for_every_row(default_db: FreshDb, rule: str) -> None:
    with default_db.connect() as conn:
        assert scalar(conn, COHERENCE[rule]) == 0, rule


def test_distributions_look_like_a_hospital(default_db: FreshDb) -> None:
    with default_db.connect() as conn:
        clinic_hours = scalar(
            conn,
            """
            SELECT avg((extract(isodow FROM data) <= 5
                        AND data::time BETWEEN '07:00' AND '19:00')::int) FROM consultas""",
        )
        children = scalar(
            conn, "SELECT avg((age(nascimento) < interval '15 years')::int) FROM pacientes"
        )
        elderly = scalar(
            conn, "SELECT avg((age(nascimento) >= interval '65 years')::int) FROM pacientes"
        )
        pending = scalar(conn, "SELECT avg((resultado IS NULL)::int) FROM exames")
        current = scalar(conn, "SELECT avg((data_saida IS NULL)::int) FROM internacoes")
    assert float(str(clinic_hours)) > 0.8
    assert 0.10 < float(str(children)) < 0.30  # IBGE 2022: ~20% aged 0-14
    assert 0.05 < float(str(elderly)) < 0.25  # IBGE 2022: ~11% aged 65+
    assert 0.02 < float(str(pending)) < 0.35
    assert 0.0 < float(str(current)) < 0.5


def test_same_seed_gives_identical_rows(make_db: Callable[[], FreshDb]) -> None:
    a = fingerprint(seeded(make_db(), seed=42))
    b = fingerprint(seeded(make_db(), seed=42))
    c = fingerprint(seeded(make_db(), seed=43))
    assert a == b
    assert all(a[t] != c[t] for t in TABLES if t != "convenios" or SMALL["seed_convenios"] > 2)


def test_block_size_does_not_change_a_single_byte(make_db: Callable[[], FreshDb]) -> None:
    # 97 rows a block: every table spans several COPY blocks, none aligned with the
    # generator's own blocks.
    small = fingerprint(seeded(make_db(), seed=42, chunk_rows=97))
    whole = fingerprint(seeded(make_db(), seed=42, chunk_rows=100_000))
    assert small == whole


def test_block_text_loads_the_rows_psycopg_would_write(make_db: Callable[[], FreshDb]) -> None:
    ours = seeded(make_db(), seed=42)
    reference = make_db()
    settings = reference.settings(**SMALL)
    init_database(settings)
    chunks = generate_tables(
        volumes_from(settings), seed=42, anchor=anchor_for(), first_ids=FIRST_IDS
    )
    with reference.connect() as conn, conn.cursor() as cur:
        for table, rows in chunks:
            columns = ", ".join(TABLE_COLUMNS[table])
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    assert fingerprint(ours) == fingerprint(reference)


def test_block_text_escapes_what_copy_text_reserves(fresh_db: FreshDb) -> None:
    rows = [(1, "tab\there", None), (2, "back\\slash \\N", "line\nbreak\r"), (3, "\\N", "")]
    with fresh_db.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int, a text, b text)")
        with cur.copy("COPY t FROM STDIN") as copy:
            copy.write(copy_text(rows))
        assert cur.execute("SELECT * FROM t ORDER BY id").fetchall() == rows


def test_seed_refuses_a_database_that_holds_data(fresh_db: FreshDb) -> None:
    seeded(fresh_db, seed=1)
    out = run_cli("seed", env=fresh_db.env({k.upper(): str(v) for k, v in SMALL.items()}))
    assert out.returncode == 2
    assert "already holds data" in out.stderr and "reset --yes" in out.stderr


def test_cli_seed_with_flags_reports_and_repeats_the_seed(fresh_db: FreshDb) -> None:
    env = fresh_db.env()
    assert run_cli("init", env=env).returncode == 0
    out = run_cli(
        "seed",
        "--seed",
        "99",
        "--pacientes",
        "50",
        "--medicos",
        "5",
        "--convenios",
        "4",
        "--consultas",
        "80",
        "--exames",
        "60",
        "--internacoes",
        "20",
        "--pacientes-convenios",
        "40",
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "seed 99" in out.stdout
    counts = run_cli("counts", "--json", env=env)
    assert counts.stdout.strip() == (
        '{"convenios": 4, "medicos": 5, "pacientes": 50, "pacientes_convenios": 40, '
        '"consultas": 80, "exames": 60, "internacoes": 20}'
    )


def test_scale_multiplies_every_volume_but_convenios(fresh_db: FreshDb) -> None:
    env = fresh_db.env({k.upper(): str(v) for k, v in SMALL.items()})
    assert run_cli("init", env=env).returncode == 0
    out = run_cli("seed", "--scale", "3", "--seed", "4", env=env)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^  pacientes: 900 rows \([0-9,]+ rows/s\)$", out.stderr, re.M), out.stderr
    assert re.search(r"seeded 6244 rows in [0-9.]+ s \([0-9]+ rows/s\)", out.stderr), out.stderr
    counts = json.loads(run_cli("counts", "--json", env=env).stdout)
    assert counts == {t: SMALL[f"seed_{t}"] * (1 if t == "convenios" else 3) for t in TABLES}


def test_run_seeds_an_empty_database_at_scale(fresh_db: FreshDb) -> None:
    env = fresh_db.env({k.upper(): str(v) for k, v in SMALL.items()})
    out = run_cli("run", "--scale", "2", "--no-stream", "--seed", "6", env=env)
    assert out.returncode == 0, out.stderr
    counts = json.loads(run_cli("counts", "--json", env=env).stdout)
    assert counts["pacientes"] == 600 and counts["convenios"] == SMALL["seed_convenios"]


def test_in_a_terminal_each_table_has_a_bar_with_rows_per_second(fresh_db: FreshDb) -> None:
    env = fresh_db.env({k.upper(): str(v) for k, v in SMALL.items()})
    assert run_cli("init", env=env).returncode == 0
    main, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", "seed", "--seed", "3", "--scale", "4"],
        env={**env, "COLUMNS": "120"},
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the command has closed the terminal
        while chunk := os.read(main, 65536):
            shown += chunk
    os.close(main)
    assert proc.wait(timeout=120) == 0, shown
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))
    assert re.search(r"pacientes +.*1200/1200 +[0-9,]+ rows/s", screen), screen


def test_reset_takes_the_volume_flags_and_scale(fresh_db: FreshDb) -> None:
    seeded(fresh_db, seed=5)
    out = run_cli(
        "reset", "--yes", "--scale", "2", "--pacientes", "40", "--medicos", "4",
        "--convenios", "5", "--consultas", "30", "--exames", "20", "--internacoes", "10",
        "--pacientes-convenios", "25", env=fresh_db.env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    counts = json.loads(run_cli("counts", "--json", env=fresh_db.env()).stdout)
    assert counts == {
        "convenios": 5,
        "medicos": 8,
        "pacientes": 80,
        "pacientes_convenios": 50,
        "consultas": 60,
        "exames": 40,
        "internacoes": 20,
    }


def test_bad_scale_is_one_line_naming_the_flag_and_writes_nothing(fresh_db: FreshDb) -> None:
    env = fresh_db.env()
    assert run_cli("init", env=env).returncode == 0
    out = run_cli("seed", "--scale", "0", env=env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: --scale=0 (from flag) is not accepted; it must be greater than or equal to 1"
    ]
    assert '"pacientes": 0' in run_cli("counts", "--json", env=env).stdout


def test_a_seed_that_fails_midway_leaves_the_tables_as_they_were(fresh_db: FreshDb) -> None:
    settings = fresh_db.settings(**SMALL)
    init_database(settings)

    def fail_in_consultas(table: str, done: int, total: int) -> None:
        if table == "consultas":
            raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        seed_database(settings, seed=1, progress=fail_in_consultas, chunk_rows=100)
    with fresh_db.connect() as conn:
        counts = {t: scalar(conn, f"SELECT count(*) FROM {t}") for t in TABLES}
    assert counts == {t: 2 if t == "convenios" else 0 for t in TABLES}


def test_reset_drops_and_reseeds(fresh_db: FreshDb) -> None:
    seeded(fresh_db, seed=5)
    with fresh_db.connect() as conn:
        conn.execute("UPDATE pacientes SET nome = 'Alterado' WHERE id = 1")
    env = fresh_db.env({k.upper(): str(v) for k, v in SMALL.items()})
    out = run_cli("reset", "--yes", "--seed", "5", env=env)
    assert out.returncode == 0, out.stderr
    with fresh_db.connect() as conn:
        assert scalar(conn, "SELECT nome FROM pacientes WHERE id = 1") != "Alterado"
        assert scalar(conn, "SELECT count(*) FROM pacientes") == 300


def test_reset_without_yes_asks_and_aborts_on_no(fresh_db: FreshDb) -> None:
    seeded(fresh_db, seed=5)
    out = run_cli("reset", env=fresh_db.env(), input="n\n")
    assert out.returncode != 0
    with fresh_db.connect() as conn:
        assert scalar(conn, "SELECT count(*) FROM pacientes") == 300


def test_phone_area_code_matches_the_address_state(default_db: FreshDb) -> None:
    with default_db.connect() as conn:
        assert phone_area_mismatches(conn) == []


def test_impossible_volumes_exit_2_before_reset_drops_anything(fresh_db: FreshDb) -> None:
    seeded(fresh_db, seed=5)
    env = fresh_db.env(
        {"SEED_PACIENTES": "10", "SEED_INTERNACOES": "500", "SEED_PACIENTES_CONVENIOS": "10"}
    )
    out = run_cli("reset", "--yes", env=env)
    assert out.returncode == 2
    assert "internacoes=500 is more than 10 stays per paciente" in out.stderr
    with fresh_db.connect() as conn:
        assert scalar(conn, "SELECT count(*) FROM pacientes") == 300
