"""Scenario occurrences mixed into a worker's stream (``stream --scenarios``).

The stream does not know the scenarios (they are a layer beside it): the caller hands
:func:`~hospital_sim.stream.run.run_stream` a :class:`Mix`, which names them and runs one
occurrence. This module decides when (one draw per stream transaction from the worker's
seeded rng, so ``--seed`` repeats it), runs the occurrence on the worker's second
connection (autocommit, each scenario transaction its own), serialises the scenarios that
must not overlap, settles a commit whose answer was lost, and counts every committed row.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import psycopg

from hospital_sim.db.connect import Conn
from hospital_sim.stream.failures import ErrorLog, Flag
from hospital_sim.stream.session import Backoff, Session, Stopped
from hospital_sim.stream.stats import Resolution, Stats

log = logging.getLogger(__name__)

# Advisory lock class of the scenarios: object 0 serial ones run, 1 the report, 2 the DDL.
SCENARIO_LOCK = 0x48535343  # "HSSC"
LOCK_TIMEOUT = "1s"
"""A scenario's wait for a lock: DDL queued behind a long transaction would otherwise
hold every worker behind it; past this the occurrence fails (counted) and the stream
goes on."""


@dataclass
class Occurred:
    """What one occurrence committed, and how it ended."""

    rows: Counter[tuple[str, str]] = field(default_factory=Counter)
    transactions: int = 0
    doubt: tuple[str, Mapping[tuple[str, str], int], int] | None = None
    """(xid, rows, transactions) of the transaction whose commit's answer was lost."""
    error: psycopg.Error | None = None
    gone: set[int] = field(default_factory=set)
    """Patients it deleted or renumbered (in the worker's partition)."""
    erased: set[int] = field(default_factory=set)
    """Those of ``gone`` deleted with all their rows by a committed transaction."""
    moved: dict[int, int] = field(default_factory=dict)
    """Those of ``gone`` renumbered by a committed transaction: old id → new id."""


Scope = tuple[int, int]
"""(modulus, residue): the worker's partition of the patients."""

Forget = Callable[[int, bool, int | None], None]
"""Told of a patient a scenario deleted or renumbered: whether its rows went with it
(erased), and its new id when they live on under one (renumbered)."""


class Mix(Protocol):
    """The scenarios a stream mixes in, one occurrence per ``every`` transactions."""

    @property
    def names(self) -> tuple[str, ...]: ...
    @property
    def every(self) -> float: ...
    def prepare(self, conn: Conn) -> None:
        """Every scenario's DDL, once before the stream starts."""

    def serial(self, name: str) -> bool:
        """Whether at most one occurrence of ``name`` (and the other serial ones) may run."""

    def background(self, name: str) -> bool:
        """Whether ``name`` runs beside the worker (on its own connection and thread)."""

    def occur(
        self, name: str, conn: Conn, rng: random.Random, stop: Flag, scope: Scope | None
    ) -> Occurred:
        """One occurrence on ``conn`` (autocommit), picking patients in ``scope`` only;
        never raises a database error."""


def prepare(mix: Mix, conn: Conn) -> None:
    """The scenarios' DDL, once, before a stream starts; two streams starting together
    (shards) take turns, so neither trips on the table the other is creating."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (SCENARIO_LOCK, 2))
        mix.prepare(conn)


class Interludes:
    """One worker's scenario occurrences: when, where, and their counts."""

    def __init__(
        self,
        mix: Mix,
        *,
        conninfo: str,
        rng: random.Random,
        stats: Stats,
        stop: Flag,
        errors: ErrorLog,
        backoff: Backoff,
        name: str,
        scope: Scope,
        forget: Forget,
    ) -> None:
        self.mix = mix
        self.scope = scope
        self.forget = forget
        self.rng = rng
        self.stats = stats
        self.stop = stop
        self.errors = errors
        self.name = name
        self.conninfo = conninfo
        self.backoff = backoff
        self.session = self._session(stats, name)
        self._chance = 1.0 / mix.every
        self._background: Background | None = None

    def _session(self, stats: Stats, name: str) -> Session:
        return Session(
            self.conninfo,
            stats=stats,
            stop=self.stop,
            errors=self.errors,
            backoff=self.backoff,
            name=f"hospital-sim {name}",
            autocommit=True,
        )

    def draw(self) -> str | None:
        """Before planning a stream transaction: the scenario to run first, if one occurs.

        One draw per transaction, from the worker's rng, so a seed repeats the sequence.
        """
        self.reap()
        if self.rng.random() >= self._chance:
            return None
        return self.mix.names[self.rng.randrange(len(self.mix.names))]

    def occur(self, name: str) -> None:
        """Run one occurrence of ``name`` (nothing of the worker's is in flight)."""
        if self.mix.background(name):
            self._start_background(name)
            return
        done = run_occurrence(
            self.mix, name, self.session, self.rng, self.stats, self.errors, self.scope
        )
        for patient in sorted(done.gone):  # deleted or renumbered: no longer a candidate
            self.forget(patient, patient in done.erased, done.moved.get(patient))

    def _start_background(self, name: str) -> None:
        # Drawn whether or not it starts: the worker's sequence must not depend on timing.
        rng = random.Random(self.rng.getrandbits(64))
        if self._background is not None:
            self.stats.scenarios_skipped[name] += 1  # this worker's report is still open
            return
        stats = Stats()
        session = self._session(stats, f"{self.name} {name}")
        self._background = Background(self, name, session, rng, stats)
        self._background.start()

    def reap(self, *, wait: bool = False) -> None:
        """Count the background occurrence once it has ended (``wait``: end it now)."""
        job = self._background
        if job is None:
            return
        if wait:
            job.ending.set()
            job.join()
        if not job.is_alive():
            self.stats.merge(job.stats)
            self._background = None

    def close(self) -> None:
        self.reap(wait=True)
        self.session.close()


