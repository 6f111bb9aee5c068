"""In-memory candidate pools: the rows a worker may update, picked in O(1).

Each worker owns the pools of its partition (patients with ``id % M == r``, and the
appointments, exams and stays of those patients), so no other worker touches them and no
lock is needed. Pools are loaded once with one query each and then kept current by the
operations. They are bounded: past ``cap`` entries an addition replaces a random entry,
which only means the evicted row is no longer a candidate, so memory stays flat however
long the stream runs.
"""

from __future__ import annotations

import datetime as dt
import random
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

from hospital_sim.db.connect import Conn
from hospital_sim.generate.addresses import ADDRESS_UF

V = TypeVar("V")

POOL_CAP = 10_000
"""Entries per pool per worker. A random sample of this size is plenty of candidates, and
the cap is what keeps a long stream's memory flat: at full speed the pools fill within a
few minutes, then a new entry replaces a random old one."""


class Pool(Generic[V]):
    """A keyed set with O(1) add, remove and uniform random pick (list + swap-remove)."""

    def __init__(self, rng: random.Random, *, cap: int = POOL_CAP) -> None:
        self._rng = rng
        self._cap = cap
        self._keys: list[int] = []
        self._pos: dict[int, int] = {}
        self._values: dict[int, V] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def _any_index(self) -> int:
        """A uniformly random index into the keys (one ``random()``: the pools are far
        smaller than 2**53, so the draw's bias is nil, and it is several times cheaper
        than ``randrange`` on the stream's hot path)."""
        return int(self._rng.random() * len(self._keys))

    def limit(self, cap: int) -> None:
        """Hold at most ``cap`` entries from now on (random ones leave when over it)."""
        self._cap = max(1, cap)
        while len(self._keys) > self._cap:
            self.remove(self._keys[self._any_index()])

    def __contains__(self, key: int) -> bool:
        return key in self._pos

    def ordered_keys(self) -> list[int]:
        """The keys in ascending order (a copy)."""
        return sorted(self._keys)

    def get(self, key: int) -> V:
        return self._values[key]

    def add(self, key: int, value: V) -> None:
        """Add (or update) ``key``; when full, a random entry makes room."""
        if key in self._pos:
            self._values[key] = value
            return
        if len(self._keys) >= self._cap:
            self.remove(self._keys[self._any_index()])
        self._pos[key] = len(self._keys)
        self._keys.append(key)
        self._values[key] = value

    def remove(self, key: int) -> V:
        i = self._pos.pop(key)
        last = self._keys.pop()
        if last != key:
            self._keys[i] = last
            self._pos[last] = i
        return self._values.pop(key)

    def discard(self, key: int) -> None:
        if key in self._pos:
            self.remove(key)

    def pick(self) -> tuple[int, V] | None:
        """A uniformly random entry, left in place; None when empty."""
        if not self._keys:
            return None
        key = self._keys[self._any_index()]
        return key, self._values[key]


@dataclass(frozen=True)
class Partition:
    """The patients a worker owns: ``id % modulus == residue``."""

    residue: int
    modulus: int

    @classmethod
    def of(cls, *, shard: int, shards: int, worker: int, workers: int) -> Partition:
        return cls(residue=shard + shards * worker, modulus=shards * workers)

    def owns(self, paciente_id: int) -> bool:
        return paciente_id % self.modulus == self.residue


@dataclass(slots=True)
class Patient:
    """What operations need to know about a patient, kept in the patient pools."""

    registered: dt.datetime
    last_discharge: dt.datetime | None = None
    uf: str | None = None  # state of the address: new phones and addresses stay in it
    # The current phone and address: a change always writes a different one, so whether
    # it committed can be read back from the row.
    telefone: str | None = None
    endereco: str | None = None
    # The patient's plan enrolments (pacientes_convenios id, convenio id): a change of
    # plan moves one to a plan the patient is not in yet, so each pair stays unique.
    plans: tuple[tuple[int, int], ...] = ()


class Booking(NamedTuple):
    """An appointment still to happen: when, and with which doctor."""

    when: dt.datetime
    medico_id: int


_EPOCH = dt.datetime(1970, 1, 1)
_ONE_US = dt.timedelta(microseconds=1)


