"""Decoder for PostgreSQL's ``pgoutput`` logical replication protocol.

Follows "Logical Replication Message Formats" in the PostgreSQL documentation for
protocol version 1, plus the version 2 additions (the sub-transaction xid carried by
messages of a streamed transaction, and the Stream Start/Stop/Commit/Abort messages).
Integers are big-endian; strings are NUL-terminated UTF-8.

:func:`decode_message` is a pure function from one message to a dataclass (the message
types live in :mod:`~hospital_sim.cdc.capture.messages`). A
:class:`Decoder` keeps the Relation cache that turns Insert/Update/Delete/Truncate into
:class:`RowChange` records with column names, the transaction's xid and commit time.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from hospital_sim.cdc.capture.messages import (
    Begin,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Message,
    Origin,
    PgOutputError,
    Relation,
    RelationColumn,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    TupleData,
    TupleValue,
    TypeInfo,
    Update,
)
from hospital_sim.cdc.values import PG_EPOCH_OFFSET_US, UNAVAILABLE

__all__ = ["Decoder", "RowChange", "decode_message"]


_I8 = struct.Struct(">b")
_U8 = struct.Struct(">B")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")


class _Reader:
    __slots__ = ("data", "kind", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 1
        self.kind = chr(data[0])

    def _unpack(self, fmt: struct.Struct) -> int:
        try:
            (value,) = fmt.unpack_from(self.data, self.pos)
        except struct.error:
            raise self.error(f"truncated: need {fmt.size} more bytes") from None
        self.pos += fmt.size
        return int(value)

    def i8(self) -> int:
        return self._unpack(_I8)

    def u8(self) -> int:
        return self._unpack(_U8)

    def i16(self) -> int:
        return self._unpack(_I16)

    def i32(self) -> int:
        return self._unpack(_I32)

    def u32(self) -> int:
        return self._unpack(_U32)

    def u64(self) -> int:
        return self._unpack(_U64)

    def i64(self) -> int:
        return self._unpack(_I64)

    def byte(self) -> str:
        return chr(self.u8())

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.error(f"truncated: need {n} bytes of data")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return bytes(chunk)

    def string(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise self.error("string without its NUL terminator")
        text = self.data[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return text

    def tuple_data(self) -> TupleData:
        values: list[TupleValue] = []
        for _ in range(self.i16()):
            kind = self.byte()
            if kind == "t":
                values.append(self.raw(self.i32()).decode("utf-8"))
            elif kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNAVAILABLE)
            elif kind == "b":
                values.append(self.raw(self.i32()))
            else:
                raise self.error(f"unknown tuple column kind {kind!r}")
        return tuple(values)

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise self.error(f"{len(self.data) - self.pos} unexpected trailing bytes")

    def error(self, why: str) -> PgOutputError:
        return PgOutputError(f"pgoutput {self.kind!r} message at byte {self.pos}: {why}")


def _xid(r: _Reader, streamed: bool) -> int | None:
    return r.u32() if streamed else None


def _begin(r: _Reader, streamed: bool) -> Begin:
    return Begin(final_lsn=r.u64(), commit_ts=r.i64(), xid=r.u32())


def _commit(r: _Reader, streamed: bool) -> Commit:
    return Commit(flags=r.u8(), commit_lsn=r.u64(), end_lsn=r.u64(), commit_ts=r.i64())


def _origin(r: _Reader, streamed: bool) -> Origin:
    return Origin(commit_lsn=r.u64(), name=r.string())


def _relation(r: _Reader, streamed: bool) -> Relation:
    xid = _xid(r, streamed)
    relation_id, namespace, name, ident = r.u32(), r.string(), r.string(), r.byte()
    columns = tuple(
        RelationColumn(flags=r.u8(), name=r.string(), type_oid=r.u32(), type_modifier=r.i32())
        for _ in range(r.i16())
    )
    return Relation(relation_id, namespace, name, ident, columns, xid)


def _type(r: _Reader, streamed: bool) -> TypeInfo:
    xid = _xid(r, streamed)
    return TypeInfo(type_id=r.u32(), namespace=r.string(), name=r.string(), xid=xid)


def _expect(r: _Reader, allowed: str) -> str:
    tag = r.byte()
    if tag not in allowed:
        raise r.error(f"expected one of {' '.join(allowed)}, got {tag!r}")
    return tag


def _insert(r: _Reader, streamed: bool) -> Insert:
    xid = _xid(r, streamed)
    relation_id = r.u32()
    _expect(r, "N")
    return Insert(relation_id, r.tuple_data(), xid)


def _update(r: _Reader, streamed: bool) -> Update:
    xid = _xid(r, streamed)
    relation_id = r.u32()
    tag = _expect(r, "KON")
    old_kind: Literal["K", "O"] | None = None
    old = None
    if tag != "N":
        old_kind = "K" if tag == "K" else "O"
        old = r.tuple_data()
        _expect(r, "N")
    return Update(relation_id, old_kind, old, r.tuple_data(), xid)


def _delete(r: _Reader, streamed: bool) -> Delete:
    xid = _xid(r, streamed)
    relation_id = r.u32()
    old_kind: Literal["K", "O"] = "K" if _expect(r, "KO") == "K" else "O"
    return Delete(relation_id, old_kind, r.tuple_data(), xid)


def _truncate(r: _Reader, streamed: bool) -> Truncate:
    xid = _xid(r, streamed)
    count, options = r.u32(), r.u8()
    return Truncate(tuple(r.u32() for _ in range(count)), options, xid)


def _message(r: _Reader, streamed: bool) -> LogicalMessage:
    xid = _xid(r, streamed)
    flags, lsn, prefix = r.u8(), r.u64(), r.string()
    return LogicalMessage(bool(flags & 1), lsn, prefix, r.raw(r.i32()), xid)


def _stream_start(r: _Reader, streamed: bool) -> StreamStart:
    return StreamStart(xid=r.u32(), first_segment=r.u8() == 1)


def _stream_stop(r: _Reader, streamed: bool) -> StreamStop:
    return StreamStop()


def _stream_commit(r: _Reader, streamed: bool) -> StreamCommit:
    return StreamCommit(r.u32(), r.u8(), r.u64(), r.u64(), r.i64())


def _stream_abort(r: _Reader, streamed: bool) -> StreamAbort:
    xid, subxid = r.u32(), r.u32()
    if r.pos == len(r.data):
        return StreamAbort(xid, subxid)
    # Protocol version 4 (parallel apply) appends the abort LSN and time.
    return StreamAbort(xid, subxid, r.u64(), r.i64())


_DECODERS: Final[Mapping[str, Callable[[_Reader, bool], Message]]] = {
    "B": _begin,
    "C": _commit,
    "O": _origin,
    "R": _relation,
    "Y": _type,
    "I": _insert,
    "U": _update,
    "D": _delete,
    "T": _truncate,
    "M": _message,
    "S": _stream_start,
    "E": _stream_stop,
    "c": _stream_commit,
    "A": _stream_abort,
}


def decode_message(data: bytes | bytearray | memoryview, *, streamed: bool = False) -> Message:
    """Decode one pgoutput message.

    ``streamed`` says the message sits between Stream Start and Stream Stop, where
    protocol version 2 puts a transaction id after the message type byte.
    """
    data = bytes(data)
    if not data:
        raise PgOutputError("empty pgoutput message")
    r = _Reader(data)
    decoder = _DECODERS.get(r.kind)
    if decoder is None:
        raise PgOutputError(
            f"unsupported pgoutput message type {r.kind!r}; "
            f"this decoder knows {' '.join(sorted(_DECODERS))}"
        )
    message = decoder(r, streamed)
    r.finish()
    return message


@dataclass(frozen=True, slots=True)
class RowChange:
    """One row change with column names: op ``c`` insert, ``u`` update, ``d`` delete,
    ``t`` truncate (no rows)."""

    op: Literal["c", "u", "d", "t"]
    relation: Relation
    before: dict[str, TupleValue] | None
    after: dict[str, TupleValue] | None
    xid: int | None
    lsn: int | None
    commit_ts: int | None
    """Commit time in microseconds since 2000-01-01 UTC, when known."""
    before_is_key: bool = False
    """``before`` holds only the replica identity columns (the others are None)."""
    commit_lsn: int | None = None
    """LSN of the transaction's commit record (Begin's final LSN), when known."""

    @property
    def schema(self) -> str:
        return self.relation.namespace

    @property
    def table(self) -> str:
        return self.relation.name

    @property
    def commit_ts_ms(self) -> int | None:
        """Commit time in milliseconds since the Unix epoch."""
        if self.commit_ts is None:
            return None
        return (self.commit_ts + PG_EPOCH_OFFSET_US) // 1000


@dataclass(slots=True)
class _Transaction:
    xid: int | None
    commit_ts: int | None
    changes: list[tuple[int | None, RowChange]] = field(default_factory=list)
    commit_lsn: int | None = None


class Decoder:
    """Decodes a stream of pgoutput messages into :class:`RowChange` records.

    Feed messages in order with :meth:`decode`. Changes of an ordinary transaction come
    out as they arrive, stamped with the xid and commit time of its Begin. Changes of a
    streamed transaction (protocol version 2) are held until its Stream Commit and
    dropped on Stream Abort.
    """

    def __init__(self) -> None:
        self._relations: dict[int, Relation] = {}
        self._types: dict[int, TypeInfo] = {}
        self._current: _Transaction | None = None
        self._streams: dict[int, _Transaction] = {}
        self._stream_xid: int | None = None

    @property
    def relations(self) -> Mapping[int, Relation]:
        return self._relations

    @property
    def types(self) -> Mapping[int, TypeInfo]:
        return self._types

    def decode(
        self, data: bytes | bytearray | memoryview, lsn: int | None = None
    ) -> list[RowChange]:
        """Decode one message; return the row changes it completes (often none).

        ``lsn`` is the message's position in the WAL, as given by the replication
        stream or ``pg_logical_slot_get_binary_changes``; it becomes each change's lsn.
        """
        message = decode_message(data, streamed=self._stream_xid is not None)
        if isinstance(message, Insert | Update | Delete | Truncate):
            return self._change(message, lsn)
        if isinstance(message, Relation):
            self._relations[message.relation_id] = message
        elif isinstance(message, TypeInfo):
            self._types[message.type_id] = message
        elif isinstance(message, Begin):
            self._current = _Transaction(
                message.xid, message.commit_ts, commit_lsn=message.final_lsn
            )
        elif isinstance(message, Commit):
            self._current = None
        elif isinstance(message, StreamStart):
            self._stream_xid = message.xid
            self._streams.setdefault(message.xid, _Transaction(message.xid, None))
        elif isinstance(message, StreamStop):
            self._stream_xid = None
        elif isinstance(message, StreamCommit):
            return self._stream_commit(message)
        elif isinstance(message, StreamAbort):
            self._stream_abort(message)
        return []

    def _change(
        self, message: Insert | Update | Delete | Truncate, lsn: int | None
    ) -> list[RowChange]:
        if self._stream_xid is not None:
            tx = self._streams[self._stream_xid]
            tx.changes.extend((message.xid, c) for c in self._rows(message, tx, lsn))
            return []
        tx = self._current or _Transaction(None, None)
        return self._rows(message, tx, lsn)

    def _rows(
        self, message: Insert | Update | Delete | Truncate, tx: _Transaction, lsn: int | None
    ) -> list[RowChange]:
        if isinstance(message, Truncate):
            return [
                RowChange(
                    "t",
                    self._relation(rid),
                    None,
                    None,
                    tx.xid,
                    lsn,
                    tx.commit_ts,
                    commit_lsn=tx.commit_lsn,
                )
                for rid in message.relation_ids
            ]
        rel = self._relation(message.relation_id)
        if isinstance(message, Insert):
            after = self._row(rel, message.new)
            return [
                RowChange(
                    "c", rel, None, after, tx.xid, lsn, tx.commit_ts, commit_lsn=tx.commit_lsn
                )
            ]
        if isinstance(message, Update):
            before = None if message.old is None else self._row(rel, message.old)
            after = self._row(rel, message.new)
            key_only = message.old_kind == "K"
            return [
                RowChange(
                    "u", rel, before, after, tx.xid, lsn, tx.commit_ts, key_only, tx.commit_lsn
                )
            ]
        before = self._row(rel, message.old)
        key_only = message.old_kind == "K"
        return [
            RowChange("d", rel, before, None, tx.xid, lsn, tx.commit_ts, key_only, tx.commit_lsn)
        ]

    def _relation(self, relation_id: int) -> Relation:
        rel = self._relations.get(relation_id)
        if rel is None:
            raise PgOutputError(
                f"change for relation id {relation_id} before any Relation message for it; "
                "decode the stream from the start of a transaction"
            )
        return rel

    @staticmethod
    def _row(rel: Relation, values: TupleData) -> dict[str, TupleValue]:
        if len(values) != len(rel.columns):
            raise PgOutputError(
                f"tuple for {rel.namespace}.{rel.name} has {len(values)} columns, "
                f"its Relation message has {len(rel.columns)}"
            )
        return dict(zip(rel.column_names, values, strict=True))

    def _stream_commit(self, message: StreamCommit) -> list[RowChange]:
        tx = self._streams.pop(message.xid, None)
        if tx is None:
            return []
        return [
            RowChange(
                c.op,
                c.relation,
                c.before,
                c.after,
                message.xid,
                c.lsn,
                message.commit_ts,
                c.before_is_key,
                message.commit_lsn,
            )
            for _, c in tx.changes
        ]

    def _stream_abort(self, message: StreamAbort) -> None:
        if message.subxid == message.xid:
            self._streams.pop(message.xid, None)
            return
        tx = self._streams.get(message.xid)
        if tx is not None:
            tx.changes = [(x, c) for x, c in tx.changes if x != message.subxid]