class Background(threading.Thread):
    """An occurrence that keeps a transaction open (the long report) beside the worker."""

    def __init__(
        self,
        owner: Interludes,
        name: str,
        session: Session,
        rng: random.Random,
        stats: Stats,
    ) -> None:
        super().__init__(name=f"{owner.name} {name}", daemon=True)
        self.owner = owner
        self.scenario = name
        self.session = session
        self.rng = rng
        self.stats = stats  # its own: merged by the worker once this thread has ended
        self.ending = threading.Event()

    def run(self) -> None:
        try:
            flag = EitherFlag(self.owner.stop, self.ending)
            run_occurrence(self.owner.mix, self.scenario, self.session, self.rng, self.stats,
                self.owner.errors, self.owner.scope, stop=flag)  # fmt: skip
        finally:
            self.session.close()


class EitherFlag:
    """Set when either flag is: the run's stop or the worker's end."""

    def __init__(self, first: Flag, second: threading.Event) -> None:
        self.first = first
        self.second = second

    def is_set(self) -> bool:
        return self.first.is_set() or self.second.is_set()

    def set(self) -> None:
        self.second.set()

    def wait(self, timeout: float | None = None) -> bool:
        step = 0.2
        left = timeout
        while not self.is_set():
            if left is not None and left <= 0:
                return False
            self.second.wait(step if left is None else min(step, left))
            if left is not None:
                left -= step
        return True


def run_occurrence(
    mix: Mix,
    name: str,
    session: Session,
    rng: random.Random,
    stats: Stats,
    errors: ErrorLog,
    scope: Scope | None,
    *,
    stop: Flag | None = None,
) -> Occurred:
    """Run one occurrence of ``name`` on ``session``'s connection and count it in
    ``stats``; returns it (the patients it deleted or renumbered among the rest)."""
    try:
        conn = session.connection()
    except Stopped:
        return Occurred()
    serial = mix.serial(name) or mix.background(name)
    try:
        if serial and not _try_lock(conn, 1 if mix.background(name) else 0):
            stats.scenarios_skipped[name] += 1  # another one runs: this draw is skipped
            return Occurred()
        conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    except psycopg.Error as exc:
        _failed(name, exc, session, stats, errors)
        return Occurred()
    try:
        occurred = mix.occur(name, conn, rng, stop or session.stop, scope)
    finally:
        if serial:
            _unlock(conn, 1 if mix.background(name) else 0)
    stats.scenario_rows.update(occurred.rows)
    stats.scenario_transactions += occurred.transactions
    if occurred.doubt is not None:
        xid, rows, transactions = occurred.doubt
        session.drop()
        if session.resolve(xid) is Resolution.COMMITTED:
            stats.scenario_rows.update(rows)
            stats.scenario_transactions += transactions
    if occurred.error is None:
        stats.scenarios[name] += 1
    else:
        _failed(name, occurred.error, session, stats, errors)
    return occurred


def _failed(
    name: str, exc: psycopg.Error, session: Session, stats: Stats, errors: ErrorLog
) -> None:
    stats.scenarios_failed[f"{name} {exc.sqlstate or type(exc).__name__}"] += 1
    if session.conn is not None and session.conn.broken:
        session.drop()
    errors.report(
        f"scenario:{name}:{exc.sqlstate}",
        f"scenario {name} stopped short (SQLSTATE {exc.sqlstate or 'none'}: "
        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}); "
        "what it committed is counted, the stream goes on",
    )


def _try_lock(conn: Conn, key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (SCENARIO_LOCK, key)).fetchone()
    return bool(row and row[0])


def _unlock(conn: Conn, key: int) -> None:
    with contextlib.suppress(psycopg.Error):  # a lost connection took the lock with it
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (SCENARIO_LOCK, key))
