"""Brazilian geography for addresses and phones: states, cities, DDDs and CEP ranges."""

from __future__ import annotations

from dataclasses import dataclass

# Resident population by state, in thousands: IBGE, Censo Demográfico 2022 (rounded).
# Used to weight where patients live and where doctors hold their CRM.
UF_POPULATION: dict[str, int] = {
    "SP": 44_411, "MG": 20_539, "RJ": 16_055, "BA": 14_141, "PR": 11_444, "RS": 10_883,
    "PE": 9_058, "CE": 8_794, "PA": 8_121, "SC": 7_610, "GO": 7_056, "MA": 6_777,
    "PB": 3_974, "AM": 3_942, "ES": 3_834, "MT": 3_658, "RN": 3_302, "PI": 3_271,
    "AL": 3_128, "DF": 2_817, "MS": 2_757, "SE": 2_210, "RO": 1_582, "TO": 1_511,
    "AC": 830, "AP": 734, "RR": 636,
}  # fmt: skip

UF_CODES: frozenset[str] = frozenset(UF_POPULATION)

# Every DDD (area code) in use, by state (Anatel numbering plan).
UF_DDDS: dict[str, tuple[int, ...]] = {
    "SP": (11, 12, 13, 14, 15, 16, 17, 18, 19), "RJ": (21, 22, 24), "ES": (27, 28),
    "MG": (31, 32, 33, 34, 35, 37, 38), "BA": (71, 73, 74, 75, 77), "SE": (79,),
    "PE": (81, 87), "AL": (82,), "PB": (83,), "RN": (84,), "CE": (85, 88), "PI": (86, 89),
    "MA": (98, 99), "PA": (91, 93, 94), "AP": (96,), "AM": (92, 97), "RR": (95,),
    "AC": (68,), "DF": (61,), "GO": (62, 64), "TO": (63,), "MT": (65, 66), "RO": (69,),
    "MS": (67,), "PR": (41, 42, 43, 44, 45, 46), "SC": (47, 48, 49), "RS": (51, 53, 54, 55),
}  # fmt: skip

# First five CEP digits each state's postal codes fall in (Correios ranges).
UF_CEP_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "SP": ((1000, 19999),), "RJ": ((20000, 28999),), "ES": ((29000, 29999),),
    "MG": ((30000, 39999),), "BA": ((40000, 48999),), "SE": ((49000, 49999),),
    "PE": ((50000, 56999),), "AL": ((57000, 57999),), "PB": ((58000, 58999),),
    "RN": ((59000, 59999),), "CE": ((60000, 63999),), "PI": ((64000, 64999),),
    "MA": ((65000, 65999),), "PA": ((66000, 68899),), "AP": ((68900, 68999),),
    "AM": ((69000, 69299), (69400, 69899)), "RR": ((69300, 69399),), "AC": ((69900, 69999),),
    "DF": ((70000, 72799), (73000, 73699)), "GO": ((72800, 72999), (73700, 76799)),
    "RO": ((76800, 76999),), "TO": ((77000, 77999),), "MT": ((78000, 78899),),
    "MS": ((79000, 79999),), "PR": ((80000, 87999),), "SC": ((88000, 89999),),
    "RS": ((90000, 99999),),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class City:
    """A municipality: where a patient lives, its phone DDD and its CEP prefix range."""

    name: str
    uf: str
    ddd: int
    population: int  # thousands, IBGE Censo 2022 (rounded)
    cep_first: int  # first five CEP digits, inclusive range
    cep_last: int

    @property
    def label(self) -> str:
        return f"{self.name} - {self.uf}"


