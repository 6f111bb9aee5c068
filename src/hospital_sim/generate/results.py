"""Exam result texts: values around the population's usual ranges, read by a doctor.

Reference ranges are the usual adult ones printed on Brazilian lab reports. Most results
are normal; a minority are abnormal in the direction common in outpatients (high glucose
and lipids, mild anaemia).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from itertools import accumulate

import numpy as np
import numpy.typing as npt

from hospital_sim.generate.draw import weighted

Result = Callable[[random.Random], str]


def _dec(value: float, places: int = 1) -> str:
    """A decimal number written the Brazilian way: 13,8."""
    return f"{value:.{places}f}".replace(".", ",")


def _thousands(value: float) -> str:
    """A whole number with Brazilian thousands separators: 245.000."""
    return f"{round(value):,}".replace(",", ".")


def _pick(rng: random.Random, texts: list[str], cum: list[float]) -> str:
    return weighted(rng, texts, cum)


def _hemograma(rng: random.Random) -> str:
    hb = max(6.5, rng.gauss(13.6, 1.6))
    wbc = max(1_800.0, rng.gauss(7_200, 2_100))
    plt = max(40_000.0, rng.gauss(250_000, 65_000))
    findings = [
        text
        for text, present in (
            ("anemia", hb < 12.0),
            ("leucocitose", wbc > 11_000),
            ("leucopenia", wbc < 4_000),
            ("plaquetopenia", plt < 150_000),
        )
        if present
    ]
    verdict = ", ".join(findings) if findings else "sem alterações"
    return (
        f"Hb {_dec(hb)} g/dL; leucócitos {_thousands(round(wbc, -2))}/mm³; "
        f"plaquetas {_thousands(round(plt, -3))}/mm³ - {verdict}"
    )


def _glicemia(rng: random.Random) -> str:
    band = rng.random()
    value = (
        rng.gauss(88, 7)
        if band < 0.8
        else rng.uniform(100, 125)
        if band < 0.92
        else rng.uniform(126, 260)
    )
    if value < 100:
        verdict = "normal"
    elif value < 126:
        verdict = "glicemia de jejum alterada"
    else:
        verdict = "compatível com diabetes"
    return f"{round(value)} mg/dL ({verdict})"


def _lipidios(rng: random.Random) -> str:
    hdl = max(25.0, rng.gauss(50, 12))
    tg = max(40.0, rng.lognormvariate(4.9, 0.4))
    ldl = max(40.0, rng.gauss(120, 32))
    total = hdl + ldl + tg / 5
    verdict = "LDL elevado" if ldl >= 160 else "dentro das metas" if ldl < 130 else "LDL limítrofe"
    return (
        f"CT {round(total)} mg/dL; HDL {round(hdl)}; LDL {round(ldl)}; "
        f"TG {round(tg)} mg/dL - {verdict}"
    )


def _ranged(
    name: str, mean: float, sd: float, low: float, high: float, unit: str, places: int = 1
) -> Result:
    def result(rng: random.Random) -> str:
        value = max(mean / 5, rng.gauss(mean, sd))
        verdict = "baixo" if value < low else "elevado" if value > high else "normal"
        return f"{name} {_dec(value, places)} {unit} ({verdict})"

    return result


def _skewed(name: str, mu: float, sigma: float, high: float, unit: str) -> Result:
    def result(rng: random.Random) -> str:
        value = rng.lognormvariate(mu, sigma)
        verdict = "elevado" if value > high else "normal"
        return f"{name} {_dec(value, 2)} {unit} ({verdict})"

    return result


def _categorical(options: dict[str, float]) -> Result:
    texts, cum = list(options), list(accumulate(options.values()))

    def result(rng: random.Random) -> str:
        return _pick(rng, texts, cum)

    return result


def _hba1c(rng: random.Random) -> str:
    value = rng.gauss(5.5, 0.4) if rng.random() < 0.8 else rng.uniform(6.5, 10.5)
    verdict = "normal" if value < 5.7 else "pré-diabetes" if value < 6.5 else "diabetes"
    return f"HbA1c {_dec(value)}% ({verdict})"


def _tgo_tgp(rng: random.Random) -> str:
    tgo, tgp = max(8.0, rng.gauss(24, 9)), max(6.0, rng.gauss(27, 12))
    verdict = "elevadas" if max(tgo, tgp) > 40 else "normais"
    return f"TGO {round(tgo)} U/L; TGP {round(tgp)} U/L ({verdict})"


def _vitamina_d(rng: random.Random) -> str:
    value = max(5.0, rng.gauss(28, 9))
    verdict = "deficiência" if value < 20 else "insuficiência" if value < 30 else "suficiente"
    return f"25-OH vitamina D {_dec(value)} ng/mL ({verdict})"


def _eco(rng: random.Random) -> str:
    fe = min(78.0, max(20.0, rng.gauss(61, 7)))
    verdict = "função sistólica preservada" if fe >= 50 else "disfunção sistólica"
    return f"FEVE {round(fe)}% - {verdict}"


def _beta_hcg(rng: random.Random) -> str:
    if rng.random() < 0.75:
        return "Negativo (< 5 mUI/mL)"
    return f"Positivo ({_thousands(rng.lognormvariate(8.5, 1.5))} mUI/mL)"


RESULTS: dict[str, Result] = {
    "Hemograma completo": _hemograma,
    "Glicemia de jejum": _glicemia,
    "Colesterol total e frações": _lipidios,
    "Creatinina": _ranged("Creatinina", 0.95, 0.22, 0.6, 1.3, "mg/dL", 2),
    "Urina tipo I (EAS)": _categorical({
        "Sem alterações": 75, "Leucocitúria e bacteriúria - sugestivo de infecção urinária": 12,
        "Proteinúria +": 5, "Hematúria discreta": 5, "Glicosúria ++": 3,
    }),
    "Ureia": _ranged("Ureia", 32, 9, 15, 45, "mg/dL", 0),
    "TSH": _skewed("TSH", 0.7, 0.55, 4.5, "µUI/mL"),
    "Raio-X de tórax": _categorical({
        "Sem alterações": 70, "Opacidade em base direita - sugestivo de pneumonia": 10,
        "Área cardíaca aumentada": 8, "Sinais de hiperinsuflação pulmonar": 7,
        "Derrame pleural à esquerda": 5,
    }),
    "Eletrocardiograma": _categorical({
        "Ritmo sinusal, sem alterações": 72, "Taquicardia sinusal": 8,
        "Bloqueio de ramo direito": 6, "Sobrecarga ventricular esquerda": 8,
        "Fibrilação atrial": 6,
    }),
    "Transaminases (TGO/TGP)": _tgo_tgp,
    "Hemoglobina glicada (HbA1c)": _hba1c,
    "Potássio": _ranged("Potássio", 4.3, 0.45, 3.5, 5.1, "mEq/L"),
    "Proteína C reativa": _skewed("PCR", 0.6, 1.1, 5.0, "mg/L"),
    "Urocultura": _categorical({
        "Negativa": 75, "Positiva: Escherichia coli > 100.000 UFC/mL": 15,
        "Positiva: Klebsiella pneumoniae > 100.000 UFC/mL": 5,
        "Positiva: Proteus mirabilis > 100.000 UFC/mL": 3,
        "Positiva: Enterococcus faecalis > 100.000 UFC/mL": 2,
    }),
    "Ultrassonografia de abdome total": _categorical({
        "Sem alterações": 55, "Esteatose hepática leve": 20, "Colelitíase": 10,
        "Cisto renal simples à direita": 8, "Esteatose hepática moderada": 7,
    }),
    "Mamografia": _categorical({
        "BI-RADS 1 - negativo": 50, "BI-RADS 2 - achados benignos": 35,
        "BI-RADS 3 - provavelmente benigno": 10,
        "BI-RADS 0 - necessita avaliação adicional": 4,
        "BI-RADS 4 - suspeito, biópsia indicada": 1,
    }),
    "PSA total": _skewed("PSA", 0.2, 0.8, 4.0, "ng/mL"),
    "Beta-HCG": _beta_hcg,
    "Ferritina": _ranged("Ferritina", 120, 70, 15, 300, "ng/mL", 0),
    "Vitamina D (25-OH)": _vitamina_d,
    "Ecocardiograma": _eco,
    "Tomografia de crânio": _categorical({
        "Sem alterações": 80, "Sinais de microangiopatia": 10,
        "Atrofia cortical compatível com a idade": 10,
    }),
}  # fmt: skip

GENERIC_RESULT = "Dentro dos valores de referência"


def result_for(tipo_exame: str, rng: random.Random) -> str:
    """A result text for ``tipo_exame``; a generic one for exam types we don't model."""
    make = RESULTS.get(tipo_exame)
    return make(rng) if make else GENERIC_RESULT


def result_pools(
    tipos: tuple[str, ...], rng: random.Random, size: int
) -> list[npt.NDArray[np.object_]]:
    """``size`` results per exam type, to draw bulk results from by index."""
    return [np.array([result_for(t, rng) for _ in range(size)], dtype=object) for t in tipos]