class Bookings:
    """Every appointment of a partition still booked, as the hospital model loads them:
    ids, moments (microseconds) and doctors in flat arrays, 24 bytes each where a
    :class:`Booking` in a pool costs a few hundred, kept in id order until the model has
    them in its own calendar. At ``--scale 7500`` a partition may hold millions."""

    def __init__(self) -> None:
        self._ids = array("q")
        self._moments = array("q")
        self._medicos = array("q")

    def add(self, cid: int, when: dt.datetime, medico_id: int) -> None:
        self._ids.append(cid)
        self._moments.append((when - _EPOCH) // _ONE_US)
        self._medicos.append(medico_id)

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[tuple[int, Booking]]:
        """(id, booking) in the order they were added."""
        for cid, moment, medico in zip(self._ids, self._moments, self._medicos, strict=True):
            yield cid, Booking(_EPOCH + dt.timedelta(microseconds=moment), medico)


@dataclass(slots=True)
class Stay:
    paciente_id: int
    admitted: dt.datetime
    quarto: str | None = None  # the current room: a transfer always writes another one


@dataclass
class WorkerPools:
    """Everything a worker picks from. ``medicos`` and ``convenios`` are global and read-only."""

    rng: random.Random
    patients: Pool[Patient] = field(init=False)
    not_admitted: Pool[Patient] = field(init=False)
    scheduled: Pool[Booking] = field(init=False)
    pending_exams: Pool[str] = field(init=False)
    # Exams the stream requested whose sample is not collected yet: (tipo, requested at).
    uncollected: Pool[tuple[str, dt.datetime]] = field(init=False)
    stays: Pool[Stay] = field(init=False)
    medicos: list[int] = field(default_factory=list)
    convenios: list[int] = field(default_factory=list)
    # Told of each patient forgotten: erased (its rows went with it), or its new id (its
    # rows live on under it). The hospital model follows its lifecycles with them.
    watchers: list[Callable[[int, bool, int | None], None]] = field(default_factory=list)
    cap: int = POOL_CAP  # entries per pool
    booked: Bookings | None = None
    """Every booking of the partition (``load_pools(every_booking=True)``), until the
    hospital model takes them; ``scheduled`` is then empty."""

    def __post_init__(self) -> None:
        self.patients = Pool(self.rng, cap=self.cap)
        self.not_admitted = Pool(self.rng, cap=self.cap)
        self.scheduled = Pool(self.rng, cap=self.cap)
        self.pending_exams = Pool(self.rng, cap=self.cap)
        self.uncollected = Pool(self.rng, cap=self.cap)
        self.stays = Pool(self.rng, cap=self.cap)

    def forget(self, paciente_id: int, erased: bool = False, moved_to: int | None = None) -> None:
        """A patient deleted or renumbered (by a scenario) is no longer a candidate;
        ``erased``: deleted with all its rows; ``moved_to``: renumbered to this id."""
        self.patients.discard(paciente_id)
        self.not_admitted.discard(paciente_id)
        for watcher in self.watchers:
            watcher(paciente_id, erased, moved_to)

    def sizes(self) -> dict[str, int]:
        return {
            "patients": len(self.patients),
            "not_admitted": len(self.not_admitted),
            "scheduled": len(self.scheduled),
            "pending_exams": len(self.pending_exams),
            "uncollected": len(self.uncollected),
            "stays": len(self.stays),
            "booked": 0 if self.booked is None else len(self.booked),
        }


# One query per pool, restricted to the partition. A pool holds at most POOL_CAP rows,
# so the server draws them: the rows with the lowest hash of their id (the same sample on
# every run), at most ``cap`` of them, sent in id order, so the load (and so the seeded
# sequence of picks) is the same on every run. The worker receives at most ``cap`` rows
# per pool however big the tables (the server still scans the partition once per pool);
# below the cap every row is a candidate.
_PATIENTS = """
SELECT p.id, p.data_cadastro, coalesce(s.admitted, false), s.last_discharge,
       substring(p.endereco FROM %(uf)s::text), p.telefone, p.endereco, c.links, c.plans
FROM (
    SELECT id, data_cadastro, telefone, endereco FROM pacientes
    WHERE id %% %(m)s = %(r)s ORDER BY hashint8(id), id LIMIT %(cap)s
) p
LEFT JOIN LATERAL (
    SELECT bool_or(data_saida IS NULL) AS admitted, max(data_saida) AS last_discharge
    FROM internacoes WHERE paciente_id = p.id
) s ON true
LEFT JOIN LATERAL (
    SELECT array_agg(id ORDER BY id) AS links, array_agg(convenio_id ORDER BY id) AS plans
    FROM pacientes_convenios WHERE paciente_id = p.id
) c ON true
ORDER BY p.id
"""


def _sampled(columns: str, table: str, where: str) -> str:
    return (
        f"SELECT * FROM (SELECT {columns} FROM {table} WHERE {where}"
        " AND paciente_id %% %(m)s = %(r)s ORDER BY hashint8(id), id LIMIT %(cap)s) s"
        " ORDER BY id"
    )


_SCHEDULED = _sampled("id, data, medico_id", "consultas", "status = 'agendada'")
_PENDING = _sampled("id, tipo_exame", "exames", "resultado IS NULL")
_STAYS = _sampled("id, paciente_id, data_entrada, quarto", "internacoes", "data_saida IS NULL")


def _rows(conn: Conn, query: str, part: Partition, cap: int | None) -> Iterable[tuple[object, ...]]:
    """The rows of a pool's query; ``cap`` None: every row (LIMIT NULL), read through a
    server-side cursor a batch at a time, so the client never holds them all at once."""
    params = {"m": part.modulus, "r": part.residue, "uf": ADDRESS_UF, "cap": cap}
    if cap is None:
        # WITH HOLD: it may be opened outside a transaction too (an autocommit connection).
        with conn.cursor(name="hospital_sim_pool", withhold=True) as named:
            named.itersize = UNCAPPED_BATCH
            named.execute(query, params)
            yield from named
        return
    with conn.cursor() as cur:
        cur.execute(query, params)
        yield from cur


UNCAPPED_BATCH = 10_000  # rows per round trip when a pool's query has no cap


def load_pools(
    conn: Conn,
    part: Partition,
    rng: random.Random,
    *,
    every_booking: bool = False,
    cap: int = POOL_CAP,
) -> WorkerPools:
    """Read the partition's candidates (one query per pool, at most ``cap`` rows each,
    drawn by the server) and the global lookups.

    ``every_booking``: all the partition's appointments still booked, not a sample of
    ``cap`` (the hospital model closes each one, and counts them in the agendas).
    """
    pools = WorkerPools(rng, cap=cap)
    for pid, registered, admitted, last, uf, phone, address, links, plans in _rows(
        conn, _PATIENTS, part, cap
    ):
        assert isinstance(pid, int) and isinstance(registered, dt.datetime)
        patient = Patient(
            registered,
            last if isinstance(last, dt.datetime) else None,
            uf if isinstance(uf, str) else None,
            phone if isinstance(phone, str) else None,
            address if isinstance(address, str) else None,
            tuple(zip(links, plans, strict=True))
            if isinstance(links, list) and isinstance(plans, list)
            else (),
        )
        pools.patients.add(pid, patient)
        if not admitted:
            pools.not_admitted.add(pid, patient)
    booked = pools.booked = Bookings() if every_booking else None
    for cid, data, medico in _rows(conn, _SCHEDULED, part, None if every_booking else cap):
        assert isinstance(cid, int) and isinstance(data, dt.datetime)
        assert isinstance(medico, int)
        if booked is not None:
            booked.add(cid, data, medico)
        else:
            pools.scheduled.add(cid, Booking(data, medico))
    for eid, tipo in _rows(conn, _PENDING, part, cap):
        assert isinstance(eid, int)
        pools.pending_exams.add(eid, str(tipo))
    for sid, pid, admitted_at, quarto in _rows(conn, _STAYS, part, cap):
        assert isinstance(sid, int) and isinstance(pid, int)
        assert isinstance(admitted_at, dt.datetime)
        pools.stays.add(sid, Stay(pid, admitted_at, quarto if isinstance(quarto, str) else None))
    pools.medicos = [int(str(r[0])) for r in conn.execute("SELECT id FROM medicos ORDER BY id")]
    pools.convenios = [int(str(r[0])) for r in conn.execute("SELECT id FROM convenios ORDER BY id")]
    conn.rollback()
    return pools
