"""What the hospital model keeps of its appointments: the doctors' agendas and a calendar.

* :class:`Agenda` counts the appointments booked per doctor per day (the date of the row's
  ``data``) and refuses a booking past the doctor's clinic slots for that day. With several
  workers or shards, each partition holds its share of every doctor's slots, so together
  they never book a day past the cap.
* :class:`Calendar` holds the appointments due beyond the simulated day being run, by
  simulated day, in flat arrays (32 bytes each instead of a few hundred as live Python
  objects). Booking lead times run to weeks, so most appointments in flight sit here until
  their day comes; what the model holds as objects stays about one day's worth.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Iterator

from hospital_sim.stream.pools import Partition

EPOCH = dt.datetime(2000, 1, 1)
ONE_US = dt.timedelta(microseconds=1)


def slots_for(cap: int, medico_id: int, part: Partition) -> int:
    """This partition's share of ``cap`` daily slots of doctor ``medico_id``.

    Slot ``s`` of a doctor's day belongs to the partition ``(s + medico_id) % modulus``:
    the shares add up to ``cap`` for every doctor, and differ from doctor to doctor when
    the partitions outnumber the slots.
    """
    base, extra = divmod(cap, part.modulus)
    return base + (1 if (part.residue - medico_id) % part.modulus < extra else 0)


class Agenda:
    """Appointments booked per (doctor, day), each doctor's day capped at its slots."""

    def __init__(self, medicos: list[int], slots: list[int]) -> None:
        self._index = {medico: i for i, medico in enumerate(medicos)}
        self._slots = array("H", slots)
        self._days: dict[int, array[int]] = {}
        self._today = 0

    def free(self, medico_id: int, day: dt.date) -> bool:
        """Whether the doctor has a slot left on ``day`` (in this partition's share)."""
        i = self._index[medico_id]
        booked = self._days.get(day.toordinal())
        return (0 if booked is None else booked[i]) < self._slots[i]

    def book(self, medico_id: int, day: dt.date) -> None:
        """Take a slot (also past the cap: appointments already in the database count)."""
        ordinal = day.toordinal()
        booked = self._days.get(ordinal)
        if booked is None:
            booked = self._days[ordinal] = array("H", bytes(2 * len(self._slots)))
        i = self._index[medico_id]
        booked[i] = min(booked[i] + 1, 0xFFFF)

    def release(self, medico_id: int, day: dt.date) -> None:
        """Give a slot back: the appointment was closed (or its booking undone)."""
        booked = self._days.get(day.toordinal())
        i = self._index.get(medico_id)
        if booked is not None and i is not None and booked[i] > 0:
            booked[i] -= 1

    def forget_before(self, today: dt.date) -> None:
        """Drop the days before ``today``: nothing can be booked on them any more."""
        ordinal = today.toordinal()
        if ordinal != self._today:
            self._today = ordinal
            for day in [d for d in self._days if d < ordinal]:
                del self._days[day]

    def booked(self) -> dict[tuple[int, dt.date], int]:
        """The bookings held, by (doctor, day) (for tests and reports)."""
        medicos = list(self._index)
        return {
            (medicos[i], dt.date.fromordinal(day)): n
            for day, counts in self._days.items()
            for i, n in enumerate(counts)
            if n
        }

    def days(self) -> int:
        return len(self._days)


Due = tuple[float, int, int, dt.datetime]
"""An appointment from the calendar: (due on the simulated clock, id, doctor, slot)."""


class Calendar:
    """Appointments due on later simulated days, in flat arrays per day."""

    def __init__(self, day_seconds: float) -> None:
        self._day = day_seconds
        self._due: dict[int, array[float]] = {}
        self._rows: dict[int, array[int]] = {}  # id, doctor, slot in µs since EPOCH
        self._cancelled: set[int] = set()
        self._size = 0

    def __len__(self) -> int:
        return self._size - len(self._cancelled)

    def add(self, due: float, cid: int, medico_id: int, when: dt.datetime) -> None:
        day = int(due // self._day)
        if day not in self._due:
            self._due[day], self._rows[day] = array("d"), array("q")
        self._due[day].append(due)
        self._rows[day].extend((cid, medico_id, (when - EPOCH) // ONE_US))
        self._size += 1

    def cancel(self, cid: int) -> None:
        """Forget appointment ``cid`` (its booking was undone); it is skipped on its day."""
        self._cancelled.add(cid)

    def take(self, day: int) -> Iterator[Due]:
        """The appointments of simulated day ``day``, removed from the calendar."""
        due, rows = self._due.pop(day, None), self._rows.pop(day, None)
        if due is None or rows is None:
            return
        self._size -= len(due)
        for n, at in enumerate(due):
            cid, medico, us = rows[3 * n : 3 * n + 3]
            if cid in self._cancelled:
                self._cancelled.discard(cid)
                continue
            yield at, cid, medico, EPOCH + dt.timedelta(microseconds=us)
