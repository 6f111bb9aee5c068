"""Parse a change log (one Debezium change event per line) into normalised events.

Each line may be, auto-detected per line:

- the fixture/export wrapper ``{"topic": "dbz.public.<t>", "key": ..., "value": ...}``;
- a bare Debezium value envelope ``{"before", "after", "source", "op", "ts_ms"}``, which
  is also what ``hospital-sim`` capture writes;
- either of those from JsonConverter with schemas enabled, ``{"schema": ..., "payload": ...}``;
- kafka-console-consumer output, ``value`` or ``key<TAB>value`` with ``print.key=true``
  (other printed fields, such as the timestamp or partition, come before the value).

Column values become canonical Python values (int, str, date, naive UTC datetime, None)
whatever the connector's ``time.precision.mode`` or converter: epoch days or ISO dates;
epoch milli/micro/nano timestamps (told apart by the schema's name when schemas are
enabled, otherwise by magnitude) or ISO timestamps; decimals as strings or base64 bytes.
Debezium's ``__debezium_unavailable_value`` placeholder becomes :data:`UNAVAILABLE`.
The value decoders live in :mod:`~hospital_sim.cdc.verify.decoders`; this module is the
envelope parser. It stays near 600 lines because :class:`ChangeLogParser` is one hot loop
over every line of a log (auto-detecting the shape, caching per-table decoders and
inlining the common cases): cutting it in two would add a call per event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson

from hospital_sim.cdc.lsn import parse_lsn
from hospital_sim.cdc.schema_types import (
    PRIMARY_KEY,
    SCENARIO_TABLE_SCHEMAS,
    TABLE_NAMES,
)
from hospital_sim.cdc.values import UNAVAILABLE, UNAVAILABLE_PLACEHOLDER
from hospital_sim.cdc.verify.decoders import (
    DAYS_CACHE,
    DAYS_MAX,
    DAYS_MIN,
    DBZ_EPOCH_INFINITE,
    MICRO_FROM,
    MICROS_CACHE,
    NANO_FROM,
    TABLE_DECODERS,
    BadValue,
    Decode,
    days_to_date,
    decode_bigint,
    decode_date,
    decode_timestamp,
    decode_varchar,
    decode_variable_scale_decimal,
    micros_to_datetime,
    schema_decoder,
    unit_of,
)
from hospital_sim.errors import UserError

__all__ = [
    "MAX_LINE_CHARS",
    "OPS",
    "ChangeEvent",
    "ChangeLogError",
    "ChangeLogParser",
    "ParseStats",
    "TransactionEnd",
    "parse_changelog",
    "parse_line",
]

OPS: Final = frozenset("rcudt")
_HEARTBEAT_KEYS: Final = frozenset(("ts_ms", "ts_us", "ts_ns"))
_CONSUMER_TRAILER: Final = "Processed a total of "


def _clipped(value: Any) -> str:
    """``repr(value)``, cut so that an error about a huge value stays one short line."""
    if isinstance(value, str) and len(value) > 200:
        return f"{value[:200]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"


class ChangeLogError(UserError):
    """A change log line that cannot be used; the message names the line and why."""

    def __init__(self, line_no: int, reason: str) -> None:
        super().__init__(f"change log line {line_no}: {reason}")
        self.line_no = line_no
        self.reason = reason


@dataclass(slots=True)
class ChangeEvent:
    """One row change, normalised. ``key`` is the row's ``id`` (None for a truncate).

    Not frozen only because frozen dataclasses are several times slower to build;
    treat it as read-only.
    """

    table: str
    op: str
    key: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    lsn: int | None
    tx_id: int | None
    source_ts_ms: int | None
    ts_ms: int | None
    line_no: int
    placeholders: int = 0
    """How many column values of ``after`` were Debezium's unavailable placeholder."""
    last_commit_lsn: int | None = None
    """First half of Debezium's ``source.sequence`` order key, when the event has one."""
    commit_lsn: int | None = None
    """LSN of the transaction's commit record (``source.commit_lsn``, written by
    hospital-sim's capture; Debezium's events do not carry it)."""
    txn: str | None = None
    """``transaction.id`` when the log carries transaction metadata."""
    decoded: bool = True
    """False when ``before``/``after`` hold the values as the JSON has them
    (:meth:`ChangeLogParser.parse_line_raw`)."""


@dataclass(slots=True)
class TransactionEnd:
    """A transaction's END marker: how many change events it had, per table."""

    id: str
    """As the log writes it (Debezium: ``txid:lsn``)."""
    event_count: int
    tables: dict[str, int]
    line_no: int
    key: str = ""
    """The transaction's txid: what its change events' ``transaction.id`` is matched by."""


