"""Street addresses and phone numbers, consistent with the city they belong to."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from itertools import accumulate

import numpy as np
import numpy.typing as npt
from faker.providers.address.pt_BR import Provider as AddressProvider
from faker.providers.person.pt_BR import Provider as PersonProvider

from hospital_sim.generate.documents import PAD4
from hospital_sim.generate.draw import pick, weighted
from hospital_sim.generate.people import NAMES_BY_BIRTH_YEAR
from hospital_sim.generate.places import CITIES, cities_of, city_weights

# An address line ends with its city label and CEP: "<street>, <number><complement> -
# <bairro>, <city> - <UF>, <CEP 5>-<CEP 3>" (draw_addresses and pick_address write it).
# This pattern finds the state at its end; it reads the same in Python and PostgreSQL.
ADDRESS_UF = r" - ([A-Z]{2}), [0-9]{5}-[0-9]{3}$"
_ADDRESS_UF = re.compile(ADDRESS_UF)


def address_uf(address: str) -> str | None:
    """The state of a generated address line ('... - São Paulo - SP, 01510-010')."""
    match = _ADDRESS_UF.search(address)
    return match.group(1) if match else None


# Anatel counts about ten mobile accesses for each fixed line; a patient's contact number
# is usually a mobile.
MOBILE_SHARE = 0.85

# Street kinds in Brazilian cities, most common first (Faker pt_BR lists them unweighted).
_STREET_KINDS = {"Rua": 68, "Avenida": 18, "Travessa": 6, "Alameda": 3, "Praça": 3, "Estrada": 2}
# Names that recur in almost every Brazilian city: dates, national figures, saints, states.
_COMMON_STREETS = (
    "Sete de Setembro", "Quinze de Novembro", "Tiradentes", "Dom Pedro II", "São José",
    "da Conceição", "Santos Dumont", "Rui Barbosa", "Duque de Caxias", "Marechal Deodoro",
    "Floriano Peixoto", "Getúlio Vargas", "Castro Alves", "Princesa Isabel",
    "Barão do Rio Branco", "Benjamin Constant", "José Bonifácio", "Juscelino Kubitschek",
    "Presidente Vargas", "Visconde de Mauá", "Treze de Maio", "Primeiro de Maio",
    "Vinte e Um de Abril", "das Flores", "das Palmeiras", "dos Andradas", "Bahia", "Paraná",
    "Amazonas", "Goiás", "Minas Gerais", "Pernambuco", "Santa Catarina", "Brasil",
    "da Independência", "da Paz", "da Liberdade", "Boa Vista", "do Comércio", "São João",
    "São Pedro", "Santo Antônio", "São Sebastião", "Nossa Senhora Aparecida",
    "Padre Anchieta", "Monteiro Lobato", "Machado de Assis", "Carlos Gomes", "Olavo Bilac",
    "Oswaldo Cruz", "Marechal Rondon", "Almirante Barroso", "General Osório", "das Acácias",
    "dos Ipês", "Belo Horizonte", "Rio de Janeiro", "Anita Garibaldi", "Pedro Álvares Cabral",
)  # fmt: skip
# Streets honour people of past generations, often with their title.
_TITLES_MALE = ("", "", "", "Professor ", "Doutor ", "Coronel ", "Padre ", "Vereador ")
_TITLES_FEMALE = ("", "", "", "Professora ", "Doutora ", "Dona ", "Irmã ", "Vereadora ")
_LOWERCASE_PARTICLES = frozenset({"Da", "Das", "De", "Do", "Dos", "E"})
_NAMED_STREETS = 2_000  # streets named after people of the older name cohorts
_POOL_SEED = 20_221_201  # fixed: the pools are the same in every run and every process

_CENTRO_SHARE = 0.08  # most cities' addresses include a downtown share


@dataclass(frozen=True)
class AddressPools:
    streets: npt.NDArray[np.object_]
    bairros: npt.NDArray[np.object_]
    bairro_cum: npt.NDArray[np.float64]
    complements: npt.NDArray[np.object_]  # "" or ", apto 32", ...
    complement_cum: npt.NDArray[np.float64]
    numbers: npt.NDArray[np.object_]  # index 0 is "s/n" (no number)
    city_labels: npt.NDArray[np.object_]
    city_ddd: npt.NDArray[np.int64]
    cep_first: npt.NDArray[np.int64]
    cep_span: npt.NDArray[np.int64]
    city_cum: npt.NDArray[np.float64]


@cache
def address_pools() -> AddressPools:
    """Street, neighbourhood and complement pools, built once per process."""
    rng = np.random.Generator(np.random.PCG64(_POOL_SEED))
    kinds = list(_STREET_KINDS)
    kind_p = np.array(list(_STREET_KINDS.values()), dtype=np.float64)
    kind_p /= kind_p.sum()
    male = [n for _, _, names in NAMES_BY_BIRTH_YEAR[:2] for n in names]
    female = [n for _, names, _ in NAMES_BY_BIRTH_YEAR[:2] for n in names]
    surnames = PersonProvider.last_names
    named = []
    for is_female in (rng.random(_NAMED_STREETS) < 0.3).tolist():
        titles, given = (_TITLES_FEMALE, female) if is_female else (_TITLES_MALE, male)
        title = titles[rng.integers(len(titles))]
        named.append(
            f"{title}{given[rng.integers(len(given))]} {surnames[rng.integers(len(surnames))]}"
        )
    bodies = list(_COMMON_STREETS) * 8 + named  # famous names recur across cities
    street_kind = rng.choice(len(kinds), size=len(bodies), p=kind_p).tolist()
    streets = [f"{kinds[k]} {body}" for k, body in zip(street_kind, bodies, strict=True)]

    bairros = ["Centro", *(_tidy(b) for b in AddressProvider.bairros if b != "Centro")]
    bairro_w = np.full(len(bairros), (1 - _CENTRO_SHARE) / (len(bairros) - 1))
    bairro_w[0] = _CENTRO_SHARE

    complements, complement_w = [""], [0.6]
    for floor in range(1, 21):
        for unit in range(1, 9):
            complements.append(f", apto {floor}{unit}")
            complement_w.append(0.3 / 160 * (2.0 if floor <= 6 else 0.5))
    for block in "ABCD":
        complements.append(f", bloco {block}, apto {rng.integers(1, 5)}0{rng.integers(1, 5)}")
        complement_w.append(0.04 / 4)
    for house in range(1, 5):
        complements.append(f", casa {house}")
        complement_w.append(0.05 / 4)
    complements.append(", fundos")
    complement_w.append(0.01)

    weights = np.array(city_weights())
    return AddressPools(
        streets=np.array(streets, dtype=object),
        bairros=np.array(bairros, dtype=object),
        bairro_cum=np.cumsum(bairro_w) / bairro_w.sum(),
        complements=np.array(complements, dtype=object),
        complement_cum=np.cumsum(complement_w) / sum(complement_w),
        numbers=np.array(["s/n", *map(str, range(1, 10_000))], dtype=object),
        city_labels=np.array([c.label for c in CITIES], dtype=object),
        city_ddd=np.array([c.ddd for c in CITIES], dtype=np.int64),
        cep_first=np.array([c.cep_first for c in CITIES], dtype=np.int64),
        cep_span=np.array([c.cep_last - c.cep_first + 1 for c in CITIES], dtype=np.int64),
        city_cum=np.cumsum(weights) / weights.sum(),
    )


def _tidy(bairro: str) -> str:
    """'Vila Nova Dos Milionarios' -> 'Vila Nova dos Milionarios'."""
    words = bairro.split()
    return " ".join([words[0], *(w.lower() if w in _LOWERCASE_PARTICLES else w for w in words[1:])])


def draw_cities(rng: np.random.Generator, n: int) -> npt.NDArray[np.intp]:
    """Indexes into CITIES, weighted by population."""
    return pick(address_pools().city_cum, rng.random(n))


def _house_numbers(rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    # Most numbers are small; a few long avenues reach the thousands; 2% have none.
    numbers = np.minimum(np.exp(rng.normal(5.0, 1.1, n)).astype(np.int64) + 1, 9_999)
    numbers[rng.random(n) < 0.02] = 0
    return numbers


_CEP_SUFFIXES = np.array([f"-{i:03d}" for i in range(1000)], dtype=object)
_NINE = np.array(["", "9"], dtype=object)
_DDD = np.array([f"({i:02d}) " for i in range(100)], dtype=object)


def _cep_suffixes(rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    # Street CEPs end in 000-899 (900+ is reserved for large users and PO boxes).
    suffix = rng.integers(0, 900, n)
    return np.where(rng.random(n) < 0.5, suffix // 10 * 10, suffix)


def draw_addresses(rng: np.random.Generator, city: npt.NDArray[np.intp]) -> list[str]:
    """One-line addresses in the given cities, e.g.
    ``Rua da Conceição, 145, apto 32 - Liberdade, São Paulo - SP, 01510-010``."""
    pools = address_pools()
    n = city.size
    cep5 = pools.cep_first[city] + (rng.random(n) * pools.cep_span[city]).astype(np.int64)
    parts = (
        pools.streets[rng.integers(0, pools.streets.size, n)],
        pools.numbers[_house_numbers(rng, n)],
        pools.complements[pick(pools.complement_cum, rng.random(n))],
        pools.bairros[pick(pools.bairro_cum, rng.random(n))],
        pools.city_labels[city],
        _cep_prefixes()[cep5],
        _CEP_SUFFIXES[_cep_suffixes(rng, n)],
    )
    s, num, comp, bairro, label, c5, c3 = (p.tolist() for p in parts)
    return [
        f"{a}, {b}{c} - {d}, {e}, {f}{g}"
        for a, b, c, d, e, f, g in zip(s, num, comp, bairro, label, c5, c3, strict=True)
    ]


@cache
def _cep_prefixes() -> npt.NDArray[np.object_]:
    return np.array([f"{i:05d}" for i in range(100_000)], dtype=object)


def draw_phones(rng: np.random.Generator, ddd: npt.NDArray[np.int64]) -> list[str]:
    """Phone numbers with the given DDDs: mostly mobiles ``(11) 98234-5610``, some
    landlines ``(11) 3234-5610``."""
    n = ddd.size
    mobile = rng.random(n) < MOBILE_SHARE
    # Mobiles are 9 + a digit 6-9 + 7 digits; landlines start with 2-5.
    head = np.where(mobile, rng.integers(6_000, 10_000, n), rng.integers(2_000, 6_000, n))
    parts = (
        _DDD[ddd],
        _NINE[mobile.astype(np.intp)],
        PAD4[head],
        PAD4[rng.integers(0, 10_000, n)],
    )
    a, b, c, d = (p.tolist() for p in parts)
    return [f"{w}{x}{y}-{z}" for w, x, y, z in zip(a, b, c, d, strict=True)]


def pick_city(rng: random.Random, uf: str | None = None) -> int:
    """Index into CITIES, weighted by population (within ``uf`` if given)."""
    if uf is None:
        return weighted(rng, range(len(CITIES)), _city_cum_list())
    indexes, cum = _uf_cities(uf)
    return weighted(rng, indexes, cum)


@cache
def _city_cum_list() -> list[float]:
    return list(accumulate(city_weights()))


@cache
def _uf_cities(uf: str) -> tuple[tuple[int, ...], list[float]]:
    """The cities of ``uf`` and their cumulative populations (the stream asks often)."""
    indexes = cities_of(uf)
    return indexes, list(accumulate(float(CITIES[i].population) for i in indexes))


def pick_phone(rng: random.Random, ddd: int) -> str:
    """One phone number with DDD ``ddd``, formatted like draw_phones."""
    if rng.random() < MOBILE_SHARE:
        return f"({ddd:02d}) 9{rng.randint(6_000, 9_999)}-{rng.randint(0, 9_999):04d}"
    return f"({ddd:02d}) {rng.randint(2_000, 5_999)}-{rng.randint(0, 9_999):04d}"


def pick_address(rng: random.Random, city: int) -> str:
    """One address line in CITIES[city], formatted like draw_addresses."""
    pools = _address_lists()
    place = CITIES[city]
    number = 0 if rng.random() < 0.02 else min(int(rng.lognormvariate(5.0, 1.1)) + 1, 9_999)
    suffix = rng.randrange(900)
    if rng.random() < 0.5:
        suffix = suffix // 10 * 10
    street = rng.choice(pools.streets)
    complement = weighted(rng, pools.complements, pools.complement_cum)
    bairro = weighted(rng, pools.bairros, pools.bairro_cum)
    cep = f"{rng.randint(place.cep_first, place.cep_last):05d}-{suffix:03d}"
    return f"{street}, {pools.numbers[number]}{complement} - {bairro}, {place.label}, {cep}"


@dataclass(frozen=True)
class _AddressLists:
    streets: list[str]
    bairros: list[str]
    bairro_cum: list[float]
    complements: list[str]
    complement_cum: list[float]
    numbers: list[str]


@cache
def _address_lists() -> _AddressLists:
    pools = address_pools()
    return _AddressLists(
        streets=pools.streets.tolist(),
        bairros=pools.bairros.tolist(),
        bairro_cum=pools.bairro_cum.tolist(),
        complements=pools.complements.tolist(),
        complement_cum=pools.complement_cum.tolist(),
        numbers=pools.numbers.tolist(),
    )
