"""The database side of the dashboard: bounded reads, none of them a whole-table scan.

Every query a refresh makes is listed in :data:`QUERIES` (a test reads their plans on a
seeded database: no sequential scan of a hospital table). Row counts are the planner's
estimates (``reltuples`` density times the current size), not ``count(*)``. The hospital
counts read an index range and stop after :data:`COUNT_CAP` rows, so their cost has a
ceiling however large the tables and however busy the day: the page shows a capped count
as "more than". Open stays and pending exams are read from partial indexes that hold
only those rows (``idx_internacoes_abertas``, ``idx_exames_pendentes``, made by
``init``); on a database initialised before they existed the counts are still right and
capped, only their range scans read the closed rows' index entries too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hospital_sim.cdc.capture.status import publication_tables, slot_lag
from hospital_sim.db.connect import Conn
from hospital_sim.tables import TABLES

# An open stay older than this is not looked for (stays last days, rarely weeks).
OPEN_STAY_DAYS = 90
# Exams done in this many past days without a result yet (idx_exames_pendentes); an exam
# scheduled for later is not pending.
PENDING_EXAM_DAYS = 30
FEED_PER_TABLE = 4
COUNT_CAP = 2_000
"""The most rows one hospital count reads: a count that reaches it is shown as 'more than'."""

# The planner's own estimate: tuple density from the last ANALYZE/VACUUM times the table's
# current size in pages (a stat of the file, not a scan); the live-tuple count of the
# statistics collector until first analysed (the function, not the heavier view).
_ROWS_SQL = """
SELECT c.relname::text,
       CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN pg_stat_get_live_tuples(c.oid)
            ELSE round(c.reltuples / c.relpages
                       * (pg_relation_size(c.oid) / current_setting('block_size')::int))
       END::bigint
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname = ANY(%s)
"""


def _capped(rows: str) -> str:
    """count(*) of ``rows`` (a SELECT), reading at most COUNT_CAP + 1 of them."""
    return f"SELECT count(*) FROM ({rows} LIMIT {COUNT_CAP + 1}) capped"


# idx_internacoes_abertas (data_entrada) WHERE data_saida IS NULL: only open stays are read.
_OPEN_STAYS_SQL = _capped(
    "SELECT 1 FROM internacoes"
    f" WHERE data_entrada >= localtimestamp - interval '{OPEN_STAY_DAYS} days'"
    " AND data_saida IS NULL"
)

# idx_consultas_data: today's range; statuses of at most COUNT_CAP + 1 appointments.
_APPOINTMENTS_SQL = f"""
SELECT status::text, count(*) FROM (
  SELECT status FROM consultas WHERE data >= current_date AND data < current_date + 1
   LIMIT {COUNT_CAP + 1}) today
 GROUP BY status
"""

# idx_exames_pendentes (data) WHERE resultado IS NULL: only the pending exams are read.
_PENDING_EXAMS_SQL = _capped(
    "SELECT 1 FROM exames"
    f" WHERE data >= localtimestamp - interval '{PENDING_EXAM_DAYS} days'"
    " AND data <= localtimestamp AND resultado IS NULL"
)

# Admissions and discharges per hour over the last 24 h, both range scans on
# idx_internacoes_datas (data_entrada, data_saida); a discharge is looked for among stays
# admitted in the last DISCHARGE_LOOKBACK_DAYS. Each reads at most COUNT_CAP + 1 rows,
# the newest admissions first: a capped chart misses its oldest hours, not the current one.
DISCHARGE_LOOKBACK_DAYS = 30
_ADMISSIONS_SQL = f"""
SELECT 23 - extract(epoch FROM date_trunc('hour', localtimestamp)
                    - date_trunc('hour', data_entrada))::int / 3600, count(*)
  FROM (SELECT data_entrada FROM internacoes
         WHERE data_entrada >= date_trunc('hour', localtimestamp) - interval '23 hours'
         ORDER BY data_entrada DESC LIMIT {COUNT_CAP + 1}) day
 GROUP BY 1
