"""What the event-level proof reports: per-table and snapshot counts, examples, the verdict.

:mod:`~hospital_sim.cdc.verify.proof` matches the events and fills these in; this module
only holds and shows them (text lines and JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from hospital_sim.cdc.lsn import format_lsn
from hospital_sim.cdc.values import UNAVAILABLE

__all__ = [
    "ABSENT",
    "KINDS",
    "EventExample",
    "ProofReport",
    "SnapshotProof",
    "TableProof",
]


KINDS: Final = ("lost", "duplicated", "reordered", "altered", "unexpected")
_SHOWN_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class EventExample:
    """One event behind a count: where it is and what it is."""

    kind: str
    table: str
    key: int | None
    op: str
    lsn: int | None
    tx_id: int | None
    line: int | None
    """Line in the log (None for a lost event)."""
    reference_line: int | None = None
    columns: tuple[tuple[str, Any, Any], ...] = ()
    """For an altered event: (column, reference value, log value)."""
    snapshot: bool = False

    def describe(self) -> str:
        where = []
        if self.lsn is not None:
            where.append(f"lsn {format_lsn(self.lsn)}")
        if self.tx_id is not None:
            where.append(f"txid {self.tx_id}")
        if self.line is not None:
            where.append(f"log line {self.line}")
        if self.reference_line is not None:
            where.append(f"reference line {self.reference_line}")
        what = "snapshot row" if self.snapshot else f"op {self.op!r}"
        key = "" if self.key is None else f" id {self.key}"
        text = f"{self.kind}: {self.table}{key} {what} ({', '.join(where)})"
        for column, want, got in self.columns:
            text += f"; {column} reference {_shown(want)}, log {_shown(got)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "table": self.table,
            "id": self.key,
            "op": self.op,
            "lsn": None if self.lsn is None else format_lsn(self.lsn),
            "txid": self.tx_id,
            "line": self.line,
            "reference_line": self.reference_line,
        }
        if self.columns:
            out["columns"] = [
                {"column": c, "reference": _jsonable(w), "log": _jsonable(g)}
                for c, w, g in self.columns
            ]
        return out


def _clip(text: str) -> str:
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}... ({len(text)} characters)"


def _shown(value: Any) -> str:
    if value is None:
        return "NULL"
    if value is ABSENT:
        return "<absent>"
    if value is UNAVAILABLE:
        return "__debezium_unavailable_value"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} characters)"
    return _clip(repr(value))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _clip(value)
    return _shown(value)


@dataclass(slots=True)
class TableProof:
    """Change events of one table: the reference's, the log's, and what did not match."""

    table: str
    reference: int = 0
    """Reference change events in the window."""
    events: int = 0
    """Change events in the log."""
    matched: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    altered: int = 0
    unexpected: int = 0


@dataclass(slots=True)
class SnapshotProof:
    """Snapshot reads of one table: each row the reference had at the snapshot, once."""

    table: str
    expected: int = 0
    rows: int = 0
    """Snapshot events in the log."""
    lost: int = 0
    duplicated: int = 0
    altered: int = 0
    unexpected: int = 0


_COUNTS: Final = ("lost", "duplicated", "reordered", "altered", "unexpected")
_SNAPSHOT_COUNTS: Final = ("lost", "duplicated", "altered", "unexpected")


@dataclass(slots=True)
class ProofReport:
    """The outcome of :func:`prove_events`."""

    tables: list[TableProof]
    snapshot: list[SnapshotProof]
    examples: dict[str, list[EventExample]]
    allow_redelivery: bool = False
    log_events: int = 0
    reference_events: int = 0
    snapshot_lsn: int | None = None
    before_window: int = 0
    """Reference change events before the window (not judged)."""
    placeholders: int = 0
    """Values of the log's change events that were Debezium's unavailable placeholder."""
    notes: list[str] = field(default_factory=list)

    def total(self, kind: str) -> int:
        stream = sum(int(getattr(t, kind)) for t in self.tables)
        if kind in _SNAPSHOT_COUNTS:
            stream += sum(int(getattr(s, kind)) for s in self.snapshot)
        return stream

    @property
    def ok(self) -> bool:
        """Nothing lost, altered, reordered or unexpected; duplicates only if allowed."""
        failing = ("lost", "reordered", "altered", "unexpected")
        if any(self.total(kind) for kind in failing):
            return False
        return self.allow_redelivery or not self.total("duplicated")

    def summary(self) -> str:
        parts = [f"{self.total(k)} {k}" for k in KINDS if self.total(k)]
        if not parts:
            return "EVENTS IDENTICAL: every reference event exactly once, in order"
        if self.ok:
            return f"EVENTS IDENTICAL (redelivery allowed): {', '.join(parts)}"
        return f"EVENTS DIFFER: {', '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (for ``--json``)."""
        return {
            "identical": self.ok,
            "allow_redelivery": self.allow_redelivery,
            "log_events": self.log_events,
            "reference_events": self.reference_events,
            "snapshot_lsn": None if self.snapshot_lsn is None else format_lsn(self.snapshot_lsn),
            "reference_events_before_window": self.before_window,
            "placeholders": self.placeholders,
            "totals": {k: self.total(k) for k in KINDS},
            "tables": {
                t.table: {
                    "reference": t.reference,
                    "events": t.events,
                    "matched": t.matched,
                    **{k: getattr(t, k) for k in _COUNTS},
                }
                for t in self.tables
            },
            "snapshot": {
                s.table: {
                    "expected": s.expected,
                    "rows": s.rows,
                    **{k: getattr(s, k) for k in _SNAPSHOT_COUNTS},
                }
                for s in self.snapshot
            },
            "examples": {k: [e.to_dict() for e in v] for k, v in self.examples.items() if v},
            "notes": list(self.notes),
        }

    def render(self) -> str:
        """The human report: per-table counts, examples, the verdict on the last line."""
        out = [
            f"event-level proof: {self.log_events} log events against "
            f"{self.reference_events} reference events"
        ]
        if self.snapshot_lsn is not None:
            out.append(f"log snapshot at {format_lsn(self.snapshot_lsn)}")
        if self.before_window:
            out.append(
                f"{self.before_window} reference events come before the log's first "
                "transaction and are not judged"
            )
        header = ("table", "reference", "matched", *_COUNTS)
        rows = [header] + [
            (t.table, str(t.reference), str(t.matched), *(str(getattr(t, k)) for k in _COUNTS))
            for t in self.tables
        ]
        rows.append(
            (
                "total",
                str(sum(t.reference for t in self.tables)),
                str(sum(t.matched for t in self.tables)),
                *(str(sum(getattr(t, k) for t in self.tables)) for k in _COUNTS),
            )
        )
        out += _grid(rows)
        if self.snapshot:
            out.append("")
            snap_header = ("snapshot", "expected", "rows", *_SNAPSHOT_COUNTS)
            out += _grid(
                [snap_header]
                + [
                    (
                        s.table,
                        str(s.expected),
                        str(s.rows),
                        *(str(getattr(s, k)) for k in _SNAPSHOT_COUNTS),
                    )
                    for s in self.snapshot
                ]
            )
        examples = [e for k in KINDS for e in self.examples.get(k, ())]
        if examples:
            out.append("")
            out += [e.describe() for e in examples]
        out += self.notes
        out.append("")
        out.append(self.summary())
        return "\n".join(out)


def _grid(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]


class _Absent:
    __slots__ = ()


ABSENT: Final = _Absent()
