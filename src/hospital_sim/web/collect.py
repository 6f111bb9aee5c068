"""Poll the streams and the database on a timer; keep the latest snapshot and a bounded history.

One background thread does all reads, so the cost to the database is one connection and a
fixed handful of cheap queries per refresh however many browsers watch. A lost connection
makes the snapshot say ``reconnecting`` until a new one succeeds. The feed of latest
changes comes from the watched streams' ``/changes`` (what each one committed, with the
columns it wrote); with no stream watched, from the newest rows of each table.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from hospital_sim.db.connect import Target, connect
from hospital_sim.errors import HospitalSimError
from hospital_sim.stream.workload import OPERATIONS
from hospital_sim.web import hospital
from hospital_sim.web.alerts import evaluate
from hospital_sim.web.scrape import StreamHistory, fetch, fetch_changes

log = logging.getLogger(__name__)

WINDOW_S = 600.0
"""How far back the charts go (and the most the dashboard remembers)."""

READINGS_S = 90.0
"""Readings of each stream kept: enough for the last minute's deltas (latency, errors);
the 10-minute chart keeps only the rates it draws."""

FEED_ROWS = 20
"""Changes shown in the feed, newest first, over all the streams watched."""

COUNTS_EVERY_S = 10.0
"""The hospital's counts (occupancy, appointments, exams) and the rows per table are read
this often at most: they move slowly and cost more than the rest of a refresh."""

PER_HOUR_EVERY_S = 60.0
"""The admissions/discharges per hour chart (24 hourly bars) is read this often at most."""


@dataclass(frozen=True)
class Sources:
    """What the dashboard reads, and how."""

    target: Target
    metrics_urls: tuple[str, ...] = ()
    verify_report: Path | None = None
    publication: str = "hospital_sim_pub"
    beds: int = 300
    refresh_s: float = 2.0
    thresholds: dict[str, tuple[float, float]] = field(default_factory=dict)
    target_insert_share: float | None = None


def read_verify_report(path: Path) -> dict[str, Any]:
    """The verdict and counts of a ``cdc verify --json`` report (or why it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        totals = data["totals"]
        return {
            "path": str(path),
            "ok": True,
            "identical": bool(data["identical"]),
            "events": int(data.get("events", 0)),
            "totals": {k: int(v) for k, v in totals.items()},
            "modified": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime)),
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return {"path": str(path), "ok": False, "error": f"{type(exc).__name__}: {exc}"}