# The largest municipalities of each state. Patients are spread over them in proportion
# to population; the CEP ranges are the municipalities' own Correios ranges (urban area).
CITIES: tuple[City, ...] = tuple(
    City(*row)
    for row in (
        ("São Paulo", "SP", 11, 11_452, 1000, 5999),
        ("Guarulhos", "SP", 11, 1_292, 7000, 7399),
        ("Campinas", "SP", 19, 1_139, 13000, 13139),
        ("São Bernardo do Campo", "SP", 11, 811, 9600, 9899),
        ("Santo André", "SP", 11, 748, 9000, 9299),
        ("Osasco", "SP", 11, 729, 6000, 6299),
        ("Sorocaba", "SP", 15, 723, 18000, 18109),
        ("Ribeirão Preto", "SP", 16, 699, 14000, 14114),
        ("São José dos Campos", "SP", 12, 697, 12200, 12248),
        ("São José do Rio Preto", "SP", 17, 480, 15000, 15104),
        ("Santos", "SP", 13, 419, 11000, 11099),
        ("Bauru", "SP", 14, 380, 17000, 17109),
        ("Presidente Prudente", "SP", 18, 226, 19000, 19069),
        ("Rio de Janeiro", "RJ", 21, 6_212, 20000, 23799),
        ("São Gonçalo", "RJ", 21, 897, 24400, 24799),
        ("Duque de Caxias", "RJ", 21, 809, 25000, 25299),
        ("Nova Iguaçu", "RJ", 21, 786, 26000, 26099),
        ("Campos dos Goytacazes", "RJ", 22, 484, 28000, 28099),
        ("Niterói", "RJ", 21, 482, 24000, 24399),
        ("Petrópolis", "RJ", 24, 279, 25600, 25779),
        ("Volta Redonda", "RJ", 24, 261, 27200, 27299),
        ("Belo Horizonte", "MG", 31, 2_316, 30000, 31999),
        ("Uberlândia", "MG", 34, 714, 38400, 38419),
        ("Contagem", "MG", 31, 622, 32000, 32399),
        ("Juiz de Fora", "MG", 32, 541, 36000, 36099),
        ("Montes Claros", "MG", 38, 415, 39400, 39409),
        ("Betim", "MG", 31, 412, 32600, 32699),
        ("Uberaba", "MG", 34, 338, 38000, 38099),
        ("Governador Valadares", "MG", 33, 258, 35000, 35099),
        ("Divinópolis", "MG", 37, 232, 35500, 35509),
        ("Poços de Caldas", "MG", 35, 163, 37700, 37719),
        ("Serra", "ES", 27, 521, 29160, 29184),
        ("Vila Velha", "ES", 27, 468, 29100, 29129),
        ("Cariacica", "ES", 27, 353, 29140, 29159),
        ("Vitória", "ES", 27, 323, 29000, 29099),
        ("Cachoeiro de Itapemirim", "ES", 28, 185, 29300, 29319),
        ("Salvador", "BA", 71, 2_418, 40000, 42499),
        ("Feira de Santana", "BA", 75, 616, 44000, 44099),
        ("Vitória da Conquista", "BA", 77, 370, 45000, 45099),
        ("Camaçari", "BA", 71, 300, 42800, 42849),
        ("Juazeiro", "BA", 74, 237, 48900, 48909),
        ("Itabuna", "BA", 73, 186, 45600, 45609),
        ("Ilhéus", "BA", 73, 178, 45650, 45669),
        ("Aracaju", "SE", 79, 602, 49000, 49099),
        ("Nossa Senhora do Socorro", "SE", 79, 192, 49160, 49169),
        ("Lagarto", "SE", 79, 101, 49400, 49409),
        ("Recife", "PE", 81, 1_488, 50000, 52999),
        ("Jaboatão dos Guararapes", "PE", 81, 644, 54000, 54499),
        ("Petrolina", "PE", 87, 386, 56300, 56339),
        ("Caruaru", "PE", 81, 378, 55000, 55099),
        ("Olinda", "PE", 81, 350, 53000, 53399),
        ("Paulista", "PE", 81, 342, 53400, 53449),
        ("Maceió", "AL", 82, 958, 57000, 57099),
        ("Arapiraca", "AL", 82, 234, 57300, 57319),
        ("João Pessoa", "PB", 83, 833, 58000, 58099),
        ("Campina Grande", "PB", 83, 419, 58400, 58499),
        ("Santa Rita", "PB", 83, 149, 58300, 58309),
        ("Natal", "RN", 84, 751, 59000, 59139),
        ("Mossoró", "RN", 84, 264, 59600, 59649),
        ("Parnamirim", "RN", 84, 252, 59140, 59161),
        ("Fortaleza", "CE", 85, 2_428, 60000, 61599),
        ("Caucaia", "CE", 85, 355, 61600, 61699),
        ("Juazeiro do Norte", "CE", 88, 287, 63000, 63059),
        ("Maracanaú", "CE", 85, 234, 61900, 61939),
        ("Sobral", "CE", 88, 203, 62000, 62119),
        ("Teresina", "PI", 86, 866, 64000, 64099),
        ("Parnaíba", "PI", 86, 162, 64200, 64219),
        ("Picos", "PI", 89, 83, 64600, 64609),
        ("São Luís", "MA", 98, 1_037, 65000, 65109),
        ("Imperatriz", "MA", 99, 273, 65900, 65919),
        ("São José de Ribamar", "MA", 98, 244, 65110, 65114),
        ("Caxias", "MA", 99, 156, 65600, 65609),
        ("Belém", "PA", 91, 1_303, 66000, 66999),
        ("Ananindeua", "PA", 91, 478, 67000, 67199),
        ("Santarém", "PA", 93, 331, 68000, 68049),
        ("Marabá", "PA", 94, 266, 68500, 68519),
        ("Macapá", "AP", 96, 442, 68900, 68914),
        ("Santana", "AP", 96, 107, 68925, 68929),
        ("Manaus", "AM", 92, 2_063, 69000, 69099),
        ("Itacoatiara", "AM", 92, 103, 69100, 69109),
        ("Parintins", "AM", 92, 96, 69150, 69154),
        ("Tefé", "AM", 97, 73, 69550, 69554),
        ("Boa Vista", "RR", 95, 413, 69300, 69339),
        ("Rio Branco", "AC", 68, 364, 69900, 69924),
        ("Cruzeiro do Sul", "AC", 68, 91, 69980, 69984),
        ("Brasília", "DF", 61, 2_817, 70000, 72799),
        ("Goiânia", "GO", 62, 1_437, 74000, 74899),
        ("Aparecida de Goiânia", "GO", 62, 527, 74900, 74999),
        ("Anápolis", "GO", 62, 398, 75000, 75149),
        ("Rio Verde", "GO", 64, 225, 75900, 75909),
        ("Palmas", "TO", 63, 302, 77000, 77299),
        ("Araguaína", "TO", 63, 171, 77800, 77829),
        ("Cuiabá", "MT", 65, 650, 78000, 78109),
        ("Várzea Grande", "MT", 65, 300, 78110, 78159),
        ("Rondonópolis", "MT", 66, 244, 78700, 78749),
        ("Sinop", "MT", 66, 196, 78550, 78559),
        ("Porto Velho", "RO", 69, 460, 76800, 76834),
        ("Ji-Paraná", "RO", 69, 124, 76900, 76919),
        ("Campo Grande", "MS", 67, 898, 79000, 79129),
        ("Dourados", "MS", 67, 243, 79800, 79849),
        ("Três Lagoas", "MS", 67, 132, 79600, 79649),
        ("Curitiba", "PR", 41, 1_773, 80000, 82999),
        ("Londrina", "PR", 43, 555, 86000, 86099),
        ("Maringá", "PR", 44, 409, 87000, 87099),
        ("Ponta Grossa", "PR", 42, 358, 84000, 84099),
        ("Cascavel", "PR", 45, 348, 85800, 85824),
        ("São José dos Pinhais", "PR", 41, 329, 83000, 83149),
        ("Foz do Iguaçu", "PR", 45, 285, 85850, 85874),
        ("Joinville", "SC", 47, 616, 89200, 89239),
        ("Florianópolis", "SC", 48, 537, 88000, 88099),
        ("Blumenau", "SC", 47, 361, 89000, 89099),
        ("São José", "SC", 48, 270, 88100, 88123),
        ("Chapecó", "SC", 49, 254, 89800, 89816),
        ("Criciúma", "SC", 48, 214, 88800, 88819),
        ("Porto Alegre", "RS", 51, 1_332, 90000, 91999),
        ("Caxias do Sul", "RS", 54, 463, 95000, 95124),
        ("Canoas", "RS", 51, 347, 92000, 92479),
        ("Pelotas", "RS", 53, 325, 96000, 96099),
        ("Santa Maria", "RS", 55, 271, 97000, 97119),
        ("Passo Fundo", "RS", 54, 206, 99000, 99099),
    )
)


def city_weights() -> list[float]:
    """Probability of living in each of CITIES: the state's share of the national
    population, split among the state's listed cities by their population."""
    listed: dict[str, int] = {}
    for city in CITIES:
        listed[city.uf] = listed.get(city.uf, 0) + city.population
    total = sum(UF_POPULATION.values())
    return [UF_POPULATION[c.uf] / total * c.population / listed[c.uf] for c in CITIES]


def cities_of(uf: str) -> tuple[int, ...]:
    """Indexes into CITIES of the cities of state ``uf``."""
    found = tuple(i for i, city in enumerate(CITIES) if city.uf == uf)
    if not found:
        raise ValueError(f"unknown UF {uf!r}; expected one of {', '.join(sorted(UF_CODES))}")
    return found
