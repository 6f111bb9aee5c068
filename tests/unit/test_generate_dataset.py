"""The seed data set: every row keeps the realism and coherence rules a user would check."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

import pytest

from hospital_sim.generate import (
    LOOKUP_CONVENIOS,
    TABLE_COLUMNS,
    TABLES,
    Volumes,
    generate_tables,
)
from hospital_sim.generate.documents import (
    carteira_for_id,
    cnpj_for_id,
    crm_for_id,
    is_valid_cnpj,
    is_valid_cpf,
)
from hospital_sim.generate.places import CITIES, UF_CEP_RANGES, UF_DDDS, UF_POPULATION
from hospital_sim.generate.vocab import (
    ESPECIALIDADES,
    EXAMES,
    MOTIVOS_INTERNACAO,
)

DEFAULTS = Volumes(
    convenios=10,  # 12 in the settings, minus the two lookup rows
    medicos=200,
    pacientes=2000,
    pacientes_convenios=2500,
    consultas=4000,
    exames=3500,
    internacoes=1200,
)
FIRST_IDS = {"convenios": 3}
ANCHOR = dt.datetime(2026, 11, 29)
PAST_LIMIT = ANCHOR - dt.timedelta(days=1)
FUTURE_START = ANCHOR + dt.timedelta(days=1)
DAY = dt.timedelta(days=1)

Rows = list[tuple[Any, ...]]

# VARCHAR limits of the original schema: a longer value would make COPY fail.
VARCHAR_LIMITS = {
    "pacientes": {"nome": 150, "cpf": 20, "telefone": 20, "endereco": 200},
    "medicos": {"nome": 150, "crm": 20, "especialidade": 80, "telefone": 20},
    "convenios": {"nome": 120, "cnpj": 25, "tipo": 40, "cobertura": 120},
    "pacientes_convenios": {"numero_carteira": 40},
    "consultas": {"motivo": 200, "status": 20},
    "exames": {"tipo_exame": 100, "resultado": 200},
    "internacoes": {"motivo": 200, "quarto": 20},
}
ADDRESS = re.compile(
    r"(?P<street>[^,]+), (?P<number>\d+|s/n)(?P<complement>, [^-]+)? - (?P<bairro>.+), "
    r"(?P<city>[^,]+) - (?P<uf>[A-Z]{2}), (?P<cep>\d{5}-\d{3})"
)
PHONE = re.compile(r"\((?P<ddd>\d{2})\) (9[6-9]\d{3}|[2-5]\d{3})-\d{4}")


def collect(volumes: Volumes = DEFAULTS, **kwargs: Any) -> dict[str, Rows]:
    kwargs = {"seed": 7, "anchor": ANCHOR, "first_ids": FIRST_IDS, **kwargs}
    tables: dict[str, Rows] = defaultdict(list)
    for table, rows in generate_tables(volumes, **kwargs):
        tables[table].extend(rows)
    return dict(tables)


@pytest.fixture(scope="module")
def data() -> dict[str, Rows]:
    return collect()


def column(data: dict[str, Rows], table: str, name: str) -> list[Any]:
    index = TABLE_COLUMNS[table].index(name)
    return [row[index] for row in data[table]]


def by_id(data: dict[str, Rows], table: str) -> dict[int, dict[str, Any]]:
    names = TABLE_COLUMNS[table]
    return {row[0]: dict(zip(names, row, strict=True)) for row in data[table]}


def registered(data: dict[str, Rows]) -> dict[int, dt.datetime]:
    return {p["id"]: p["data_cadastro"] for p in by_id(data, "pacientes").values()}


# --- shape ---------------------------------------------------------------------------------


def test_tables_come_in_load_order_with_the_requested_row_counts() -> None:
    order: list[str] = []
    for table, rows in generate_tables(DEFAULTS, seed=1, anchor=ANCHOR, chunk_rows=700):
        assert 0 < len(rows) <= 700
        if not order or order[-1] != table:
            order.append(table)
    assert tuple(order) == TABLES


def test_row_counts_match_volumes(data: dict[str, Rows]) -> None:
    assert {t: len(rows) for t, rows in data.items()} == {t: getattr(DEFAULTS, t) for t in TABLES}


def test_ids_are_explicit_and_start_where_asked(data: dict[str, Rows]) -> None:
    for table in TABLES:
        first = FIRST_IDS.get(table, 1)
        assert [row[0] for row in data[table]] == list(range(first, first + len(data[table])))


def test_rows_hold_plain_python_values_in_column_order(data: dict[str, Rows]) -> None:
    kinds = {
        "nascimento": dt.date,
        "validade": dt.date,
        "data_cadastro": dt.datetime,
        "data": dt.datetime,
        "data_entrada": dt.datetime,
    }
    for table, rows in data.items():
        names = TABLE_COLUMNS[table]
        assert names[0] == "id" and "created_at" not in names and "updated_at" not in names
        for row in rows[:50] + rows[-50:]:
            assert len(row) == len(names)
            for name, value in zip(names, row, strict=True):
                if name == "id" or name.endswith("_id"):
                    assert type(value) is int
                elif name in kinds:
                    assert type(value) is kinds[name]
                    assert getattr(value, "tzinfo", None) is None
                elif name not in ("data_saida", "resultado"):
                    assert type(value) is str and value, (table, name, value)


def test_no_text_exceeds_its_column_length(data: dict[str, Rows]) -> None:
    for table, limits in VARCHAR_LIMITS.items():
        for name, limit in limits.items():
            longest = max((v for v in column(data, table, name) if v), key=len)
            assert len(longest) <= limit, (table, name, longest)


# --- pacientes ---------------------------------------------------------------------------


def test_patients_have_valid_unique_cpfs(data: dict[str, Rows]) -> None:
    cpfs = column(data, "pacientes", "cpf")
    assert len(set(cpfs)) == len(cpfs)
    assert all(is_valid_cpf(c) for c in cpfs)


def test_patients_have_full_pt_br_names(data: dict[str, Rows]) -> None:
    names = column(data, "pacientes", "nome")
    assert all(2 <= len(n.split()) <= 6 for n in names)
    assert not any(n.startswith(("Dr.", "Dra.", "Sr.", "Sra.")) for n in names)
    surnames = Counter(word for n in names for word in n.split()[1:])
    assert surnames.most_common(1)[0][0] in {"Silva", "Santos"}
    assert len(set(names)) > 0.9 * len(names)


def test_patients_are_born_before_registering_and_register_in_the_last_five_years(
    data: dict[str, Rows],
) -> None:
    for p in by_id(data, "pacientes").values():
        assert dt.datetime.combine(p["nascimento"], dt.time()) < p["data_cadastro"]
        assert ANCHOR - dt.timedelta(days=5 * 366) <= p["data_cadastro"] <= PAST_LIMIT


def test_patient_ages_follow_the_brazilian_pyramid(data: dict[str, Rows]) -> None:
    ages = [
        (p["data_cadastro"].date() - p["nascimento"]).days / 365.25
        for p in by_id(data, "pacientes").values()
    ]
    children = sum(a < 15 for a in ages) / len(ages)
    elderly = sum(a >= 65 for a in ages) / len(ages)
    assert 0.16 <= children <= 0.24  # Censo 2022: 19.8%
    assert 0.07 <= elderly <= 0.15  # Censo 2022: 10.9%
    assert max(ages) < 100


def test_patient_phones_use_a_ddd_of_the_state_they_live_in(data: dict[str, Rows]) -> None:
    mobiles = 0
    for p in by_id(data, "pacientes").values():
        phone = PHONE.fullmatch(p["telefone"])
        address = ADDRESS.fullmatch(p["endereco"])
        assert phone and address, (p["telefone"], p["endereco"])
        assert int(phone["ddd"]) in UF_DDDS[address["uf"]]
        mobiles += p["telefone"][5] == "9"
    assert 0.75 <= mobiles / DEFAULTS.pacientes <= 0.95


def test_patient_addresses_name_real_cities_with_their_own_cep_range(data: dict[str, Rows]) -> None:
    cities = {(c.name, c.uf): c for c in CITIES}
    for address in column(data, "pacientes", "endereco"):
        parts = ADDRESS.fullmatch(address)
        assert parts, address
        city = cities[(parts["city"], parts["uf"])]
        prefix = int(parts["cep"][:5])
        assert city.cep_first <= prefix <= city.cep_last
        assert any(lo <= prefix <= hi for lo, hi in UF_CEP_RANGES[parts["uf"]])
        assert int(parts["cep"][6:]) < 900  # street CEPs; 900+ are PO boxes and big users


def test_patients_live_in_states_in_proportion_to_population(data: dict[str, Rows]) -> None:
    states = Counter(ADDRESS.fullmatch(a)["uf"] for a in column(data, "pacientes", "endereco"))  # type: ignore[index]
    sp_share = UF_POPULATION["SP"] / sum(UF_POPULATION.values())
    assert abs(states["SP"] / DEFAULTS.pacientes - sp_share) < 0.04
    assert states["SP"] > states["MG"] > states["RR"]


# --- medicos and convenios ---------------------------------------------------------------


def test_doctors_have_unique_crms_of_real_states_matching_their_phone(
    data: dict[str, Rows],
) -> None:
    crms = column(data, "medicos", "crm")
    assert len(set(crms)) == len(crms)
    for d in by_id(data, "medicos").values():
        uf = d["crm"][-2:]
        assert d["crm"] == crm_for_id(d["id"], uf)
        phone = PHONE.fullmatch(d["telefone"])
        assert phone and int(phone["ddd"]) in UF_DDDS[uf]


def test_doctor_specialties_are_common_ones_in_realistic_proportions(data: dict[str, Rows]) -> None:
    known = {s.name for s in ESPECIALIDADES}
    counts = Counter(column(data, "medicos", "especialidade"))
    assert set(counts) <= known
    top = {name for name, _ in counts.most_common(6)}
    assert {"Clínica Médica", "Pediatria"} <= top


def test_plans_have_valid_unique_cnpjs_distinct_from_the_lookup_rows(data: dict[str, Rows]) -> None:
    plans = by_id(data, "convenios")
    lookup_cnpjs = {row[2] for row in LOOKUP_CONVENIOS}
    for plan in plans.values():
        assert plan["cnpj"] == cnpj_for_id(plan["id"]) and is_valid_cnpj(plan["cnpj"])
        assert plan["cnpj"] not in lookup_cnpjs
        assert plan["tipo"] in {"publico", "privado", "empresarial"}
    names = [p["nome"] for p in plans.values()] + [row[1] for row in LOOKUP_CONVENIOS]
    assert len(set(names)) == len(names)


def test_lookup_plans_are_sus_and_one_private_plan_with_valid_cnpjs() -> None:
    assert [row[0] for row in LOOKUP_CONVENIOS] == [1, 2]
    assert [row[3] for row in LOOKUP_CONVENIOS] == ["publico", "privado"]
    assert "SUS" in LOOKUP_CONVENIOS[0][1]
    for row in LOOKUP_CONVENIOS:
        assert len(row) == len(TABLE_COLUMNS["convenios"])
        assert row[2] == cnpj_for_id(row[0]) and is_valid_cnpj(row[2])


# --- pacientes_convenios -----------------------------------------------------------------


def test_enrolments_are_unique_pairs_within_the_generated_ranges(data: dict[str, Rows]) -> None:
    pairs = [(r[1], r[2]) for r in data["pacientes_convenios"]]
    assert len(set(pairs)) == len(pairs)
    plans_total = FIRST_IDS["convenios"] + DEFAULTS.convenios - 1
    assert {p for p, _ in pairs} <= set(range(1, DEFAULTS.pacientes + 1))
    assert {c for _, c in pairs} == set(range(1, plans_total + 1))  # lookups included


def test_enrolments_carry_the_card_of_their_id_mostly_still_valid(data: dict[str, Rows]) -> None:
    rows = by_id(data, "pacientes_convenios")
    assert all(r["numero_carteira"] == carteira_for_id(i) for i, r in rows.items())
    future = sum(r["validade"] > ANCHOR.date() for r in rows.values())
    assert 0.8 <= future / len(rows) < 1.0
    per_patient = Counter(r["paciente_id"] for r in rows.values())
    assert max(per_patient.values()) <= 2  # 2500 enrolments over 2000 patients


# --- consultas ---------------------------------------------------------------------------


def test_appointments_are_after_the_patient_registered(data: dict[str, Rows]) -> None:
    since = registered(data)
    for c in by_id(data, "consultas").values():
        assert c["data"] > since[c["paciente_id"]]


def test_appointment_status_matches_its_date(data: dict[str, Rows]) -> None:
    for c in by_id(data, "consultas").values():
        if c["status"] == "agendada":
            assert FUTURE_START <= c["data"] <= ANCHOR + dt.timedelta(days=120)
        else:
            assert c["status"] in {"realizada", "cancelada", "faltou"}
            assert c["data"] <= PAST_LIMIT


def test_appointment_status_mix_is_plausible(data: dict[str, Rows]) -> None:
    status = Counter(column(data, "consultas", "status"))
    total = DEFAULTS.consultas
    assert 0.10 <= status["agendada"] / total <= 0.20
    assert 0.62 <= status["realizada"] / total <= 0.78
    assert 0.04 <= status["cancelada"] / total <= 0.12
    assert 0.04 <= status["faltou"] / total <= 0.11


def test_appointments_are_clinic_slots_mostly_on_weekdays(data: dict[str, Rows]) -> None:
    dates = column(data, "consultas", "data")
    for when in dates:
        assert 7 <= when.hour <= 18 and when.second == 0
        assert when.minute % 10 == 0 or when.minute % 15 == 0
    weekdays = sum(d.weekday() < 5 for d in dates)
    assert weekdays / len(dates) >= 0.9


def test_children_see_paediatricians_and_adults_do_not(data: dict[str, Rows]) -> None:
    patients, doctors = by_id(data, "pacientes"), by_id(data, "medicos")
    for c in by_id(data, "consultas").values():
        age = (c["data"].date() - patients[c["paciente_id"]]["nascimento"]).days / 365.25
        specialty = doctors[c["medico_id"]]["especialidade"]
        if age < 15:
            assert specialty in {"Pediatria", "Anestesiologia"}, (age, specialty)
        else:
            assert specialty != "Pediatria"
        assert specialty != "Medicina Intensiva"  # no outpatient clinic in the ICU


def test_appointment_reasons_belong_to_the_doctor_specialty(data: dict[str, Rows]) -> None:
    reasons = {s.name: set(s.motivos.texts.tolist()) for s in ESPECIALIDADES}
    doctors = by_id(data, "medicos")
    motivos: Counter[str] = Counter()
    for c in by_id(data, "consultas").values():
        assert c["motivo"] in reasons[doctors[c["medico_id"]]["especialidade"]]
        motivos[c["motivo"]] += 1
    assert len(motivos) > 40


def test_past_appointment_ids_follow_their_dates(data: dict[str, Rows]) -> None:
    past = [c["data"] for c in by_id(data, "consultas").values() if c["status"] != "agendada"]
    assert past == sorted(past)
    assert past[-1] > PAST_LIMIT - dt.timedelta(days=30)  # the history reaches the present


# --- exames ------------------------------------------------------------------------------


def test_exams_are_between_registration_and_yesterday(data: dict[str, Rows]) -> None:
    since = registered(data)
    for e in by_id(data, "exames").values():
        assert since[e["paciente_id"]] < e["data"] <= PAST_LIMIT


def test_only_the_most_recent_exams_are_pending(data: dict[str, Rows]) -> None:
    exams = by_id(data, "exames").values()
    pending = [e["data"] for e in exams if e["resultado"] is None]
    done = [e["data"] for e in exams if e["resultado"] is not None]
    assert 0.10 <= len(pending) / DEFAULTS.exames <= 0.20
    assert max(done) < min(pending)
    assert min(pending) >= PAST_LIMIT - dt.timedelta(days=22)


def test_exam_types_are_common_and_results_read_right(data: dict[str, Rows]) -> None:
    types = Counter(column(data, "exames", "tipo_exame"))
    assert set(types) <= set(EXAMES.texts.tolist())
    assert types.most_common(1)[0][0] == "Hemograma completo"
    patterns = {
        "Hemograma completo": r"Hb \d+,\d g/dL; leucócitos [\d.]+/mm³; plaquetas [\d.]+/mm³ - .+",
        "Glicemia de jejum": (
            r"\d+ mg/dL \((normal|glicemia de jejum alterada|compatível com diabetes)\)"
        ),
        "Mamografia": r"BI-RADS \d - .+",
    }
    for e in by_id(data, "exames").values():
        if e["resultado"] is not None and e["tipo_exame"] in patterns:
            assert re.fullmatch(patterns[e["tipo_exame"]], e["resultado"]), e


def test_sex_and_age_specific_exams_go_to_plausible_patients(data: dict[str, Rows]) -> None:
    patients = by_id(data, "pacientes")
    for e in by_id(data, "exames").values():
        age = (e["data"].date() - patients[e["paciente_id"]]["nascimento"]).days / 365.25
        if e["tipo_exame"] in ("Mamografia", "PSA total"):
            assert age >= 40
        if e["tipo_exame"] == "Beta-HCG":
            assert 12 <= age < 51


# --- internacoes -------------------------------------------------------------------------


def test_stays_start_after_registration_and_before_yesterday(data: dict[str, Rows]) -> None:
    since = registered(data)
    for s in by_id(data, "internacoes").values():
        assert since[s["paciente_id"]] < s["data_entrada"] <= PAST_LIMIT
        if s["data_saida"] is not None:
            assert s["data_entrada"] <= s["data_saida"] <= PAST_LIMIT


def test_a_patient_has_at_most_one_current_stay_and_stays_never_overlap(
    data: dict[str, Rows],
) -> None:
    stays: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in by_id(data, "internacoes").values():
        stays[s["paciente_id"]].append(s)
    current = 0
    for patient_stays in stays.values():
        patient_stays.sort(key=lambda s: s["data_entrada"])
        open_stays = [s for s in patient_stays if s["data_saida"] is None]
        assert len(open_stays) <= 1
        if open_stays:
            assert open_stays[0] is patient_stays[-1]
        for before, after in pairwise(patient_stays):
            assert before["data_saida"] is not None
            assert before["data_saida"] < after["data_entrada"]
        current += len(open_stays)
    assert 1 <= current <= 0.1 * DEFAULTS.internacoes  # a few patients are in hospital now


def test_current_stays_started_recently(data: dict[str, Rows]) -> None:
    for s in by_id(data, "internacoes").values():
        if s["data_saida"] is None:
            assert s["data_entrada"] >= PAST_LIMIT - dt.timedelta(days=120)


def test_stay_reasons_and_rooms_fit_the_patient(data: dict[str, Rows]) -> None:
    patients = by_id(data, "pacientes")
    known = set(MOTIVOS_INTERNACAO.texts.tolist())
    lengths = []
    for s in by_id(data, "internacoes").values():
        age = (s["data_entrada"].date() - patients[s["paciente_id"]]["nascimento"]).days / 365.25
        assert s["motivo"] in known
        assert re.fullmatch(r"(Enf|Apto|Ped|Mat)-\d{3}|UTI-\d{2}", s["quarto"]), s["quarto"]
        if s["motivo"].startswith("Parto"):
            assert 14 <= age < 46 and s["quarto"].startswith(("Mat", "UTI"))
        if s["quarto"].startswith("Ped"):
            assert age < 14
        if s["data_saida"] is not None:
            lengths.append((s["data_saida"] - s["data_entrada"]) / DAY)
    mean = sum(lengths) / len(lengths)
    assert 3 <= mean <= 8  # SIH/SUS: about five days on average


def test_stay_ids_follow_admission_time(data: dict[str, Rows]) -> None:
    entradas = column(data, "internacoes", "data_entrada")
    out_of_order = sum(b < a for a, b in pairwise(entradas))
    assert out_of_order <= 2


# --- determinism, chunking, ids ----------------------------------------------------------


def test_same_arguments_give_the_same_rows(data: dict[str, Rows]) -> None:
    assert collect() == data


def test_a_different_seed_gives_different_data(data: dict[str, Rows]) -> None:
    other = collect(seed=8)
    for table in TABLES:
        assert other[table] != data[table], table


def test_chunk_size_does_not_change_the_rows(data: dict[str, Rows]) -> None:
    assert collect(chunk_rows=333) == data


def test_foreign_keys_follow_first_ids() -> None:
    volumes = Volumes(3, 5, 40, 50, 60, 50, 20)
    first = {"convenios": 3, "medicos": 11, "pacientes": 1001, "consultas": 501}
    data = collect(volumes, first_ids=first)
    patients = set(range(1001, 1041))
    assert {r[0] for r in data["pacientes"]} == patients
    assert {r[1] for r in data["pacientes_convenios"]} <= patients
    assert {r[2] for r in data["pacientes_convenios"]} <= set(range(1, 6))
    assert {r[1] for r in data["consultas"]} <= patients
    assert {r[2] for r in data["consultas"]} <= set(range(11, 16))
    assert data["consultas"][0][0] == 501
    assert {r[1] for r in data["exames"] + data["internacoes"]} <= patients


def test_rules_hold_for_an_anchor_in_the_middle_of_the_day() -> None:
    anchor = dt.datetime(2025, 3, 1, 15, 42, 7)
    data = collect(Volumes(3, 10, 200, 250, 400, 350, 120), anchor=anchor)
    limit = anchor - dt.timedelta(days=1)
    for row in data["pacientes"]:
        assert row[6] <= limit
    for row in data["consultas"]:
        assert row[3] <= limit if row[5] != "agendada" else row[3] >= anchor + DAY
    assert all(row[3] <= limit for row in data["exames"])
    assert all(
        row[2] <= limit and (row[3] is None or row[3] <= limit) for row in data["internacoes"]
    )


def test_tiny_and_empty_volumes_work() -> None:
    assert collect(Volumes(0, 0, 0, 0, 0, 0, 0)) == {}
    tiny = collect(Volumes(1, 1, 1, 1, 1, 1, 1), first_ids=None)
    assert {t: len(rows) for t, rows in tiny.items()} == dict.fromkeys(TABLES, 1)


@pytest.mark.parametrize(
    ("volumes", "kwargs", "message"),
    [
        (Volumes(1, 0, 5, 0, 3, 0, 0), {}, "without medicos"),
        (Volumes(1, 1, 0, 0, 0, 2, 0), {}, "without pacientes"),
        (Volumes(1, 1, 3, 0, 0, 0, 31), {}, "stays per paciente"),
        (Volumes(1, 1, 2, 5, 0, 0, 0), {"first_ids": None}, "distinct"),
        (DEFAULTS, {"anchor": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}, "naive"),
        (DEFAULTS, {"seed": -1}, "seed"),
        (DEFAULTS, {"chunk_rows": 0}, "chunk_rows"),
        (DEFAULTS, {"first_ids": {"doctors": 3}}, "unknown tables"),
        (DEFAULTS, {"first_ids": {"medicos": 899_900}}, "documents exist for ids up to"),
    ],
)
def test_impossible_requests_fail_before_generating(
    volumes: Volumes, kwargs: dict[str, Any], message: str
) -> None:
    kwargs = {"seed": 1, "anchor": ANCHOR, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_tables(volumes, **kwargs)


def test_negative_volumes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Volumes\.exames"):
        Volumes(1, 1, 1, 1, 1, -1, 1)
