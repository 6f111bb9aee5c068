"""What each operation does: the SQL it sends, the values, and how it moves the pools.

An operation is planned entirely in memory (explicit ids, values from the RowFactory),
so a transaction can be sent in one pipeline and replayed with the same values after
a retryable error. Planning applies the pool changes at once and records how to undo
them, for when the transaction is abandoned.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from psycopg import sql

from hospital_sim.generate import TABLE_COLUMNS, RowFactory
from hospital_sim.generate.addresses import address_uf
from hospital_sim.generate.documents import carteira_for_id
from hospital_sim.generate.stays import pick_room
from hospital_sim.stream.pools import Booking, Partition, Patient, Stay, WorkerPools
from hospital_sim.stream.prepared import PreparedConnection
from hospital_sim.stream.workload import FALLBACK, Kind
from hospital_sim.tables import Row

Clock = Callable[[], dt.datetime]
"""What the stream stamps its rows with: naive UTC now, or a caller's own time. It travels
to worker processes with the run's plan, so it must be picklable (a module-level function
or a :class:`FixedClock`, not a lambda)."""


@dataclass(frozen=True)
class FixedClock:
    """A clock stopped at ``moment``, for reproducible rows; picklable."""

    moment: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.moment


LINK_PROBABILITY = 0.6  # share of new patients who join an insurance plan right away
ONE_US = dt.timedelta(microseconds=1)


def _insert_sql(table: str) -> bytes:
    cols = TABLE_COLUMNS[table]
    return (
        sql.SQL("INSERT INTO {} ({}) VALUES ({})")
        .format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols)),
        )
        .as_bytes(None)
    )


INSERT_SQL: dict[str, bytes] = {
    t: _insert_sql(t)
    for t in ("pacientes", "pacientes_convenios", "consultas", "exames", "internacoes")
}
PROBE_ID: dict[str, bytes] = {
    t: sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(sql.Identifier(t)).as_bytes(None)
    for t in INSERT_SQL
}
UPDATE_TELEFONE = b"UPDATE pacientes SET telefone = %s WHERE id = %s"
PROBE_TELEFONE = b"SELECT 1 FROM pacientes WHERE telefone = %s AND id = %s"
UPDATE_ENDERECO = b"UPDATE pacientes SET endereco = %s WHERE id = %s"
PROBE_ENDERECO = b"SELECT 1 FROM pacientes WHERE endereco = %s AND id = %s"
UPDATE_CONSULTA = b"UPDATE consultas SET status = %s, data = %s WHERE id = %s"
PROBE_CONSULTA = b"SELECT 1 FROM consultas WHERE status = %s AND data = %s AND id = %s"
UPDATE_EXAME = b"UPDATE exames SET resultado = %s WHERE id = %s"
PROBE_EXAME = b"SELECT 1 FROM exames WHERE resultado = %s AND id = %s"
UPDATE_COLETA = b"UPDATE exames SET data = %s WHERE id = %s"
PROBE_COLETA = b"SELECT 1 FROM exames WHERE data = %s AND id = %s"
UPDATE_QUARTO = b"UPDATE internacoes SET quarto = %s WHERE id = %s"
PROBE_QUARTO = b"SELECT 1 FROM internacoes WHERE quarto = %s AND id = %s"
UPDATE_INTERNACAO = b"UPDATE internacoes SET data_saida = %s WHERE id = %s"
PROBE_INTERNACAO = b"SELECT 1 FROM internacoes WHERE data_saida = %s AND id = %s"
UPDATE_PLANO = (
    b"UPDATE pacientes_convenios SET convenio_id = %s, numero_carteira = %s, validade = %s"
    b" WHERE id = %s"
)
PROBE_PLANO = (
    b"SELECT 1 FROM pacientes_convenios WHERE convenio_id = %s AND numero_carteira = %s"
    b" AND validade = %s AND id = %s"
)


def _col(table: str, name: str) -> int:
    return TABLE_COLUMNS[table].index(name)


CADASTRO = _col("pacientes", "data_cadastro")
TELEFONE = _col("pacientes", "telefone")
ENDERECO = _col("pacientes", "endereco")
CONSULTA_DATA = _col("consultas", "data")
TIPO_EXAME = _col("exames", "tipo_exame")
EXAME_DATA = _col("exames", "data")
ENTRADA = _col("internacoes", "data_entrada")
QUARTO = _col("internacoes", "quarto")


def _after(floor: dt.datetime, now: dt.datetime) -> dt.datetime:
    """A moment strictly after ``floor``, not after ``now`` when there is room."""
    return floor + (now - floor) / 2 if now > floor else floor + ONE_US


class Statement(NamedTuple):
    """One row written. ``probe`` is a query that finds a row only if this statement's
    change is in the database: an INSERT's id, or the values an UPDATE sets on a row
    whose previous values were different (an appointment leaving 'agendada', a result or
    a discharge filling a NULL, a phone or address other than the patient's current
    one). It lets a one-statement transaction run without BEGIN and COMMIT and still be
    resolved exactly when the connection drops before its answer arrives. Without a
    probe, a statement runs in an explicit transaction resolved by its xid."""

    query: bytes
    params: Row
    table: str
    kind: Kind
    probe: bytes | None = None

    @property
    def probe_params(self) -> Row:
        """An INSERT is found by its id (the row's first value); an UPDATE by its values."""
        return self.params[:1] if self.kind == "INSERT" else self.params

    @property
    def key(self) -> int:
        """The row's id: an INSERT's first value, an UPDATE's ``WHERE id = %s``."""
        value = self.params[0] if self.kind == "INSERT" else self.params[-1]
        assert isinstance(value, int)
        return value

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns this statement writes: every column of an INSERT, an UPDATE's SET list."""
        return TABLE_COLUMNS[self.table] if self.kind == "INSERT" else set_columns(self.query)

    @property
    def values(self) -> Row:
        """The values written to :attr:`columns`, in the same order."""
        return self.params if self.kind == "INSERT" else self.params[:-1]


@functools.cache
def set_columns(query: bytes) -> tuple[str, ...]:
    """The columns of ``UPDATE t SET a = %s, b = %s WHERE ...``, read once per query."""
    found = re.search(rb"\bSET (.+?) WHERE\b", query)
    if found is None:
        raise ValueError(f"not an UPDATE ... SET ... WHERE statement: {query!r}")
    return tuple(part.split(b"=")[0].strip().decode() for part in found.group(1).split(b","))


@dataclass(slots=True)
class Event:
    """One planned operation: its statements and how to undo its pool changes."""

    wanted: str
    op: str
    statements: list[Statement] = field(default_factory=list)
    undo: list[Callable[[], None]] = field(default_factory=list)

    def rollback_pools(self) -> None:
        for action in reversed(self.undo):
            action()
        self.undo.clear()


class IdReserve:
    """Ids reserved in blocks from each table's BIGSERIAL sequence.

    Patient ids are kept only when they fall in the worker's partition, so the natural
    keys derived from them (CPF) never collide across workers, shards or runs.
    """

    def __init__(self, part: Partition, *, block: int = 50) -> None:
        self.part = part
        self.block = block  # ids per round trip: BATCH_SIZE
        self.need = 1  # ids each table must have before a transaction is planned
        self._free: dict[str, list[int]] = {}
        self._short = True  # some table may have fewer than ``need`` ids left

    def take(self, table: str) -> int:
        free = self._free[table]
        taken = free.pop()
        if len(free) < self.need:
            self._short = True
        return taken

    def short(self) -> bool:
        """Whether ``ensure`` has ids to reserve before the next transaction is planned."""
        return self._short

    def ensure(self, wire: PreparedConnection) -> None:
        """Make sure every table has ``self.need`` ids left (one round trip per refill)."""
        need = self.need
        for table in INSERT_SQL:
            free = self._free.setdefault(table, [])
            if len(free) >= need:
                continue
            count = max(need, self.block)
            modulus = self.part.modulus if table == "pacientes" else 1
            residue = self.part.residue if table == "pacientes" else 0
            # nextval is not transactional: one statement, no transaction around it.
            result = wire.execute(RESERVE_IDS, (table, count * modulus, modulus, residue))
            self.add(table, [int(result.get_value(i, 0) or 0) for i in range(result.ntuples)])
        self._short = False

    def add(self, table: str, ids: list[int]) -> None:
        """Ids reserved for ``table``, to be taken in ascending order after those held."""
        free = self._free.setdefault(table, [])
        free[:0] = ids[::-1]  # pop() takes from the end
        self._short = any(len(self._free.get(t, ())) < self.need for t in INSERT_SQL)


RESERVE_IDS = (
    b"SELECT n FROM (SELECT nextval(pg_get_serial_sequence(%s, 'id')) AS n"
    b" FROM generate_series(1, %s)) s WHERE mod(n, %s) = %s ORDER BY n"
)


class Operations:
    """Plans operations for one worker: its rng, row factory, pools and ids."""

    def __init__(
        self, *, rng: random.Random, pools: WorkerPools, ids: IdReserve, clock: Clock
    ) -> None:
        self.rng = rng
        self.rows = RowFactory(rng)
        self.pools = pools
        self.ids = ids
        self.clock = clock
        self._builders: dict[str, Callable[[Event, dt.datetime], bool]] = {
            "insert_paciente": self._insert_paciente,
            "insert_consulta": self._insert_consulta,
            "insert_exame": self._insert_exame,
            "insert_internacao": self._insert_internacao,
            "update_paciente": self._update_paciente,
            "update_consulta": self._update_consulta,
            "update_exame": self._update_exame,
            "update_internacao": self._update_internacao,
            "collect_exame": self._collect_exame,
            "transfer_internacao": self._transfer_internacao,
            "change_convenio": self._change_convenio,
        }

    def plan(self, wanted: str) -> Event:
        """Plan ``wanted``, or the first fallback that has a candidate row."""
        now = self.clock()
        op = wanted
        while True:
            event = Event(wanted=wanted, op=op)
            if self._builders[op](event, now):
                return event
            op = FALLBACK[op]

    def arrival(self, op: str, event: Event) -> bool:
        """Plan insert ``op`` into ``event``; False when it has no candidate row."""
        return self._builders[op](event, self.clock())

    # -- inserts -----------------------------------------------------------------------
    def _add(self, event: Event, table: str, row: Row) -> None:
        event.statements.append(Statement(INSERT_SQL[table], row, table, "INSERT", PROBE_ID[table]))

    def _insert_paciente(self, event: Event, now: dt.datetime) -> bool:
        pid = self.ids.take("pacientes")
        row = self.rows.paciente(pid, now)
        self._add(event, "pacientes", row)
        registered = row[CADASTRO]
        assert isinstance(registered, dt.datetime)
        address = row[ENDERECO]
        assert isinstance(address, str)
        phone = row[TELEFONE]
        assert isinstance(phone, str)
        patient = Patient(registered, uf=address_uf(address), telefone=phone, endereco=address)
        self.pools.patients.add(pid, patient)
        self.pools.not_admitted.add(pid, patient)
        event.undo.append(lambda: self.pools.patients.discard(pid))
        event.undo.append(lambda: self.pools.not_admitted.discard(pid))
        if self.pools.convenios and self.rng.random() < LINK_PROBABILITY:
            link = self.ids.take("pacientes_convenios")
            plan = self.rng.choice(self.pools.convenios)
            self._add(
                event, "pacientes_convenios", self.rows.paciente_convenio(link, pid, plan, now)
            )
            patient.plans = ((link, plan),)
        return True

    def _insert_consulta(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.patients.pick()
        if picked is None or not self.pools.medicos:
            return False
        pid, patient = picked
        cid = self.ids.take("consultas")
        medico = self.rng.choice(self.pools.medicos)
        row = self.rows.consulta(cid, pid, medico, patient.registered, now)
        self._add(event, "consultas", row)
        when = row[CONSULTA_DATA]
        assert isinstance(when, dt.datetime)
        self.pools.scheduled.add(cid, Booking(when, medico))
        event.undo.append(lambda: self.pools.scheduled.discard(cid))
        return True

    def book_consulta(self, event: Event, pid: int, medico: int, when: dt.datetime) -> int:
        """Book patient ``pid`` with ``medico`` at ``when`` (the caller keeps track of
        it: the candidate pool of the mix is left alone); returns the appointment's id."""
        cid = self.ids.take("consultas")
        self._add(event, "consultas", self.rows.consulta_at(cid, pid, medico, when))
        return cid

    def _insert_exame(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.patients.pick()
        if picked is None:
            return False
        pid, patient = picked
        eid = self.ids.take("exames")
        row = self.rows.exame(eid, pid, patient.registered, now)
        taken = row[EXAME_DATA]
        assert isinstance(taken, dt.datetime)
        if taken <= patient.registered < now:
            # The rule is "after registration": a patient registered this very second
            # has an exam taken between then and now.
            row = (*row[:EXAME_DATA], _after(patient.registered, now), *row[EXAME_DATA + 1 :])
        self._add(event, "exames", row)
        self.pools.pending_exams.add(eid, str(row[TIPO_EXAME]))
        event.undo.append(lambda: self.pools.pending_exams.discard(eid))
        self.pools.uncollected.add(eid, (str(row[TIPO_EXAME]), row[EXAME_DATA]))
        event.undo.append(lambda: self.pools.uncollected.discard(eid))
        return True

    def _insert_internacao(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.not_admitted.pick()
        if picked is None:
            return False
        pid, patient = picked
        sid = self.ids.take("internacoes")
        row = list(self.rows.internacao(sid, pid, now))
        # A stay starts after registration and after the patient's last discharge.
        floor = max(patient.registered, patient.last_discharge or patient.registered)
        admitted = row[ENTRADA]
        assert isinstance(admitted, dt.datetime)
        if admitted <= floor:
            admitted = _after(floor, now)
            row[ENTRADA] = admitted
        self._add(event, "internacoes", tuple(row))
        self.pools.not_admitted.remove(pid)
        quarto = row[QUARTO]
        self.pools.stays.add(sid, Stay(pid, admitted, quarto if isinstance(quarto, str) else None))
        event.undo.append(lambda: self.pools.stays.discard(sid))
        event.undo.append(lambda: self.pools.not_admitted.add(pid, patient))
        return True

    # -- updates -----------------------------------------------------------------------
    def _update(
        self, event: Event, query: bytes, params: Row, table: str, probe: bytes | None = None
    ) -> None:
        # A probe takes the UPDATE's parameters in the same order (new values, then id).
        event.statements.append(Statement(query, params, table, "UPDATE", probe))

    def _update_paciente(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.patients.pick()
        if picked is None:
            return False
        pid, patient = picked
        # A new phone or a move stays in the patient's state, so the phone's area code
        # keeps matching the address; it is never the value the patient already has.
        if self.rng.random() < 0.5:
            column, query, probe_query = "telefone", UPDATE_TELEFONE, PROBE_TELEFONE

            def draw() -> str:
                return self.rows.telefone(patient.uf)
        else:
            column, query, probe_query = "endereco", UPDATE_ENDERECO, PROBE_ENDERECO

            def draw() -> str:
                return self.rows.endereco(patient.uf)[0]

        current: str | None = getattr(patient, column)
        value = self._different(draw, current)
        probe = probe_query if current not in (None, value) else None
        self._update(event, query, (value, pid), "pacientes", probe)
        setattr(patient, column, value)
        event.undo.append(functools.partial(setattr, patient, column, current))
        return True

    @staticmethod
    def _different(draw: Callable[[], str], current: str | None) -> str:
        """A value from ``draw`` other than ``current`` (a few tries; they never all tie)."""
        value = draw()
        for _ in range(8):
            if value != current:
                break
            value = draw()
        return value

    def _update_consulta(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.scheduled.pick()
        if picked is None:
            return False
        cid, booking = picked
        self.close_consulta(event, cid, booking.when, self.rows.consulta_outcome(), now)
        return True

    def close_consulta(
        self, event: Event, cid: int, when: dt.datetime, outcome: str, now: dt.datetime
    ) -> None:
        """Close appointment ``cid`` (booked for ``when``) as ``outcome``."""
        # A visit that happened (or was cancelled, or missed) is in the past: one still
        # scheduled for later is closed now.
        closed_at = min(when, now)
        params = (outcome, closed_at, cid)
        self._update(event, UPDATE_CONSULTA, params, "consultas", PROBE_CONSULTA)
        if cid in self.pools.scheduled:
            booking = self.pools.scheduled.remove(cid)
            event.undo.append(lambda: self.pools.scheduled.add(cid, booking))

    def _update_exame(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.pending_exams.pick()
        if picked is None:
            return False
        self.result_exame(event, *picked)
        return True

    def result_exame(self, event: Event, eid: int, tipo: str) -> None:
        """Set the result of pending exam ``eid`` of type ``tipo``."""
        params = (self.rows.exame_resultado(tipo), eid)
        self._update(event, UPDATE_EXAME, params, "exames", PROBE_EXAME)
        if eid in self.pools.pending_exams:
            self.pools.pending_exams.remove(eid)
            event.undo.append(lambda: self.pools.pending_exams.add(eid, tipo))

    def _collect_exame(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.uncollected.pick()
        if picked is None:
            return False
        self.collect_exame(event, picked[0], picked[1][1], now)
        return True

    def collect_exame(
        self, event: Event, eid: int, requested: dt.datetime, now: dt.datetime
    ) -> None:
        """Record exam ``eid``'s sample as collected: its ``data`` moves from the request
        to the collection, strictly later (so the probe tells the two apart)."""
        collected = _after(requested, now)
        self._update(event, UPDATE_COLETA, (collected, eid), "exames", PROBE_COLETA)
        if eid in self.pools.uncollected:
            value = self.pools.uncollected.remove(eid)
            event.undo.append(lambda: self.pools.uncollected.add(eid, value))

    def _transfer_internacao(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.stays.pick()
        if picked is None:
            return False
        self.transfer(event, *picked)
        return True

    def transfer(self, event: Event, sid: int, stay: Stay) -> None:
        """Move stay ``sid`` to another room (never the one it is in)."""
        current = stay.quarto
        quarto = self._different(lambda: pick_room(self.rng), current)
        probe = PROBE_QUARTO if current not in (None, quarto) else None
        self._update(event, UPDATE_QUARTO, (quarto, sid), "internacoes", probe)
        stay.quarto = quarto
        event.undo.append(functools.partial(setattr, stay, "quarto", current))

    def _update_internacao(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.stays.pick()
        if picked is None:
            return False
        self.discharge(event, *picked, now)
        return True

    def discharge(self, event: Event, sid: int, stay: Stay, now: dt.datetime) -> None:
        """Discharge stay ``sid``: the patient may be admitted again afterwards."""
        discharged = max(self.rows.discharge_time(stay.admitted, now), stay.admitted)
        params = (discharged, sid)
        self._update(event, UPDATE_INTERNACAO, params, "internacoes", PROBE_INTERNACAO)
        if sid in self.pools.stays:
            self.pools.stays.remove(sid)
            event.undo.append(lambda: self.pools.stays.add(sid, stay))
        patient = (
            self.pools.patients.get(stay.paciente_id)
            if stay.paciente_id in self.pools.patients
            else None
        )
        if patient is not None:
            previous = patient.last_discharge
            patient.last_discharge = discharged
            self.pools.not_admitted.add(stay.paciente_id, patient)

            def restore() -> None:
                patient.last_discharge = previous
                self.pools.not_admitted.discard(stay.paciente_id)

            event.undo.append(restore)

    # -- plans -------------------------------------------------------------------------
    def _change_convenio(self, event: Event, now: dt.datetime) -> bool:
        picked = self.pools.patients.pick()
        return picked is not None and self.change_plan(event, *picked, now)

    def change_plan(self, event: Event, pid: int, patient: Patient, now: dt.datetime) -> bool:
        """Move one of the patient's enrolments to a plan they are not in yet, with a new
        card (number and validity); False when the patient has no enrolment or is in
        every plan already."""
        held = {plan for _link, plan in patient.plans}
        others = [c for c in self.pools.convenios if c not in held]  # rare: a list is fine
        if not held or not others:
            return False
        plan = self.rng.choice(others)
        n = self.rng.randrange(len(patient.plans))
        link = patient.plans[n][0]
        # The new card's number is that of a fresh enrolment id (the sequence skips it).
        card = carteira_for_id(self.ids.take("pacientes_convenios"))
        params = (plan, card, self.rows.card_validity(now), link)
        self._update(event, UPDATE_PLANO, params, "pacientes_convenios", PROBE_PLANO)
        previous = patient.plans
        patient.plans = (*previous[:n], (link, plan), *previous[n + 1 :])
        event.undo.append(functools.partial(setattr, patient, "plans", previous))
        return True