@dataclass(slots=True)
class ParseStats:
    """What the parser saw besides the events it returned."""

    lines: int = 0
    events: int = 0
    tombstones: int = 0
    placeholders: int = 0
    skipped: int = 0
    """Heartbeats, transaction markers, logical-message events, console-consumer trailers."""
    transaction_ends: list[TransactionEnd] = field(default_factory=list)
    """END markers of transaction metadata (``provide.transaction.metadata=true``)."""


def _row_fields(schema: Any) -> tuple[tuple[Any, ...], ...] | None:
    """(field, name, type, scale) of each column in an Envelope schema's row structs."""
    if not isinstance(schema, dict):
        return None
    columns: dict[str, tuple[Any, ...]] = {}
    for part in schema.get("fields") or ():
        if isinstance(part, dict) and part.get("field") in ("before", "after"):
            for f in part.get("fields") or ():
                if isinstance(f, dict) and isinstance(f.get("field"), str):
                    name, kind = f.get("name"), f.get("type")
                    scale = (f.get("parameters") or {}).get("scale")
                    columns[f["field"]] = (
                        f["field"],
                        name if isinstance(name, str) else None,
                        kind if isinstance(kind, str) else None,
                        scale if isinstance(scale, str | int) else None,
                    )
    return tuple(columns.values())


# --- the parser ----------------------------------------------------------------------


def _key_id(key: Any) -> int | None:
    if isinstance(key, dict):
        if "payload" in key and "schema" in key:
            return _key_id(key["payload"])
        return _key_id(key.get(PRIMARY_KEY))
    if type(key) is int:
        return key
    return None


def _is_wrapper(obj: dict[str, Any]) -> bool:
    return "value" in obj and ("topic" in obj or "key" in obj) and "op" not in obj


def _last_commit_lsn(sequence: Any) -> int | None:
    """The last commit LSN in Debezium's ``source.sequence``, ``'["31865752","31865808"]'``.

    None when absent, ``null`` or not in that form: the sequence is optional metadata.
    """
    if type(sequence) is not str or not sequence.startswith('["'):
        return None  # also '[null,"..."]', as on snapshot reads
    first = sequence[2 : sequence.find('"', 2)]
    return int(first) if first.isdigit() else None


def _optional_int(value: Any, what: str) -> int | None:
    if value is None or type(value) is int:
        return value
    raise BadValue(f"{what} {_clipped(value)} is not an integer")


MAX_LINE_CHARS: Final = 64 << 20
"""The longest line accepted: parsing holds a line in memory several times over."""