"""
_DISCHARGES_SQL = f"""
SELECT 23 - extract(epoch FROM date_trunc('hour', localtimestamp)
                    - date_trunc('hour', data_saida))::int / 3600, count(*)
  FROM (SELECT data_saida FROM internacoes
         WHERE data_entrada >= localtimestamp - interval '{DISCHARGE_LOOKBACK_DAYS} days'
           AND data_saida >= date_trunc('hour', localtimestamp) - interval '23 hours'
         ORDER BY data_entrada DESC LIMIT {COUNT_CAP + 1}) day
 GROUP BY 1
"""


def _per_hour(conn: Conn, query: str) -> list[int]:
    hours = [0] * 24
    for slot, n in conn.execute(query).fetchall():
        i = int(str(slot))
        if 0 <= i < 24:  # a future timestamp (a scheduled time) is not counted
            hours[i] = int(str(n))
    return hours


# The newest rows of each table by primary key: a backwards index scan with a LIMIT.
FEED_COLUMNS: dict[str, tuple[str, ...]] = {
    "convenios": ("nome",),
    "medicos": ("nome", "especialidade"),
    "pacientes": ("nome", "cidade"),
    "pacientes_convenios": ("paciente_id", "convenio_id"),
    "consultas": ("paciente_id", "status"),
    "exames": ("tipo_exame", "resultado"),
    "internacoes": ("paciente_id", "data_saida"),
}


def _feed_sql(columns: dict[str, list[str]]) -> str:
    parts = []
    for table in TABLES:
        cols = columns.get(table, [])
        shown = "jsonb_build_object(" + ", ".join(f"'{c}', {c}" for c in cols) + ")"
        parts.append(
            f"(SELECT '{table}'::text, id, created_at, updated_at, {shown}"
            f" FROM {table} ORDER BY id DESC LIMIT {FEED_PER_TABLE})"
        )
    return " UNION ALL ".join(parts) + " ORDER BY 4 DESC, 2 DESC LIMIT 20"


def _existing_columns(conn: Conn) -> dict[str, list[str]]:
    rows = conn.execute(
        "SELECT table_name::text, column_name::text FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = ANY(%s)",
        (list(TABLES),),
    ).fetchall()
    have: dict[str, set[str]] = {}
    for t, c in rows:
        have.setdefault(str(t), set()).add(str(c))
    return {t: [c for c in FEED_COLUMNS[t] if c in have.get(t, set())] for t in TABLES}


def schema_ready(conn: Conn) -> bool:
    """Whether all 7 hospital tables exist (the page says 'run hospital-sim init' if not)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname = ANY(%s)",
        (list(TABLES),),
    ).fetchone()
    return row is not None and int(str(row[0])) == len(TABLES)


def row_estimates(conn: Conn) -> dict[str, int]:
    """Rows per table from the statistics, never a count(*)."""
    out = {str(name): int(str(n)) for name, n in conn.execute(_ROWS_SQL, (list(TABLES),))}
    return {t: out.get(t, 0) for t in TABLES}


def _scalar(conn: Conn, query: str) -> int:
    row = conn.execute(query).fetchone()
    return 0 if row is None else int(str(row[0]))


def _capped_names(counts: dict[str, int]) -> list[str]:
    return [name for name, n in counts.items() if n > COUNT_CAP]


