"""What a scenario is: a hospital event, declared with the CDC behaviour it exercises.

A scenario is data, not a class hierarchy: its name, what happens in the hospital, what
it does to the rows, which CDC behaviour that exercises and which connector settings
decide what a pipeline sees, plus two functions: ``prepare`` (idempotent DDL the scenario
needs, run once before its first occurrence) and ``apply`` (one occurrence, in one or
more transactions, recording every row it changed).

Every random draw goes through the ``random.Random`` handed in, and candidate rows are
found by key order from a drawn starting point, so a seed and a database state give the
same changes.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, LiteralString

from psycopg import sql

from hospital_sim.db.connect import Conn
from hospital_sim.generate.documents import cpf_check_digits

__all__ = ["Changes", "Conn", "Scenario", "new_cpf", "pick_id", "transaction"]

OPS: Final = ("insert", "update", "delete", "truncate")


@dataclass
class Changes:
    """Rows changed per (table, op), and committed transactions, by the occurrences so far.

    Inside :func:`transaction` the rows are staged: they count once the commit returns.
    When the connection is lost with a transaction open, ``doubt`` keeps its id and its
    staged rows, so a caller can ask the server whether it committed and count them then.
    """

    rows: Counter[tuple[str, str]] = field(default_factory=Counter)
    transactions: int = 0
    scope: tuple[int, int] | None = None
    """(modulus, residue): patients are picked only among ``id % modulus == residue``, the
    stream worker's own partition (None: any patient)."""
    gone: set[int] = field(default_factory=set)
    """Patients the occurrence deleted or renumbered: a stream worker forgets them."""
    erased: set[int] = field(default_factory=set)
    """Those of ``gone`` deleted with all their rows, by a transaction that committed."""
    moved: dict[int, int] = field(default_factory=dict)
    """Those of ``gone`` renumbered by a transaction that committed: old id → new id (the
    rows live on under the new id)."""
    doubt: tuple[str, Changes] | None = None
    _staged: Changes | None = field(default=None, init=False, repr=False)

    def add(self, table: str, op: str, n: int = 1) -> None:
        if self._staged is not None:
            self._staged.add(table, op, n)
        elif n > 0:
            self.rows[(table, op)] += n

    def merge(self, other: Changes) -> None:
        """Count ``other``'s rows and transactions as committed."""
        self.rows.update(other.rows)
        self.transactions += other.transactions

    def total(self) -> int:
        return sum(self.rows.values())


@contextmanager
def transaction(
    conn: Conn, changes: Changes, *, isolation: LiteralString | None = None
) -> Iterator[None]:
    """One transaction of an occurrence: rows added inside count once it commits.

    ``isolation`` (e.g. "REPEATABLE READ") is set before anything else runs in it. The
    transaction's id is read next (``pg_current_xact_id()``): when the connection
    drops before the commit's answer, ``changes.doubt`` holds it with the staged rows.
    """
    staged = Changes(transactions=1)
    changes._staged = staged
    xid = ""
    try:
        with conn.transaction():
            if isolation is not None:
                conn.execute(sql.SQL("SET TRANSACTION ISOLATION LEVEL {}").format(
                    sql.SQL(isolation)))  # fmt: skip
            row = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
            xid = "" if row is None else str(row[0])
            yield
    except BaseException:
        if xid and (conn.broken or conn.closed):
            changes.doubt = (xid, staged)
        raise
    finally:
        changes._staged = None
    changes.merge(staged)


Apply = Callable[[Conn, random.Random, Changes], None]


def _nothing(conn: Conn) -> None:
    return None


@dataclass(frozen=True)
class Scenario:
    """One hospital event that breaks CDC pipelines; see the module docstring."""

    name: str
    event: str
    """What happens in the hospital."""
    data: str
    """What it does to the rows and tables."""
    cdc: str
    """The CDC behaviour it exercises."""
    settings: str
    """The connector settings (and source settings) that decide what a pipeline sees."""
    apply: Apply
    prepare: Callable[[Conn], None] = _nothing
    extra_tables: tuple[str, ...] = ()
    """Tables the scenario creates itself (outside the 7 hospital tables)."""
    serial: bool = False
    """Mixed into a stream, at most one occurrence of a serial scenario runs at a time
    (it locks many rows or takes table locks); a draw that finds one running is skipped."""
    background: bool = False
    """Mixed into a stream, it runs beside the worker that drew it, on its own connection
    (it keeps a transaction open for minutes)."""


def pick_id(
    conn: Conn,
    rng: random.Random,
    table: str,
    where: LiteralString = "TRUE",
    *,
    scope: tuple[int, int] | None = None,
) -> int | None:
    """A row id of ``table`` matching ``where``: the first at or after a drawn id.

    Uses the primary key index (no scan, no ORDER BY random()); None when no row matches.
    ``scope`` (modulus, residue) keeps to ids with ``id % modulus == residue``.
    """
    ident = sql.Identifier(table)
    row = conn.execute(sql.SQL("SELECT min(id), max(id) FROM {}").format(ident)).fetchone()
    if row is None or row[0] is None:
        return None
    low, high = int(str(row[0])), int(str(row[1]))
    start = rng.randint(low, high)
    cond: sql.Composable = sql.SQL(where)
    if scope is not None:
        cond = sql.SQL("({}) AND id %% {} = {}").format(
            cond, sql.Literal(scope[0]), sql.Literal(scope[1])
        )
    for bound, order in ((sql.SQL(">="), sql.SQL("")), (sql.SQL("<"), sql.SQL("DESC"))):
        found = conn.execute(
            sql.SQL("SELECT id FROM {} WHERE id {} %s AND ({}) ORDER BY id {} LIMIT 1").format(
                ident, bound, cond, order
            ),
            (start,),
        ).fetchone()
        if found is not None:
            return int(str(found[0]))
    return None


def new_cpf(conn: Conn, rng: random.Random) -> str:
    """A valid CPF no patient holds yet."""
    while True:
        base = f"{rng.randrange(1, 10**9):09d}"
        digits = base + cpf_check_digits(base)
        cpf = f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
        if conn.execute("SELECT 1 FROM pacientes WHERE cpf = %s", (cpf,)).fetchone() is None:
            return cpf
