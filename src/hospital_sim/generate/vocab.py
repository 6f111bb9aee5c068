"""Weighted vocabularies, some terms restricted by sex or age, and how to draw from them."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.draw import pick, weighted

ANY_AGE = (0, 120)


@dataclass(frozen=True, slots=True)
class Term:
    """One entry of a vocabulary: its text, relative weight and who it can apply to."""

    text: str
    weight: float
    sex: str | None = None  # "F" or "M" when the term only fits one sex
    min_age: int = ANY_AGE[0]
    max_age: int = ANY_AGE[1]

    @property
    def unrestricted(self) -> bool:
        return self.sex is None and (self.min_age, self.max_age) == ANY_AGE


class Vocabulary:
    """Terms drawn in proportion to their weights, among those that fit the person.

    Bulk draws (numpy) honour sex and age; single draws for the live stream, where the
    person is unknown, use only the unrestricted terms.

    People fall into classes (sex x age band between the terms' age limits) within
    which the same terms fit. Each class's cumulative weights are stored shifted by the
    class number, so one search over a single sorted array draws a fitting term for
    every row at once.
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms = tuple(terms)
        if not self.terms:
            raise ValueError("a vocabulary needs at least one term")
        self.texts: npt.NDArray[np.object_] = np.array([t.text for t in self.terms], dtype=object)
        weights = np.array([t.weight for t in self.terms], dtype=np.float64)
        self._cum = np.cumsum(weights) / weights.sum()
        limits = {t.min_age for t in self.terms} | {t.max_age + 1 for t in self.terms}
        self._age_edges = np.array(sorted(limits), dtype=np.float64)
        flat_cum, flat_term = [], []
        for klass, (sex, age) in enumerate(self._classes()):
            fits = np.array(
                [t.sex in (None, sex) and t.min_age <= age <= t.max_age for t in self.terms]
            )
            if not fits.any():  # nobody like this in the vocabulary: ignore who they are
                fits[:] = True
            members = np.flatnonzero(fits)
            cum = np.cumsum(weights[members]) / weights[members].sum()
            cum[-1] = 1.0  # exact, so each class ends at exactly klass + 1
            flat_cum.append(klass + cum)
            flat_term.append(members)
        self._flat_cum = np.concatenate(flat_cum)
        self._flat_term: npt.NDArray[np.intp] = np.concatenate(flat_term)
        self._class_last: npt.NDArray[np.intp] = np.cumsum([c.size for c in flat_cum]) - 1
        open_terms = [t for t in self.terms if t.unrestricted] or list(self.terms)
        self._open_texts = [t.text for t in open_terms]
        self._open_cum = list(accumulate(t.weight for t in open_terms))

    def _classes(self) -> list[tuple[str, float]]:
        """(sex, youngest age) of each class; women first, then men."""
        youngest = [0.0, *self._age_edges.tolist()]
        return [(sex, age) for sex in ("F", "M") for age in youngest]

    def __len__(self) -> int:
        return len(self.terms)

    def sample(
        self,
        rng: np.random.Generator,
        n: int,
        *,
        female: npt.NDArray[np.bool_] | None = None,
        age: npt.NDArray[np.float64] | None = None,
    ) -> npt.NDArray[np.intp]:
        """Indexes of ``n`` terms; row i fits ``female[i]`` and ``age[i]`` (years).

        Without ``female`` and ``age`` every term may be drawn.
        """
        u = rng.random(n)
        if female is None or age is None:
            return pick(self._cum, u, len(self.terms) - 1)
        bands = self._age_edges.size + 1
        klass = np.where(female, 0, bands) + np.searchsorted(self._age_edges, age, side="right")
        found = np.searchsorted(self._flat_cum, klass + u, side="right")
        # klass + u can round up to klass + 1: stay on the class's last term.
        return self._flat_term[np.minimum(found, self._class_last[klass])]

    def text_list(self, idx: npt.NDArray[np.intp]) -> list[str]:
        """The texts of drawn indexes, as Python strings."""
        texts: list[str] = self.texts[idx].tolist()
        return texts

    def pick(self, rng: random.Random) -> str:
        """One unrestricted term, for callers that don't know who it applies to."""
        return weighted(rng, self._open_texts, self._open_cum)


def vocabulary(*entries: tuple[str, float] | Term) -> Vocabulary:
    """A Vocabulary from (text, weight) pairs and Terms."""
    return Vocabulary(e if isinstance(e, Term) else Term(*e) for e in entries)


@dataclass(frozen=True, slots=True)
class Specialty:
    """A medical specialty: how common it is, whom it sees and why they come."""

    name: str
    weight: float
    motivos: Vocabulary
    sex: str | None = None
    min_age: int = ANY_AGE[0]
    max_age: int = ANY_AGE[1]
    # Share of a doctor's working time spent on outpatient consultations, relative to a
    # clinician's: surgeons operate, anaesthetists mostly work in theatre, ICU staff never
    # hold a clinic.
    clinic_share: float = 1.0


# Follow-up visits are a large share of every outpatient agenda.
_FOLLOW_UP = (Term("Retorno", 3.0), Term("Avaliação de resultado de exames", 1.2))


def _specialty(
    name: str,
    weight: float,
    *motivos: Term,
    sex: str | None = None,
    min_age: int = ANY_AGE[0],
    max_age: int = ANY_AGE[1],
    clinic_share: float = 1.0,
) -> Specialty:
    motivos_all = Vocabulary((*motivos, *_FOLLOW_UP))
    return Specialty(name, weight, motivos_all, sex, min_age, max_age, clinic_share)


def term(text: str, weight: float, sex: str | None = None, ages: tuple[int, int] = ANY_AGE) -> Term:
    """Shorthand for a Term restricted to ``sex`` and the inclusive age range ``ages``."""
    return Term(text, weight, sex, ages[0], ages[1])


_ADULT = (18, 120)

# Specialist titles held by doctors in Brazil, in thousands: CFM/FMUSP, Demografia Médica
# no Brasil 2023 (rounded; specialties that see no patients in a consulting room, such as
# radiology and occupational medicine, are left out). Reasons for consultation within each
# specialty are our estimates of their relative frequency, not published figures.
ESPECIALIDADES: tuple[Specialty, ...] = (
    _specialty(
        "Clínica Médica", 57,
        term("Check-up anual", 3, ages=_ADULT),
        term("Hipertensão arterial - acompanhamento", 4, ages=(30, 120)),
        term("Diabetes mellitus tipo 2 - acompanhamento", 3, ages=(30, 120)),
        term("Dislipidemia - acompanhamento", 1.5, ages=(30, 120)),
        term("Febre a esclarecer", 1), term("Dor abdominal", 1.5), term("Cefaleia", 1.5),
        term("Tosse persistente", 1), term("Renovação de receita", 2, ages=_ADULT),
        min_age=15,
    ),
    _specialty(
        "Pediatria", 49,
        term("Puericultura", 4, ages=(0, 2)), term("Consulta pediátrica de rotina", 3),
        term("Febre", 2), term("Tosse e coriza", 2), term("Diarreia aguda", 1), term("Otite", 1),
        term("Asma - acompanhamento", 1, ages=(2, 17)),
        max_age=14,
    ),
    _specialty(
        "Cirurgia Geral", 46,
        term("Avaliação pré-operatória", 3), term("Hérnia inguinal", 2), term("Colelitíase", 2),
        term("Retorno pós-operatório", 3),
        term("Nódulo subcutâneo", 1), term("Hérnia umbilical", 1),
        min_age=15,
        clinic_share=0.5,
    ),
    _specialty(
        "Ginecologia e Obstetrícia", 37,
        term("Consulta ginecológica de rotina", 4),
        term("Exame preventivo (Papanicolau)", 3, ages=(25, 64)),
        term("Pré-natal", 4, ages=(15, 45)), term("Corrimento vaginal", 1.5),
        term("Planejamento familiar", 1.5, ages=(15, 49)),
        term("Sintomas do climatério", 1.5, ages=(45, 65)), term("Dor pélvica", 1),
        sex="F", min_age=15,
    ),
    _specialty(
        "Anestesiologia", 31, term("Avaliação pré-anestésica", 10), min_age=1, clinic_share=0.1,
    ),
    _specialty(
        "Ortopedia e Traumatologia", 21,
        term("Dor lombar", 3), term("Dor no joelho", 2.5), term("Entorse de tornozelo", 1.5),
        term("Dor no ombro", 1.5), term("Controle pós-fratura", 2),
        term("Osteoartrose - acompanhamento", 1.5, ages=(45, 120)), term("Tendinite", 1),
        min_age=15,
    ),
    _specialty(
        "Cardiologia", 19,
        term("Hipertensão arterial - acompanhamento", 4, ages=(25, 120)), term("Dor torácica", 2),
        term("Palpitações", 1.5), term("Risco cirúrgico cardiológico", 2),
        term("Insuficiência cardíaca - acompanhamento", 1.5, ages=(40, 120)),
        term("Arritmia - acompanhamento", 1),
        min_age=15,
    ),
    _specialty(
        "Oftalmologia", 17,
        term("Consulta oftalmológica de rotina", 3), term("Baixa acuidade visual", 2),
        term("Conjuntivite", 1), term("Catarata - avaliação", 1.5, ages=(50, 120)),
        term("Glaucoma - acompanhamento", 1, ages=(40, 120)), term("Atualização de grau", 2),
        min_age=15,
    ),
    _specialty(
        "Psiquiatria", 13,
        term("Ansiedade", 3), term("Depressão - acompanhamento", 3), term("Insônia", 1.5),
        term("Transtorno bipolar - acompanhamento", 1), term("Renovação de receita", 2),
        min_age=15,
    ),
    _specialty(
        "Dermatologia", 11,
        term("Acne", 2, ages=(12, 40)), term("Dermatite", 2), term("Avaliação de nevos", 2),
        term("Micose de pele", 1.5),
        term("Queda de cabelo", 1.5), term("Psoríase - acompanhamento", 1),
        min_age=15,
    ),
    _specialty(
        "Medicina de Família e Comunidade", 10,
        term("Consulta de rotina", 4),
        term("Hipertensão arterial - acompanhamento", 3, ages=(30, 120)),
        term("Diabetes mellitus tipo 2 - acompanhamento", 2, ages=(30, 120)),
        term("Dor lombar", 1), term("Infecção de vias aéreas superiores", 1.5),
        term("Renovação de receita", 2, ages=_ADULT),
        min_age=15,
    ),
    _specialty("Medicina Intensiva", 9, term("Visita pós-alta da UTI", 1), clinic_share=0),
    _specialty(
        "Otorrinolaringologia", 8,
        term("Sinusite", 2), term("Otite", 1.5),
        term("Rinite alérgica", 2), term("Perda auditiva", 1),
        term("Amigdalite de repetição", 1), term("Zumbido", 1),
        min_age=15,
    ),
    _specialty(
        "Neurologia", 7,
        term("Cefaleia", 2),
        term("Enxaqueca - acompanhamento", 2), term("Epilepsia - acompanhamento", 1),
        term("Tontura", 1.5), term("Sequela de AVC - acompanhamento", 1, ages=(40, 120)),
        term("Parestesia em membros", 1),
        min_age=15,
    ),
    _specialty(
        "Urologia", 7,
        term("Avaliação prostática", 3, "M", (40, 120)), term("Cálculo renal", 2),
        term("Infecção urinária de repetição", 1.5),
        term("Hiperplasia prostática - acompanhamento", 2, "M", (50, 120)),
        term("Disfunção erétil", 1, "M", (30, 120)), term("Incontinência urinária", 1),
        min_age=15,
    ),
    _specialty(
        "Cirurgia Plástica", 7,
        term("Avaliação para cirurgia plástica", 3, ages=_ADULT), term("Retorno pós-operatório", 2),
        term("Cicatriz hipertrófica", 1),
        min_age=15,
        clinic_share=0.5,
    ),
    _specialty(
        "Endocrinologia e Metabologia", 6,
        term("Diabetes mellitus - acompanhamento", 3),
        term("Hipotireoidismo - acompanhamento", 2.5),
        term("Obesidade", 2), term("Nódulo de tireoide", 1),
        term("Osteoporose - acompanhamento", 1, ages=(50, 120)),
        min_age=15,
    ),
    _specialty(
        "Gastroenterologia", 6,
        term("Dispepsia", 2), term("Refluxo gastroesofágico", 2), term("Dor abdominal", 1.5),
        term("Constipação intestinal", 1), term("Avaliação para endoscopia", 1),
        min_age=15,
    ),
    _specialty(
        "Nefrologia", 5,
        term("Doença renal crônica - acompanhamento", 3),
        term("Hipertensão arterial - acompanhamento", 1.5, ages=(25, 120)),
        term("Cálculo renal", 1),
        term("Alteração de função renal", 1.5),
        min_age=15,
    ),
    _specialty(
        "Pneumologia", 4,
        term("Asma - acompanhamento", 2), term("DPOC - acompanhamento", 2, ages=(40, 120)),
        term("Tosse crônica", 1.5), term("Dispneia", 1.5), term("Avaliação de nódulo pulmonar", 1),
        min_age=15,
    ),
    _specialty(
        "Infectologia", 4,
        term("HIV - acompanhamento", 2.5), term("Hepatite viral - acompanhamento", 1.5),
        term("Febre a esclarecer", 1), term("Profilaxia pós-exposição", 1),
        min_age=15,
    ),
    _specialty(
        "Oncologia Clínica", 4,
        term("Acompanhamento oncológico", 3), term("Avaliação para quimioterapia", 2),
        term("Resultado de biópsia", 1.5),
        min_age=15,
    ),
    _specialty(
        "Cirurgia Vascular", 4,
        term("Varizes de membros inferiores", 3), term("Insuficiência venosa", 1.5),
        term("Pé diabético", 1, ages=(30, 120)),
        term("Doença arterial periférica", 1, ages=(50, 120)),
        min_age=15,
        clinic_share=0.5,
    ),
    _specialty(
        "Hematologia e Hemoterapia", 3,
        term("Anemia - investigação", 2),
        term("Plaquetopenia", 1), term("Controle de anticoagulação", 1.5),
        min_age=15,
    ),
    _specialty(
        "Reumatologia", 3,
        term("Artrite reumatoide - acompanhamento", 2), term("Dor articular", 2),
        term("Lúpus - acompanhamento", 1), term("Fibromialgia", 1.5), term("Gota", 1),
        min_age=15,
    ),
    _specialty(
        "Geriatria", 2.5,
        term("Avaliação geriátrica ampla", 3), term("Demência - acompanhamento", 1.5),
        term("Quedas de repetição", 1), term("Revisão de medicamentos", 1.5),
        min_age=60,
    ),
    _specialty(
        "Mastologia", 2,
        term("Nódulo mamário", 2), term("Rastreamento de câncer de mama", 2, ages=(40, 120)),
        term("Dor mamária", 1), term("Resultado de mamografia", 1.5, ages=(40, 120)),
        sex="F", min_age=18,
    ),
)  # fmt: skip

# Reasons for a consultation whose doctor is unknown (live stream inserts).
MOTIVOS_CONSULTA_GERAL = vocabulary(
    ("Consulta de rotina", 4), ("Retorno", 4), ("Avaliação de resultado de exames", 2),
    ("Dor lombar", 1.5), ("Cefaleia", 1.2), ("Febre", 1), ("Dor abdominal", 1),
    ("Infecção de vias aéreas superiores", 1.2), ("Ansiedade", 1), ("Dor no joelho", 0.8),
    ("Avaliação pré-operatória", 1), ("Renovação de receita", 1.5),
)  # fmt: skip

# Outcome of a past appointment, as shares of all appointments; the remaining 15% are
# still scheduled (agendada). No-show rates of 10-30% are common in Brazilian outpatient
# clinics; a hospital clinic with reminders sits at the low end.
STATUS_PASSADO: dict[str, float] = {"realizada": 70.0, "cancelada": 8.0, "faltou": 7.0}

# Most frequent diagnostic tests in SUS outpatient production: DATASUS SIA/SUS, group
# 02.02 (clinical laboratory) and 02.04-02.11 (imaging, ECG), relative volumes rounded.
EXAMES = vocabulary(
    ("Hemograma completo", 18), ("Glicemia de jejum", 14), ("Colesterol total e frações", 10),
    ("Creatinina", 9), ("Urina tipo I (EAS)", 8), ("Ureia", 5), ("TSH", 5),
    ("Raio-X de tórax", 5), ("Eletrocardiograma", 5), ("Transaminases (TGO/TGP)", 4),
    term("Hemoglobina glicada (HbA1c)", 4, ages=(15, 120)), ("Potássio", 3),
    ("Proteína C reativa", 3), ("Urocultura", 3), ("Ultrassonografia de abdome total", 3),
    term("Mamografia", 3, "F", (40, 120)), term("PSA total", 3, "M", (45, 120)),
    term("Beta-HCG", 1.5, "F", (12, 50)), ("Ferritina", 2), ("Vitamina D (25-OH)", 2),
    term("Ecocardiograma", 1.5, ages=(18, 120)), term("Tomografia de crânio", 1, ages=(5, 120)),
)  # fmt: skip

# Causes of hospital admission in SUS: DATASUS SIH/SUS, admissions by ICD-10 chapter
# (Brazil, 2023): pregnancy and childbirth lead (~20% of all admissions, and most of those
# of women aged 15-44), then respiratory, circulatory and digestive diseases, injuries,
# infections, genitourinary diseases and cancer. The weights spread each chapter's share
# over its most frequent causes (rounded); weights compare terms that fit the same person.
MOTIVOS_INTERNACAO = vocabulary(
    term("Parto normal", 60, "F", (14, 45)), term("Parto cesáreo", 50, "F", (14, 45)),
    term("Aborto espontâneo", 8, "F", (14, 45)),
    ("Pneumonia", 6), term("Bronquiolite", 1.5, ages=(0, 2)), ("Crise asmática", 1),
    term("DPOC exacerbada", 1.5, ages=(40, 120)), ("COVID-19", 1),
    term("Insuficiência cardíaca descompensada", 3, ages=(40, 120)),
    term("Infarto agudo do miocárdio", 2, ages=(35, 120)),
    term("Acidente vascular cerebral", 2.5, ages=(40, 120)),
    term("Crise hipertensiva", 1, ages=(25, 120)),
    term("Colecistite aguda", 2.5, ages=(15, 120)), term("Apendicite aguda", 1.5, ages=(5, 70)),
    term("Hérnia inguinal - cirurgia eletiva", 2, ages=(1, 120)), ("Gastroenterite aguda", 2),
    term("Fratura de fêmur", 1.5, ages=(60, 120)), ("Fratura de membro superior", 2),
    ("Traumatismo cranioencefálico", 1.2), ("Infecção do trato urinário", 2),
    ("Pielonefrite", 1), ("Sepse", 2), ("Celulite infecciosa", 1.2), ("Dengue grave", 0.8),
    term("Diabetes descompensado", 1.2, ages=(10, 120)),
    term("Insuficiência renal aguda", 1, ages=(18, 120)),
    term("Neoplasia - quimioterapia", 2, ages=(18, 120)),
    term("Neoplasia - cirurgia oncológica", 1.5, ages=(18, 120)),
)  # fmt: skip

# Health plans (ANS, Agência Nacional de Saúde Suplementar): coverage segments of the
# plan and its geographic reach. Brand names are invented; no real operator is implied.
COBERTURA_SEGMENTOS = vocabulary(
    ("Ambulatorial + Hospitalar com obstetrícia", 5), ("Ambulatorial", 2),
    ("Hospitalar com obstetrícia", 1.5), ("Hospitalar sem obstetrícia", 1),
    ("Referência", 1), ("Ambulatorial + Hospitalar sem obstetrícia", 1.5),
)  # fmt: skip
COBERTURA_ABRANGENCIA = vocabulary(
    ("Nacional", 4), ("Estadual", 3), ("Grupo de municípios", 2), ("Municipal", 1),
)  # fmt: skip
CONVENIO_TIPOS = vocabulary(("privado", 6), ("empresarial", 3), ("publico", 1))
CONVENIO_MARCAS = (
    "Vida Plena", "Santa Clara", "Horizonte", "Bem Viver", "Aliança", "Vale Verde",
    "Serra Azul", "Boa Esperança", "Nova Aurora", "Cruzeiro", "Primavera", "Solar",
    "Atlântico", "Ipê", "Jequitibá", "Paineira", "Sempre Viva", "Rio Claro", "Estrela",
    "Mar Aberto", "Guarani", "Pantanal", "Cerrado", "Litoral", "Central", "Planalto",
    "Aurora", "Bandeirante", "Harmonia", "Equilíbrio",
)  # fmt: skip
CONVENIO_FORMATOS: dict[str, tuple[str, ...]] = {
    "privado": ("{marca} Saúde", "{marca} Assistência Médica", "Plano {marca}",
                "{marca} Medicina de Grupo", "Cooperativa Médica {marca}"),
    "empresarial": ("Caixa de Assistência {marca}", "{marca} Autogestão em Saúde",
                    "Fundação {marca} de Seguridade", "Associação Beneficente {marca}"),
    "publico": ("Instituto de Assistência ao Servidor Municipal de {cidade}",
                "Plano de Saúde do Servidor Público Estadual - {uf}"),
}  # fmt: skip
