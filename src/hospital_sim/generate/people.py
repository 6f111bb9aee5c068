"""People: pt_BR names that fit the birth year, and ages that follow Brazil's pyramid.

Faker builds one name in tens of microseconds; here its pt_BR lists are read once into
pools and names are assembled from numpy index arrays.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from itertools import accumulate

import numpy as np
import numpy.typing as npt
from faker.providers.person.pt_BR import Provider as PersonProvider

# Share of the population in each five-year age band, in percent, from IBGE, Censo
# Demográfico 2022 (pirâmide etária, Brasil; rounded). The last band is 90-99.
AGE_BAND_SHARES: tuple[float, ...] = (
    6.3, 6.7, 6.8, 7.1, 7.5, 7.6, 7.6, 7.9, 7.8, 6.7,
    6.1, 5.6, 4.8, 3.9, 2.9, 1.9, 1.2, 0.6, 0.4,
)  # fmt: skip
AGE_BAND_YEARS = 5
FEMALE_SHARE = 0.515  # IBGE, Censo 2022: 51.5% of residents are women
DAYS_PER_YEAR = 365.2425

# Given names in fashion for people born before each year. For generations before the
# 2000s we list the names IBGE found most frequent by decade of birth (Censo 2010,
# "Nomes no Brasil"); younger people get Faker's pt_BR list of current baby names.
NAMES_BY_BIRTH_YEAR: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        1960,
        ("Maria", "Ana", "Francisca", "Antônia", "Terezinha", "Luzia", "Raimunda",
         "Aparecida", "Rosa", "Helena", "Benedita", "Sebastiana", "Conceição", "Josefa",
         "Joana", "Geralda", "Iracema", "Neusa", "Dalva", "Irene", "Marlene", "Maria José",
         "Maria Aparecida", "Maria de Lourdes", "Maria das Graças", "Maria do Carmo",
         "Ana Maria", "Odete", "Zilda", "Olga"),
        ("José", "João", "Antônio", "Francisco", "Sebastião", "Raimundo", "Manoel", "Pedro",
         "Luiz", "Geraldo", "Joaquim", "Paulo", "Benedito", "Jorge", "Osvaldo", "Waldemar",
         "Severino", "Alcides", "Armando", "Ademar", "Nelson", "Orlando", "Valdir", "Mário",
         "José Carlos", "João Batista", "Antônio Carlos", "Luiz Carlos",
         "Francisco de Assis", "Milton"),
    ),
    (
        1980,
        ("Márcia", "Sandra", "Cláudia", "Regina", "Vera Lúcia", "Rosângela", "Sônia",
         "Eliane", "Rosana", "Silvia", "Lúcia", "Ana Paula", "Cristina", "Valéria", "Simone",
         "Denise", "Rita de Cássia", "Adriana", "Patrícia", "Elaine", "Solange", "Célia",
         "Luciana", "Fátima", "Mônica", "Kátia", "Tânia", "Cristiane", "Fabiana", "Andréa"),
        ("Carlos", "Paulo", "Marcos", "Luiz Carlos", "Jorge", "Sérgio", "Roberto", "Ricardo",
         "Marcelo", "Fernando", "Antônio Carlos", "José Carlos", "Edson", "Márcio", "Cláudio",
         "Mauro", "Rogério", "Wagner", "Sandro", "Valter", "Reinaldo", "Ronaldo",
         "Luís Fernando", "Carlos Alberto", "Jair", "Gilberto", "Adilson", "Nilton",
         "Renato", "Alexandre"),
    ),
    (
        2000,
        ("Juliana", "Fernanda", "Patrícia", "Aline", "Camila", "Vanessa", "Jéssica",
         "Amanda", "Bruna", "Tatiane", "Priscila", "Carla", "Daniela", "Renata", "Letícia",
         "Mariana", "Gabriela", "Larissa", "Natália", "Thaís", "Bianca", "Débora", "Viviane",
         "Michele", "Daiane", "Raquel", "Luana", "Jaqueline", "Ana Carolina", "Francielle"),
        ("Rodrigo", "Fábio", "Anderson", "Leandro", "Alexandre", "Daniel", "Bruno", "Thiago",
         "Diego", "Rafael", "Felipe", "Gustavo", "Lucas", "Marcelo", "Fabrício", "Vinícius",
         "Leonardo", "Eduardo", "André", "Diogo", "Wellington", "Júlio César", "Márcio",
         "Matheus", "Douglas", "Renan", "Igor", "Caio", "Tiago", "Guilherme"),
    ),
)  # fmt: skip

# Silva, Santos, Oliveira and Souza lead every published count of Brazilian surnames;
# the next ten follow them in most. Faker's list is otherwise unweighted.
_SURNAME_BOOST = {
    "Silva": 12.0, "Santos": 10.0, "Oliveira": 7.0, "Souza": 6.0, "da Silva": 6.0,
    "dos Santos": 4.0, "Rodrigues": 4.0, "Ferreira": 4.0, "Alves": 4.0, "Pereira": 4.0,
    "Lima": 3.5, "Gomes": 3.0, "Costa": 3.0, "Ribeiro": 3.0, "Martins": 3.0,
    "Carvalho": 3.0,
}  # fmt: skip
# Entries of Faker's list that read as given names or nicknames rather than surnames.
_NOT_SURNAMES = frozenset({"Aparecida", "Casa Grande", "Costela", "Pastor", "Cassiano"})
SECOND_SURNAME_SHARE = 0.65  # most Brazilians carry both the mother's and father's surname


@dataclass(frozen=True)
class NamePools:
    """Given-name pools per (birth-year cohort, sex) and a weighted surname pool."""

    cohort_limits: npt.NDArray[np.int64]  # birth years starting each next cohort
    female: tuple[npt.NDArray[np.object_], ...]  # one pool per cohort
    male: tuple[npt.NDArray[np.object_], ...]
    surnames: npt.NDArray[np.object_]  # each prefixed with a space, plus a final ""
    surname_cum: npt.NDArray[np.float64]


@cache
def name_pools() -> NamePools:
    """The pools, built once per process from fixed lists (no randomness involved)."""
    modern_f = tuple(PersonProvider.first_names_female)
    modern_m = tuple(PersonProvider.first_names_male)
    surnames = [s for s in PersonProvider.last_names if s not in _NOT_SURNAMES]
    surnames += [s for s in _SURNAME_BOOST if s not in surnames]
    weights = np.array([_SURNAME_BOOST.get(s, 1.0) for s in surnames])
    return NamePools(
        cohort_limits=np.array([limit for limit, _, _ in NAMES_BY_BIRTH_YEAR], dtype=np.int64),
        female=tuple(
            np.array(f, dtype=object) for f in [*(c[1] for c in NAMES_BY_BIRTH_YEAR), modern_f]
        ),
        male=tuple(
            np.array(m, dtype=object) for m in [*(c[2] for c in NAMES_BY_BIRTH_YEAR), modern_m]
        ),
        surnames=np.array([" " + s for s in surnames] + [""], dtype=object),
        surname_cum=np.cumsum(weights) / weights.sum(),
    )


def draw_names(
    rng: np.random.Generator,
    female: npt.NDArray[np.bool_],
    birth_year: npt.NDArray[np.int64],
) -> list[str]:
    """Full names: a given name in fashion for the birth year, then one or two surnames."""
    pools = name_pools()
    n = female.size
    cohort = np.searchsorted(pools.cohort_limits, birth_year, side="right")
    given = np.empty(n, dtype=object)
    for c in range(len(pools.female)):
        for pool, sex_mask in ((pools.female[c], female), (pools.male[c], ~female)):
            rows = np.flatnonzero((cohort == c) & sex_mask)
            given[rows] = pool[rng.integers(0, pool.size, rows.size)]
    last = pools.surnames.size - 1
    first_surname = np.minimum(np.searchsorted(pools.surname_cum, rng.random(n)), last - 1)
    second_surname = np.minimum(np.searchsorted(pools.surname_cum, rng.random(n)), last - 1)
    drop = (rng.random(n) >= SECOND_SURNAME_SHARE) | (second_surname == first_surname)
    second_surname[drop] = last
    a = given.tolist()
    b = pools.surnames[first_surname].tolist()
    c = pools.surnames[second_surname].tolist()
    return [f"{x}{y}{z}" for x, y, z in zip(a, b, c, strict=True)]


def pick_name(rng: random.Random, female: bool, birth_year: int) -> str:
    """One full name, as draw_names builds them, from a random.Random."""
    lists = _name_lists()
    cohort = bisect_right(lists.cohort_limits, birth_year)
    given = rng.choice((lists.female if female else lists.male)[cohort])
    picks = rng.choices(lists.surnames, cum_weights=lists.surname_cum, k=2)
    second = picks[1] if rng.random() < SECOND_SURNAME_SHARE and picks[1] != picks[0] else ""
    return f"{given}{picks[0]}{second}"


@dataclass(frozen=True)
class _NameLists:
    """NamePools as plain lists, for one-at-a-time draws without numpy overhead."""

    cohort_limits: list[int]
    female: list[list[str]]
    male: list[list[str]]
    surnames: list[str]  # each prefixed with a space
    surname_cum: list[float]


@cache
def _name_lists() -> _NameLists:
    pools = name_pools()
    return _NameLists(
        cohort_limits=pools.cohort_limits.tolist(),
        female=[p.tolist() for p in pools.female],
        male=[p.tolist() for p in pools.male],
        surnames=pools.surnames[:-1].tolist(),
        surname_cum=pools.surname_cum.tolist(),
    )


def draw_ages_days(rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    """Ages in days (>= 1) following the Censo 2022 age pyramid."""
    shares = np.array(AGE_BAND_SHARES)
    band = rng.choice(shares.size, size=n, p=shares / shares.sum())
    band_days = AGE_BAND_YEARS * DAYS_PER_YEAR
    days = (band + rng.random(n)) * band_days
    return np.maximum(days.astype(np.int64), 1)


_AGE_CUM = list(accumulate(AGE_BAND_SHARES))


def pick_age_days(rng: random.Random) -> int:
    """One age in days (>= 1) following the Censo 2022 age pyramid."""
    band = rng.choices(range(len(AGE_BAND_SHARES)), cum_weights=_AGE_CUM)[0]
    return max(1, int((band + rng.random()) * AGE_BAND_YEARS * DAYS_PER_YEAR))