class Collector:
    """Reads every ``refresh_s`` seconds in a daemon thread; :meth:`snapshot` is lock-free."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.streams = [StreamHistory(url, window_s=READINGS_S) for url in sources.metrics_urls]
        points = int(WINDOW_S / sources.refresh_s) + 1
        self.series: deque[tuple[float, dict[str, float]]] = deque(maxlen=points)
        self.wal: deque[tuple[float, int]] = deque(maxlen=points)
        self.feed = hospital.Feed()
        self._counts: dict[str, Any] | None = None
        self._counts_at = 0.0
        self._per_hour: dict[str, Any] | None = None
        self._per_hour_at = 0.0
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._db_state = "connecting"
        self._db_error: str | None = None
        self._latest: dict[str, Any] = {"t": time.time(), "db": {"state": "connecting"}}
        self._version = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dashboard-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(10)
        self._close()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.poll()
            except Exception:  # keep serving the page whatever one poll hits
                log.exception("dashboard poll failed")
            self._stop.wait(max(0.0, self.sources.refresh_s - (time.monotonic() - began)))

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- reading ------------------------------------------------------------------------
    def snapshot(self) -> tuple[int, dict[str, Any]]:
        return self._version, self._latest

    def wait_newer(self, version: int, timeout: float) -> tuple[int, dict[str, Any]]:
        """Block until a snapshot newer than ``version`` exists (or ``timeout`` s pass)."""
        with self._changed:
            if self._version == version and not self._stop.is_set():
                self._changed.wait(timeout)
        return self.snapshot()

    def poll(self) -> dict[str, Any]:
        """Read everything once and publish the snapshot."""
        now = time.time()
        changes: list[dict[str, Any]] = []
        for history in self.streams:
            timeout = min(2.0, self.sources.refresh_s)
            try:
                history.add(fetch(history.url, timeout=timeout))
                changes += [{**c, "stream": history.url} for c in fetch_changes(history.url)]
            except OSError as exc:
                history.error = str(getattr(exc, "reason", exc))
        streams = [h.panel() for h in self.streams]
        by_op = {op: 0.0 for op in OPERATIONS}
        for panel in streams:
            for op, rate in panel.get("by_op", {}).items():
                by_op[op] = by_op.get(op, 0.0) + rate
        self.series.append((now, by_op))
        db = self._read_database(now)
        snap: dict[str, Any] = {
            "t": now,
            "refresh_s": self.sources.refresh_s,
            "db": {"state": self._db_state, "error": self._db_error},
            "streams": streams,
            "totals": _totals(streams, self.sources.target_insert_share),
            "series": {
                "t": [t for t, _ in self.series],
                "ops": {op: [s.get(op, 0.0) for _, s in self.series] for op in by_op},
            },
            "hospital": db.get("hospital"),
            "cdc": db.get("cdc"),
            "feed": (
                sorted(changes, key=lambda c: float(c.get("at", 0.0)), reverse=True)[:FEED_ROWS]
                if self.streams
                else db.get("feed", [])
            ),
            "feed_source": "streams" if self.streams else "database",
            "verify": (
                read_verify_report(self.sources.verify_report)
                if self.sources.verify_report
                else None
            ),
        }
        snap["alerts"] = [a.to_dict() for a in evaluate(_figures(snap), self.sources.thresholds)]
        with self._changed:
            self._latest = snap
            self._version += 1
            self._changed.notify_all()
        return snap

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
        self.feed.reset()
        self._counts = self._per_hour = None  # read again (schema first) once reconnected

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            conn = connect(
                self.sources.target,
                deadline=min(2.0, self.sources.refresh_s),
                application_name="hospital-sim-dashboard",
            )
            # A dashboard read must never hold the stream up.
            conn.execute("SET statement_timeout = '2s'")
            conn.execute("SET lock_timeout = '100ms'")
            self._conn = conn
        return self._conn

    def _read_database(self, now: float) -> dict[str, Any]:
        try:
            conn = self._connection()
            counts_due = self._counts is None or now - self._counts_at >= COUNTS_EVERY_S
            # Looked for with the counts (and after every connect): a dropped table in
            # between makes a query fail, which reconnects and looks again.
            if counts_due and not hospital.schema_ready(conn):
                self._counts = self._per_hour = None
                self._db_state, self._db_error = "no_schema", None
                return {}
            wal = hospital.wal_position(conn)
            self.wal.append((now, wal))
            cdc = hospital.cdc_panel(
                conn, publication=self.sources.publication, database=conn.info.dbname
            )
            for slot in cdc["slots"]:
                slot["lag_s"] = self._lag_seconds(now, wal, slot["lag_bytes"])
            if counts_due or self._counts is None:
                self._counts = {
                    "rows": hospital.row_estimates(conn),
                    **hospital.hospital_counts(conn, beds=self.sources.beds),
                }
                self._counts_at = now
            if self._per_hour is None or now - self._per_hour_at >= PER_HOUR_EVERY_S:
                self._per_hour = hospital.per_hour(conn)
                self._per_hour_at = now
            out = {
                "hospital": {**self._counts, **self._per_hour},
                "cdc": cdc,
                # The streams' /changes say what changed; without one, the newest rows.
                "feed": [] if self.streams else self.feed.read(conn),
            }
            self._db_state, self._db_error = "ok", None
            return out
        except (psycopg.Error, HospitalSimError) as exc:
            lost = self._db_state in ("ok", "reconnecting")
            self._db_state = "reconnecting" if lost else "unreachable"
            self._db_error = getattr(exc, "message", None) or type(exc).__name__
            log.info("dashboard: database %s (%s)", self._db_state, self._db_error)
            self._close()
            return {}

    def _lag_seconds(self, now: float, wal: int, lag_bytes: int | None) -> float | None:
        """How long ago the server's WAL position was where the slot's consumer is now.

        Estimated from this dashboard's own record of WAL positions over time, so at most
        the window it remembers; None until it has seen the position pass.
        """
        if lag_bytes is None:
            return None
        if lag_bytes <= 0:
            return 0.0
        confirmed = wal - lag_bytes
        passed = None
        for t, pos in reversed(self.wal):
            if pos <= confirmed:
                passed = t
                break
        if passed is None:
            oldest = self.wal[0][0] if self.wal else now
            return now - oldest if len(self.wal) > 1 else None
        return now - passed


def _totals(streams: list[dict[str, Any]], target_share: float | None) -> dict[str, Any]:
    live = [s for s in streams if "events_total" in s]
    total = sum(s["events_total"] for s in live)
    inserts = sum((s.get("insert_share") or 0.0) * s["events_total"] for s in live)
    lags = [s["schedule_lag_s"] for s in live]
    out: dict[str, Any] = {
        "streams": len(streams),
        "streams_up": sum(1 for s in streams if s.get("ok")),
        "events_total": total,
        "rate": sum(s["rate"] for s in live),
        "insert_share": inserts / total if total else None,
        "target_insert_share": target_share,
        "schedule_lag_s": max(lags) if lags else None,
    }
    for key in ("reconnects", "in_doubt", "errors", "substitutions", "not_committed"):
        out[key] = sum(s[key] for s in live)
    for key in ("errors_per_min", "reconnects_per_min"):
        out[key] = sum(s[key] for s in live)
    for key in ("p50", "p95", "p99"):
        values = [s[key] for s in live if s.get(key) is not None]
        out[key] = max(values) if values else None
    return out


def _figures(snap: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    totals = snap["totals"]
    figures: list[tuple[str, str, float | None]] = [
        ("schedule_lag_s", "", totals.get("schedule_lag_s")),
        ("errors_per_min", "", totals.get("errors_per_min")),
        ("reconnects_per_min", "", totals.get("reconnects_per_min")),
    ]
    if snap.get("hospital"):
        figures.append(("occupancy_pct", "", snap["hospital"]["occupancy_pct"]))
        figures.append(("pending_exams", "", float(snap["hospital"]["pending_exams"])))
    for slot in (snap.get("cdc") or {}).get("slots", []):
        if slot["lag_bytes"] is not None:
            figures.append(("slot_lag_mb", slot["name"], slot["lag_bytes"] / 2**20))
        figures.append(("slot_lag_s", slot["name"], slot.get("lag_s")))
    return figures
