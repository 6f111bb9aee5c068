"""Schema lifecycle: init, reset, counts. Each function is what one CLI command runs."""

from __future__ import annotations

import logging
from collections.abc import Callable

from hospital_sim.config import Settings
from hospital_sim.db.connect import check_version, connection, server_info
from hospital_sim.db.schema import apply_schema, drop_schema, missing_tables, table_counts
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


def count_rows(settings: Settings) -> dict[str, int]:
    """Rows per table, in FK order."""
    target = prepare_target(settings)
    with connection(target, deadline=settings.connect_timeout) as conn:
        require_schema(missing_tables(conn))
        return table_counts(conn)


def reset_database(settings: Settings, *, seed: Callable[[Settings], object]) -> None:
    """Drop the schema, create it again, then run ``seed``."""
    target = prepare_target(settings, create=True)
    with connection(target, deadline=settings.connect_timeout) as conn:
        check_version(server_info(conn))
        drop_schema(conn)
        apply_schema(conn)
    log.info("schema dropped and recreated on %s", target.display)
    seed(settings)