def hospital_counts(conn: Conn, *, beds: int) -> dict[str, Any]:
    """Occupancy, today's appointments and pending exams.

    Each count reads at most :data:`COUNT_CAP` + 1 rows; ``capped`` names the ones that
    passed it (the true figure is larger; today's statuses are then those of the first
    COUNT_CAP + 1 appointments by time).
    """
    open_stays = _scalar(conn, _OPEN_STAYS_SQL)
    appointments = {str(s): int(str(n)) for s, n in conn.execute(_APPOINTMENTS_SQL).fetchall()}
    pending = _scalar(conn, _PENDING_EXAMS_SQL)
    return {
        "open_stays": open_stays,
        "beds": beds,
        "occupancy_pct": 100.0 * open_stays / beds,
        "appointments_today": {
            s: appointments.get(s, 0) for s in ("agendada", "realizada", "cancelada", "faltou")
        },
        "pending_exams": pending,
        "capped": _capped_names(
            {
                "open_stays": open_stays,
                "appointments_today": sum(appointments.values()),
                "pending_exams": pending,
            }
        ),
        "count_cap": COUNT_CAP,
    }


def per_hour(conn: Conn) -> dict[str, Any]:
    """Admissions and discharges per hour over the last 24 h (oldest hour first), each
    read from at most COUNT_CAP + 1 rows (``capped`` names those that passed it)."""
    admissions = _per_hour(conn, _ADMISSIONS_SQL)
    discharges = _per_hour(conn, _DISCHARGES_SQL)
    return {
        "admissions_per_hour": admissions,
        "discharges_per_hour": discharges,
        "capped_per_hour": _capped_names(
            {"admissions_per_hour": sum(admissions), "discharges_per_hour": sum(discharges)}
        ),
    }


class Feed:
    """The latest changed rows, newest first; columns are looked up once per connection."""

    def __init__(self) -> None:
        self._sql: str | None = None

    def reset(self) -> None:
        self._sql = None

    def read(self, conn: Conn) -> list[dict[str, Any]]:
        if self._sql is None:
            self._sql = _feed_sql(_existing_columns(conn))
        out = []
        for table, key, created, updated, columns in conn.execute(self._sql).fetchall():
            assert isinstance(updated, datetime) and isinstance(created, datetime)
            out.append(
                {
                    "time": updated.isoformat(sep=" ", timespec="seconds"),
                    "table": table,
                    "key": int(str(key)),
                    "op": "INSERT" if updated == created else "UPDATE",
                    "columns": {k: _short(v) for k, v in dict(columns or {}).items()},  # type: ignore[call-overload]
                }
            )
        return out


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 40:
        return value[:39] + "…"
    return value


def wal_position(conn: Conn) -> int:
    """The server's current WAL position in bytes from 0/0 (replay position on a standby)."""
    return _scalar(
        conn,
        "SELECT pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
        " ELSE pg_current_wal_lsn() END, '0/0')::bigint",
    )


def cdc_panel(conn: Conn, *, publication: str, database: str) -> dict[str, Any]:
    """Slots of this database with their byte lag, and the publication's coverage."""
    covered = publication_tables(conn, publication)
    return {
        "publication": {
            "name": publication,
            "exists": covered is not None,
            "tables": covered or [],
            "missing": [t for t in TABLES if t not in set(covered or ())],
        },
        "slots": [
            {
                "name": s.slot_name,
                "plugin": s.plugin,
                "active": s.active,
                "lag_bytes": s.confirmed_flush_lag_bytes,
                "retained_bytes": s.retained_wal_bytes,
            }
            for s in slot_lag(conn, database=database)
        ],
    }


def queries(conn: Conn) -> dict[str, tuple[str, tuple[Any, ...] | None]]:
    """Every query of a refresh on the hospital tables, by name, with its parameters (the
    plan test reads them all): the counts, the row estimates and the newest rows."""
    return {
        "rows": (_ROWS_SQL, (list(TABLES),)),
        "open_stays": (_OPEN_STAYS_SQL, None),
        "appointments_today": (_APPOINTMENTS_SQL, None),
        "pending_exams": (_PENDING_EXAMS_SQL, None),
        "admissions_per_hour": (_ADMISSIONS_SQL, None),
        "discharges_per_hour": (_DISCHARGES_SQL, None),
        "newest_rows": (_feed_sql(_existing_columns(conn)), None),
    }
