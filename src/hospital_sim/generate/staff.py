"""Doctors and health plans: their rows, and which doctor a patient can be booked with."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.addresses import address_pools, draw_cities, draw_phones
from hospital_sim.generate.documents import cnpj_for_id, crm_for_id
from hospital_sim.generate.draw import pick
from hospital_sim.generate.people import draw_names
from hospital_sim.generate.places import CITIES
from hospital_sim.generate.vocab import (
    COBERTURA_ABRANGENCIA,
    COBERTURA_SEGMENTOS,
    CONVENIO_FORMATOS,
    CONVENIO_MARCAS,
    CONVENIO_TIPOS,
    ESPECIALIDADES,
)
from hospital_sim.tables import Row

FEMALE_DOCTOR_SHARE = 0.50  # CFM, Demografia Médica 2024: women are about half of doctors

# The two plans `init` creates as lookup rows: the public SUS and one private plan.
LOOKUP_CONVENIOS: tuple[Row, ...] = (
    (1, "SUS - Sistema Único de Saúde", cnpj_for_id(1), "publico", "Integral - Nacional"),
    (2, "Vida Plena Saúde", cnpj_for_id(2), "privado",
     "Ambulatorial + Hospitalar com obstetrícia - Nacional"),
)  # fmt: skip

_REGIONS = ("Sul", "Sudeste", "Nordeste", "Norte", "Centro-Oeste", "Paulista", "Mineira",
            "Fluminense", "Gaúcha", "Baiana", "Capixaba", "Paranaense")  # fmt: skip

_SPECIALTY_NAMES = np.array([s.name for s in ESPECIALIDADES], dtype=object)
_CLINIC_SHARE = np.array([s.clinic_share for s in ESPECIALIDADES], dtype=np.float64)
_SPECIALTY_WEIGHTS = np.array([s.weight for s in ESPECIALIDADES], dtype=np.float64)
# Age boundaries where some specialty starts or stops seeing a patient: within two
# boundaries every patient of a sex can see the same doctors.
_AGE_EDGES = np.array(
    sorted({s.min_age for s in ESPECIALIDADES} | {s.max_age + 1 for s in ESPECIALIDADES}),
    dtype=np.float64,
)


@dataclass(frozen=True)
class Staff:
    """Per-doctor arrays, indexed by ``id - first_id``."""

    first_id: int
    specialty: npt.NDArray[np.intp]  # index into ESPECIALIDADES
    city: npt.NDArray[np.intp]  # where the doctor holds the CRM
    female: npt.NDArray[np.bool_]
    birth_year: npt.NDArray[np.int64]
    _pools: dict[tuple[bool, int], tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]] = field(
        default_factory=dict
    )
    _rosters: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.specialty.size)

    def _roster(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
        """The doctors grouped by specialty, and where each specialty's group starts."""
        if not self._rosters:
            order = np.argsort(self.specialty, kind="stable").astype(np.intp)
            counts = np.bincount(self.specialty, minlength=len(ESPECIALIDADES))
            self._rosters.append((order, np.concatenate([[0], np.cumsum(counts)])))
        return self._rosters[0]

    def _pool(
        self, female: bool, age_class: int
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Specialties that see this kind of patient, with cumulative booking weights.

        A doctor's weight is their specialty's clinic share, so a specialty weighs that
        share times its doctors: drawing a specialty, then one of its doctors evenly, is
        a weighted draw over the doctors without a table as long as the staff.
        """
        key = (female, age_class)
        if key not in self._pools:
            age = _AGE_EDGES[age_class - 1] if age_class > 0 else 0.0
            fits = np.array(
                [
                    s.sex in (None, "F" if female else "M") and s.min_age <= age <= s.max_age
                    for s in ESPECIALIDADES
                ]
            )
            _, starts = self._roster()
            doctors = np.diff(starts).astype(np.float64)
            load = _CLINIC_SHARE * doctors
            weight = np.where(fits, load, 0.0)
            if weight.sum() == 0:  # tiny staff: nobody fits, book whoever holds a clinic
                weight = load
            if weight.sum() == 0:
                weight = doctors
            pool = np.flatnonzero(weight)
            self._pools[key] = (pool, np.cumsum(weight[pool]) / weight[pool].sum())
        return self._pools[key]

    def book(
        self,
        rng: np.random.Generator,
        female: npt.NDArray[np.bool_],
        age: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.intp]:
        """A doctor for each patient, whose specialty sees patients of that sex and age,
        in proportion to the time the specialty spends in the clinic."""
        age_class = np.searchsorted(_AGE_EDGES, age, side="right")
        order, starts = self._roster()
        doctor = np.empty(age.size, dtype=np.intp)
        for sex in (True, False):
            for cls in np.unique(age_class[female == sex]).tolist():
                rows = np.flatnonzero((female == sex) & (age_class == cls))
                pool, cum = self._pool(sex, cls)
                specialty = pool[pick(cum, rng.random(rows.size), pool.size - 1)]
                first, count = starts[specialty], starts[specialty + 1] - starts[specialty]
                nth = np.minimum((rng.random(rows.size) * count).astype(np.int64), count - 1)
                doctor[rows] = order[first + nth]
        return doctor


def build_staff(rng: np.random.Generator, n: int, first_id: int, anchor_year: int) -> Staff:
    """``n`` doctors: specialties as common as among Brazilian specialists, CRM states as
    populous as Brazilian states."""
    p = _SPECIALTY_WEIGHTS / _SPECIALTY_WEIGHTS.sum()
    return Staff(
        first_id=first_id,
        specialty=rng.choice(len(ESPECIALIDADES), size=n, p=p),
        city=draw_cities(rng, n),
        female=rng.random(n) < FEMALE_DOCTOR_SHARE,
        birth_year=anchor_year - rng.integers(27, 71, n),
    )


def doctor_rows(rng: np.random.Generator, staff: Staff, start: int, stop: int) -> list[Row]:
    """Rows of medicos for staff indexes start..stop-1."""
    idx = np.arange(start, stop, dtype=np.intp)
    ids = (idx + staff.first_id).tolist()
    city = staff.city[idx]
    crms = [crm_for_id(i, CITIES[c].uf) for i, c in zip(ids, city.tolist(), strict=True)]
    return list(
        zip(
            ids,
            draw_names(rng, staff.female[idx], staff.birth_year[idx]),
            crms,
            _SPECIALTY_NAMES[staff.specialty[idx]].tolist(),
            draw_phones(rng, address_pools().city_ddd[city]),
            strict=True,
        )
    )


def plan_rows(rng: np.random.Generator, first_id: int, n: int) -> list[Row]:
    """Rows of convenios with ids first_id..first_id+n-1; names never repeat a lookup's."""
    used = {row[1] for row in LOOKUP_CONVENIOS}
    tipos = CONVENIO_TIPOS.text_list(CONVENIO_TIPOS.sample(rng, n))
    segments = COBERTURA_SEGMENTOS.text_list(COBERTURA_SEGMENTOS.sample(rng, n))
    reaches = COBERTURA_ABRANGENCIA.text_list(COBERTURA_ABRANGENCIA.sample(rng, n))
    rows = []
    for offset, (tipo, segment, reach) in enumerate(zip(tipos, segments, reaches, strict=True)):
        name = _plan_name(rng, tipo, used)
        used.add(name)
        id_ = first_id + offset
        rows.append((id_, name, cnpj_for_id(id_), tipo, f"{segment} - {reach}"))
    return rows


def _plan_name(rng: np.random.Generator, tipo: str, used: set[str]) -> str:
    formats = CONVENIO_FORMATOS[tipo]
    name = ""
    for _ in range(3):
        city = CITIES[int(rng.integers(len(CITIES)))]
        name = formats[int(rng.integers(len(formats)))].format(
            marca=CONVENIO_MARCAS[int(rng.integers(len(CONVENIO_MARCAS)))],
            cidade=city.name,
            uf=city.uf,
        )
        if name not in used:
            return name
    for region in _REGIONS:
        if f"{name} {region}" not in used:
            return f"{name} {region}"
    return f"{name} {len(used)}"