class ChangeLogParser:
    """Turns change-log lines into :class:`ChangeEvent` objects, counting what it skips."""

    def __init__(self, *, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self.max_line_chars = max_line_chars
        self.stats = ParseStats()
        self._schema_decoders: dict[tuple[str, Any], Mapping[str, Decode]] = {}
        self._epoch: Callable[[int], datetime] | None = None
        """The log's unit for epoch timestamps without a schema, once a value tells it."""

    def parse(self, lines: Iterable[str], *, first_line_no: int = 1) -> Iterator[ChangeEvent]:
        """Yield the events of ``lines``; raise ChangeLogError at the first unusable line."""
        parse_line = self.parse_line
        for line_no, line in enumerate(lines, first_line_no):
            event = parse_line(line, line_no)
            if event is not None:
                yield event

    def parse_line(self, line: str, line_no: int) -> ChangeEvent | None:
        """The event on ``line``, or None for a tombstone, blank or non-change line."""
        self.stats.lines += 1
        if len(line) > self.max_line_chars:
            raise ChangeLogError(
                line_no,
                f"{len(line):,} characters long; lines over {self.max_line_chars >> 20} MiB are "
                "refused (a change event that large is not a row of this schema)",
            )
        try:
            obj: Any = orjson.loads(line)  # the hot path: about half of verify's time
            key: Any = None
        except ValueError as exc:
            if not line or line.isspace():
                return None
            obj, key = self._console_line(line, line_no, exc)
            if obj is _SKIP:
                self.stats.skipped += 1
                return None
        topic = None
        if type(obj) is dict and _is_wrapper(obj):
            topic, key, obj = obj.get("topic"), obj.get("key"), obj["value"]
            if isinstance(obj, str):
                obj = self._loads(obj, line_no)
        schema = None
        if type(obj) is dict and "payload" in obj and "schema" in obj:
            schema, obj = obj["schema"], obj["payload"]
        if obj is None:
            self.stats.tombstones += 1
            return None
        if type(obj) is not dict:
            raise ChangeLogError(
                line_no, f"expected a JSON object (a change event), got {type(obj).__name__}"
            )
        try:
            # A substring test is cheaper than looking at every decoded value.
            maybe_placeholders = UNAVAILABLE_PLACEHOLDER in line
            return self._event(obj, schema, key, topic, line_no, maybe_placeholders)
        except BadValue as exc:
            raise ChangeLogError(line_no, str(exc)) from None

    def parse_line_raw(self, line: str, line_no: int) -> ChangeEvent | None:
        """Like :meth:`parse_line`, but an ordinary change event keeps its row values as
        the JSON has them (``decoded`` False): several times cheaper, for comparing two logs
        that encode values alike. Any other line is parsed in full."""
        if len(line) > self.max_line_chars:
            return self.parse_line(line, line_no)
        try:
            obj: Any = orjson.loads(line)
        except ValueError:
            return self.parse_line(line, line_no)
        topic = None
        if type(obj) is dict and "op" not in obj and "value" in obj:
            topic, obj = obj.get("topic"), obj["value"]
        if type(obj) is dict and "payload" in obj and "schema" in obj:
            obj = obj["payload"]
        if type(obj) is not dict:
            return self.parse_line(line, line_no)
        op, source = obj.get("op"), obj.get("source")
        before, after = obj.get("before"), obj.get("after")
        if (
            type(op) is not str
            or op not in OPS
            or type(source) is not dict
            or not (before is None or type(before) is dict)
            or not (after is None or type(after) is dict)
        ):
            return self.parse_line(line, line_no)
        table = source.get("table") or (topic.rsplit(".", 1)[-1] if type(topic) is str else None)
        lsn, tx_id, commit_lsn = source.get("lsn"), source.get("txId"), source.get("commit_lsn")
        image = after if after is not None else before
        key = None if image is None else image.get(PRIMARY_KEY)
        if (
            type(table) is not str
            or type(lsn) is not int
            or type(tx_id) is not int
            or (op != "t" and type(key) is not int)
            or (op in "rcu" and after is None)
        ):
            return self.parse_line(line, line_no)
        self.stats.lines += 1
        self.stats.events += 1
        return ChangeEvent(
            table, op, key, before, after, lsn, tx_id, None, None, line_no,
            commit_lsn=commit_lsn if type(commit_lsn) is int else None, decoded=False,
        )  # fmt: skip

    def _loads(self, text: str, line_no: int) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ChangeLogError(
                line_no, f"not JSON ({exc}); expected one Debezium change event per line"
            ) from None

    def _console_line(self, line: str, line_no: int, exc: ValueError) -> tuple[Any, Any]:
        """Value and key of a line that is not one JSON document."""
        text = line.strip()
        if text.startswith(_CONSUMER_TRAILER):
            return _SKIP, None
        if text.startswith("\ufeff"):  # a byte-order mark left by an editor or export tool
            text = text[1:]
            try:
                return json.loads(text), None
            except ValueError as retry:
                exc = retry
        if "\t" not in text:
            raise ChangeLogError(
                line_no, f"not JSON ({exc}); expected one Debezium change event per line"
            )
        # kafka-console-consumer prints timestamp/partition/offset/headers/key before
        # the value, separated by tabs; JSON escapes tabs inside strings, so the value
        # is the last field and the key, when printed, the one before it.
        parts = text.split("\t")
        value = self._loads(parts[-1], line_no)
        key = None
        if len(parts) >= 2:
            try:
                key = json.loads(parts[-2])
            except ValueError:
                key = None
        return value, key

    def _event(
        self,
        obj: dict[str, Any],
        schema: Any,
        key: Any,
        topic: Any,
        line_no: int,
        maybe_placeholders: bool,
    ) -> ChangeEvent | None:
        op = obj.get("op")
        if op is None:
            if "status" in obj and "id" in obj:
                self.stats.skipped += 1
                if obj["status"] == "END":
                    self._transaction_end(obj, line_no)
                return None
            if obj and set(obj) <= _HEARTBEAT_KEYS:
                self.stats.skipped += 1  # a heartbeat
                return None
            raise ChangeLogError(line_no, "no 'op' field; not a Debezium change event")
        if op == "m":
            self.stats.skipped += 1
            return None
        if type(op) is not str or op not in OPS:
            raise ChangeLogError(line_no, f"unknown op {op!r}; expected one of r, c, u, d, t")
        source = obj.get("source")
        if not isinstance(source, dict):
            source = {}
        table = source.get("table")
        if not table and isinstance(topic, str):
            table = topic.rsplit(".", 1)[-1]
        if not isinstance(table, str) or not table:
            raise ChangeLogError(line_no, "no table name (source.table) in the event")
        decoders = self._decoders(table, schema, line_no)
        before = self._row(obj.get("before"), decoders, table, "before", line_no)
        after = self._row(obj.get("after"), decoders, table, "after", line_no)
        row_key: int | None = None
        if op != "t":
            image = after if after is not None else before
            if op in "rcu" and after is None:
                raise ChangeLogError(line_no, f"op {op!r} event without an 'after' row")
            row_key = image.get(PRIMARY_KEY) if image is not None else None
            if row_key is None:
                row_key = _key_id(key)
            if type(row_key) is not int:
                raise ChangeLogError(line_no, f"{table} event without an integer 'id'")
        placeholders = 0
        if maybe_placeholders and after is not None:
            placeholders = sum(1 for v in after.values() if v is UNAVAILABLE)
            self.stats.placeholders += placeholders
        lsn, tx_id = source.get("lsn"), source.get("txId")
        source_ts_ms, ts_ms = source.get("ts_ms"), obj.get("ts_ms")
        if not (
            type(lsn) is int
            and type(tx_id) is int
            and type(source_ts_ms) is int
            and type(ts_ms) is int
        ):
            if isinstance(lsn, str):
                lsn = self._lsn(lsn, line_no)
            lsn = _optional_int(lsn, "source.lsn")
            tx_id = _optional_int(tx_id, "source.txId")
            source_ts_ms = _optional_int(source_ts_ms, "source.ts_ms")
            ts_ms = _optional_int(ts_ms, "ts_ms")
        sequence = source.get("sequence")
        commit_lsn = source.get("commit_lsn")
        transaction = obj.get("transaction")
        txn = transaction.get("id") if type(transaction) is dict else None
        if txn is not None:
            txn = _transaction_key(txn)
        self.stats.events += 1
        return ChangeEvent(
            table, op, row_key, before, after, lsn, tx_id, source_ts_ms, ts_ms, line_no,
            placeholders, None if sequence is None else _last_commit_lsn(sequence),
            commit_lsn if type(commit_lsn) is int else None,
            None if txn is None else str(txn),
        )  # fmt: skip

    def _transaction_end(self, obj: dict[str, Any], line_no: int) -> None:
        count = obj.get("event_count")
        if type(count) is not int:
            raise ChangeLogError(line_no, "transaction END marker without an integer event_count")
        tables: dict[str, int] = {}
        messages = 0
        for part in obj.get("data_collections") or ():
            if isinstance(part, dict) and type(part.get("event_count")) is int:
                collection = str(part.get("data_collection", ""))
                if collection.startswith(_DEBEZIUM_INTERNAL):
                    # A logical decoding message (pg_logical_emit_message): an 'm' event,
                    # not a row change; verify skips those.
                    messages += part["event_count"]
                    continue
                tables[collection.rsplit(".", 1)[-1]] = part["event_count"]
        if messages and not tables:
            return
        shown = str(obj["id"])
        self.stats.transaction_ends.append(
            TransactionEnd(shown, count - messages, tables, line_no, _transaction_key(shown))
        )

    @staticmethod
    def _lsn(text: str, line_no: int) -> int:
        if text.isdigit():
            return int(text)
        try:
            return parse_lsn(text)
        except ValueError as exc:
            raise ChangeLogError(line_no, f"source.lsn: {exc}") from None

    def _decoders(self, table: str, schema: Any, line_no: int) -> Mapping[str, Decode]:
        decoders = TABLE_DECODERS.get(table)
        if decoders is None:
            raise ChangeLogError(
                line_no,
                f"table {table!r} is not one of the hospital tables ({', '.join(TABLE_NAMES)}) "
                f"nor a scenario's ({', '.join(SCENARIO_TABLE_SCHEMAS)})",
            )
        if schema is None:
            return decoders
        fields = _row_fields(schema)
        if not fields:
            return decoders
        cache_key = (table, fields)
        cached = self._schema_decoders.get(cache_key)
        if cached is None:
            cached = {
                name: schema_decoder(
                    {"name": fname, "type": ftype, "parameters": {"scale": scale}},
                    decoders.get(name),
                )
                for name, fname, ftype, scale in fields
            }
            self._schema_decoders[cache_key] = cached
        return cached

    def _lock_epoch_unit(self, row: dict[str, Any], decoders: Mapping[str, Decode]) -> None:
        for column, value in row.items():
            if type(value) is int and decoders.get(column) is decode_timestamp:
                unit = unit_of(value)
                if unit is not None:
                    self._epoch = unit
                    return

    def _row(
        self, row: Any, decoders: Mapping[str, Decode], table: str, which: str, line_no: int
    ) -> dict[str, Any] | None:
        """Decode ``row`` in place: the dict is fresh from json.loads and ours to change."""
        if row is None:
            return None
        if type(row) is not dict:
            raise ChangeLogError(line_no, f"'{which}' is not a JSON object")
        if self._epoch is None:
            # Epoch timestamps without a schema: the unit is the connector's setting, the
            # same for the whole log, so it is learnt once from a recent value rather than
            # guessed from each value's magnitude (wrong for 1966-1973 and after 5138).
            self._lock_epoch_unit(row, decoders)
        epoch = self._epoch
        get, micros_get, days_get = decoders.get, MICROS_CACHE.get, DAYS_CACHE.get
        for column, value in row.items():
            decode = get(column)
            # Strings and integers that need no conversion are left as they are (hot path).
            if decode is None:  # a column the hospital schema lacks (added by the user)
                if value == UNAVAILABLE_PLACEHOLDER:
                    row[column] = UNAVAILABLE
                elif type(value) is dict and value.keys() == _VARIABLE_SCALE_KEYS:
                    # A NUMERIC without precision under Debezium's default
                    # decimal.handling.mode=precise: {"scale": s, "value": base64 bytes}.
                    try:
                        row[column] = decode_variable_scale_decimal(value)
                    except BadValue as exc:
                        raise ChangeLogError(
                            line_no, f"{table}.{column} in '{which}': {_clipped(value)} - {exc}"
                        ) from None
                continue
            if (
                value is None
                or (
                    decode is decode_varchar
                    and type(value) is str
                    and value != UNAVAILABLE_PLACEHOLDER
                )
                or (decode is decode_bigint and type(value) is int)
            ):
                continue
            if type(value) is int:
                if decode is decode_timestamp and value in DBZ_EPOCH_INFINITE:
                    row[column] = DBZ_EPOCH_INFINITE[value]
                    continue
                if decode is decode_timestamp and epoch is not None:
                    if epoch is micros_to_datetime:  # Debezium's default, inlined
                        moment = micros_get(value)
                        if moment is not None:
                            row[column] = moment
                            continue
                    try:
                        row[column] = epoch(value)
                    except OverflowError:
                        raise ChangeLogError(
                            line_no,
                            f"{table}.{column} in '{which}': {_clipped(value)} - epoch timestamp "
                            "out of range",
                        ) from None
                    continue
                # Debezium's default encodings, inlined: epoch microseconds and days.
                if decode is decode_timestamp and MICRO_FROM <= value < NANO_FROM:
                    moment = micros_get(value)
                    row[column] = micros_to_datetime(value) if moment is None else moment
                    continue
                if decode is decode_date and DAYS_MIN <= value <= DAYS_MAX:
                    day = days_get(value)
                    row[column] = days_to_date(value) if day is None else day
                    continue
            try:
                # Replacing the value of an existing key is safe while iterating.
                row[column] = decode(value)
            except BadValue as exc:
                raise ChangeLogError(
                    line_no, f"{table}.{column} in '{which}': {_clipped(value)} - {exc}"
                ) from None
        return row


_SKIP: Final = object()
_VARIABLE_SCALE_KEYS: Final = frozenset({"scale", "value"})
_DEBEZIUM_INTERNAL: Final = "io.debezium."


def _transaction_key(value: Any) -> str:
    """A transaction's id without Debezium's LSN suffix.

    Debezium's PostgreSQL connector writes ``txid:lsn``, and the LSN is not the same in a
    transaction's BEGIN, its events and its END (seen with Debezium 3.6.3): the txid alone
    names the transaction.
    """
    text = str(value)
    head, sep, tail = text.partition(":")
    return head if sep and head.isdigit() and tail.isdigit() else text


def parse_changelog(lines: Iterable[str], stats: ParseStats | None = None) -> Iterator[ChangeEvent]:
    """Yield the events of a change log; pass ``stats`` to learn tombstones and skips."""
    parser = ChangeLogParser()
    if stats is not None:
        parser.stats = stats
    yield from parser.parse(lines)


def parse_line(line: str, line_no: int = 1) -> ChangeEvent | None:
    """Parse one line on its own (no schema cache shared with other lines)."""
    return ChangeLogParser().parse_line(line, line_no)
