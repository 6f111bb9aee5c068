"""Schema lifecycle: init, reset, counts. Each function is what one CLI command runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql

from hospital_sim.config import Settings
from hospital_sim.db.connect import Conn, check_version, connection, server_info
from hospital_sim.db.schema import (
    TABLES,
    apply_schema,
    drop_schema,
    missing_tables,
    table_counts,
)
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import UserError

log = logging.getLogger(__name__)


class SchemaMissing(UserError):
    """The hospital tables are not there yet."""


def init_database(settings: Settings) -> list[str]:
    """Create the schema (idempotent). Returns the SQL files applied."""
    target = prepare_target(settings, create=True)
    with connection(target, deadline=settings.connect_timeout) as conn:
        check_version(server_info(conn))
        applied = apply_schema(conn)
    log.info("schema ready on %s", target.display)
    return applied


def require_schema(missing: list[str]) -> None:
    """Raise the user-facing error for tables that are not there."""
    if missing:
        raise SchemaMissing(
            f"table(s) {', '.join(missing)} do not exist; run 'hospital-sim init' first"
        )


class PrivilegesMissing(UserError):
    """The role cannot write the hospital tables."""


def require_privileges(role: str, missing: list[str]) -> None:
    """Raise the user-facing error for privileges the role lacks on the tables."""
    if missing:
        raise PrivilegesMissing(
            f"role {role} lacks {'; '.join(missing)}; connect as the tables' owner (see "
            "PG_USER/DATABASE_URL) or GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA "
            f"public and USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"
        )


def count_rows(settings: Settings) -> dict[str, int]:
    """Rows per table, in FK order."""
    target = prepare_target(settings)
    with connection(target, deadline=settings.connect_timeout) as conn:
        require_schema(missing_tables(conn))
        return table_counts(conn)


@dataclass(frozen=True)
class CdcShape:
    """What CDC setup changed on the tables, which dropping them would lose."""

    publications: tuple[tuple[str, str], ...]  # (publication, table)
    identities: tuple[tuple[str, str], ...]  # (table, 'd' | 'f' | 'n') when not default


_IDENTITY_SQL = {"f": "FULL", "n": "NOTHING"}


def cdc_shape(conn: Conn) -> CdcShape:
    """The publications listing our tables and their non-default replica identities."""
    pubs = conn.execute(
        "SELECT p.pubname, c.relname FROM pg_publication_rel pr"
        " JOIN pg_publication p ON p.oid = pr.prpubid JOIN pg_class c ON c.oid = pr.prrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relname = ANY(%s) ORDER BY 1, 2",
        (list(TABLES),),
    ).fetchall()
    idents = conn.execute(
        "SELECT c.relname, c.relreplident FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname = ANY(%s)"
        " AND c.relreplident IN ('f', 'n') ORDER BY 1",
        (list(TABLES),),
    ).fetchall()
    return CdcShape(
        publications=tuple((str(p), str(t)) for p, t in pubs),
        identities=tuple((str(t), str(i)) for t, i in idents),
    )


def restore_cdc_shape(conn: Conn, shape: CdcShape) -> None:
    """Put the recreated tables back in their publications, with their replica identity."""
    with conn.transaction():
        for pub, table in shape.publications:
            conn.execute(
                sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                    sql.Identifier(pub), sql.Identifier(table)
                )
            )
        for table, ident in shape.identities:
            conn.execute(
                sql.SQL("ALTER TABLE {} REPLICA IDENTITY {}").format(
                    sql.Identifier(table), sql.SQL(_IDENTITY_SQL[ident])
                )
            )


def reset_database(settings: Settings, *, seed: Callable[[Settings], object]) -> None:
    """Drop the schema, create it again, then run ``seed``.

    Publications listing the tables keep listing them, and a replica identity set by
    ``cdc setup`` is kept, so a CDC pipeline keeps receiving changes across a reset.
    """
    target = prepare_target(settings, create=True)
    with connection(target, deadline=settings.connect_timeout) as conn:
        check_version(server_info(conn))
        shape = cdc_shape(conn)
        drop_schema(conn)
        apply_schema(conn)
        restore_cdc_shape(conn, shape)
    if shape.publications:
        kept = sorted({p for p, _ in shape.publications})
        log.info("publication(s) %s keep the recreated tables", ", ".join(kept))
    log.info("schema dropped and recreated on %s", target.display)
    seed(settings)
