"""Bulk load of generated rows, in FK order, with COPY, in one transaction."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from hospital_sim.config import Settings, run_seed
from hospital_sim.db.connect import connection
from hospital_sim.db.copytext import copy_text
from hospital_sim.db.lifecycle import require_schema
from hospital_sim.db.prefetch import prefetched
from hospital_sim.db.schema import TABLES, missing_tables, restore_lookups
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import ConfigError, UserError
from hospital_sim.generate import TABLE_COLUMNS, Volumes, check_volumes, generate_tables
from hospital_sim.generate.dataset import BLOCK_ROWS
from hospital_sim.generate.documents import MAX_CRM_ID

log = logging.getLogger(__name__)

LOOKUP_CONVENIOS = 2
"""Plans created by ``init`` (ids 1 and 2); the seed adds the rest."""

Progress = Callable[[str, int, int], None]
"""Called as (table, rows written so far, rows planned for the table): with 0 rows when
the table's COPY starts, after each block, and with all its rows once the COPY ended."""


@dataclass(frozen=True)
class SeedResult:
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rows.values())


FIRST_IDS = {"convenios": LOOKUP_CONVENIOS + 1}

CHUNK_ROWS = BLOCK_ROWS
"""Rows per COPY block by default: one generation block, so nothing is regrouped."""

PREFETCH_BLOCKS = 4
"""Blocks generated ahead of the one being sent."""


def volumes_from(settings: Settings) -> Volumes:
    """The rows to generate per table (the lookup plans already exist), times SEED_SCALE.

    Raises ConfigError, before anything is touched, for volumes that cannot be
    generated coherently.
    """
    # A hospital ten times bigger has ten times the patients, not ten times the plans.
    scale = settings.seed_scale
    volumes = Volumes(
        convenios=settings.seed_convenios - LOOKUP_CONVENIOS,
        # CRM numbers run out at MAX_CRM_ID doctors: scaling stops there.
        medicos=max(settings.seed_medicos, min(settings.seed_medicos * scale, MAX_CRM_ID)),
        pacientes=settings.seed_pacientes * scale,
        pacientes_convenios=settings.seed_pacientes_convenios * scale,
        consultas=settings.seed_consultas * scale,
        exames=settings.seed_exames * scale,
        internacoes=settings.seed_internacoes * scale,
    )
    try:
        check_volumes(volumes, FIRST_IDS)
    except ValueError as exc:
        raise ConfigError(f"cannot seed the requested volumes: {exc}") from None
    return volumes


def anchor_for(now: dt.datetime | None = None) -> dt.datetime:
    """Start of the current UTC day: 'past' and 'future' in generated data hinge on it."""
    now = now or dt.datetime.now(dt.UTC)
    return dt.datetime(now.year, now.month, now.day)


class NotEmpty(UserError):
    """Seeding would mix generated rows with rows already there."""


def _check_empty(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    for table in TABLES:
        limit = LOOKUP_CONVENIOS if table == "convenios" else 0
        query = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT {}) t").format(
            sql.Identifier(table), sql.Literal(limit + 1)
        )
        row = conn.execute(query).fetchone()
        if row is not None and int(str(row[0])) > limit:
            raise NotEmpty(
                f"table {table} already holds data; seed fills an empty schema: "
                "run 'hospital-sim reset --yes' to start over"
            )


def copy_rows(
    conn: psycopg.Connection[tuple[object, ...]],
    volumes: Volumes,
    *,
    seed: int,
    anchor: dt.datetime,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, int]:
    """COPY every generated chunk into its table. The caller owns the transaction.

    ``chunk_rows`` only sets how many rows go to the server at a time (and so the
    memory held); the rows themselves do not depend on it.
    """
    planned = {t: getattr(volumes, t) for t in TABLES}
    written = dict.fromkeys(TABLES, 0)
    copy_sql = {
        t: sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(t), sql.SQL(", ").join(map(sql.Identifier, TABLE_COLUMNS[t]))
        )
        for t in TABLES
    }
    chunks = generate_tables(
        volumes, seed=seed, anchor=anchor, chunk_rows=chunk_rows, first_ids=FIRST_IDS
    )
    # Blocks are generated and turned into COPY text in a thread, a few blocks ahead:
    # while the server stores one block (or finishes a table's COPY) the next is made.
    # Memory holds at most PREFETCH_BLOCKS + 2 blocks, whatever the volumes.
    texts = ((table, len(rows), copy_text(rows)) for table, rows in chunks)
    with prefetched(texts, depth=PREFETCH_BLOCKS) as blocks, conn.cursor() as cur:
        for table, table_blocks in itertools.groupby(blocks, key=operator.itemgetter(0)):
            # convenios counts the lookup plans too, as SEED_CONVENIOS and counts do
            extra = LOOKUP_CONVENIOS if table == "convenios" else 0
            total = planned[table] + extra
            if progress is not None:
                progress(table, extra, total)  # the table's clock starts now
            with cur.copy(copy_sql[table]) as copy:
                for _, n, text in table_blocks:
                    copy.write(text)
                    written[table] += n
                    if progress is not None and written[table] < planned[table]:
                        progress(table, written[table] + extra, total)
            # The table is done when the server has checked and stored every row.
            if progress is not None:
                progress(table, written[table] + extra, total)
    with conn.cursor() as cur:
        for table in TABLES:
            # Keep BIGSERIAL ahead of the explicit ids we loaded.
            cur.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({t}, 'id'),"
                    " GREATEST((SELECT max(id) FROM {i}), 1))"
                ).format(t=sql.Literal(table), i=sql.Identifier(table))
            )
    return written


def seed_database(
    settings: Settings,
    *,
    seed: int | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> SeedResult:
    """Generate and load the configured volumes into an empty schema, all or nothing.

    ``chunk_rows`` bounds the rows held in memory at once; the data does not depend on it.
    """
    seed = run_seed(settings, seed)
    log.info("seed %d (pass --seed %d to repeat this data)", seed, seed)
    volumes = volumes_from(settings)
    target = prepare_target(settings, create=True)
    started = time.perf_counter()
    with connection(target, deadline=settings.connect_timeout) as conn:
        require_schema(missing_tables(conn))
        with conn.transaction():
            _check_empty(conn)
            # TRUNCATE ... RESTART IDENTITY removes the lookup plans the rows refer to.
            restore_lookups(conn)
            # The whole load is one transaction: nothing half-written if it fails.
            conn.execute("SET LOCAL synchronous_commit = off")
            rows = copy_rows(
                conn,
                volumes,
                seed=seed,
                anchor=anchor_for(now),
                progress=progress,
                chunk_rows=chunk_rows,
            )
        conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))))
    elapsed = time.perf_counter() - started
    total = sum(rows.values())
    log.info(
        "seeded %d rows in %.2f s (%.0f rows/s)",
        total,
        elapsed,
        total / elapsed if elapsed else 0.0,
    )
    return SeedResult(seed=seed, rows=rows, seconds=elapsed)
