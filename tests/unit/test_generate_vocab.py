"""Weighted vocabularies: draws fit the person and follow the cited weights."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from hospital_sim.generate.people import DAYS_PER_YEAR, FEMALE_SHARE, draw_ages_days
from hospital_sim.generate.vocab import (
    ESPECIALIDADES,
    EXAMES,
    MOTIVOS_INTERNACAO,
    Term,
    Vocabulary,
    vocabulary,
)

N = 40_000


def _people(seed: int, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    """Sexes and ages (years) of a population shaped like Brazil's."""
    rng = np.random.default_rng(seed)
    return rng.random(n) < FEMALE_SHARE, draw_ages_days(rng, n) / DAYS_PER_YEAR


def _fits(term: Term, female: bool, age: float) -> bool:
    sex_ok = term.sex is None or term.sex == ("F" if female else "M")
    return sex_ok and term.min_age <= age < term.max_age + 1


def test_every_drawn_term_fits_the_person() -> None:
    n = 2_000
    female, age = _people(1, n)
    vocabularies = [EXAMES, MOTIVOS_INTERNACAO, *(s.motivos for s in ESPECIALIDADES)]
    for vocab in vocabularies:
        drawn = vocab.sample(np.random.default_rng(2), n, female=female, age=age)
        for idx, f, a in zip(drawn.tolist(), female.tolist(), age.tolist(), strict=True):
            term = vocab.terms[idx]
            fits_anyone = any(_fits(t, f, a) for t in vocab.terms)
            assert _fits(term, f, a) or not fits_anyone, (term, f, a)


def test_draws_follow_the_weights_among_the_terms_that_fit() -> None:
    vocab = vocabulary(("a", 6), ("b", 3), Term("c", 1, "F"), Term("d", 10, min_age=60))
    young_men = vocab.sample(
        np.random.default_rng(3), N, female=np.zeros(N, dtype=bool), age=np.full(N, 30.0)
    )
    counts = Counter(vocab.text_list(young_men))
    assert set(counts) == {"a", "b"}
    assert abs(counts["a"] / N - 2 / 3) < 0.02
    old_women = vocab.sample(
        np.random.default_rng(4), N, female=np.ones(N, dtype=bool), age=np.full(N, 70.0)
    )
    counts = Counter(vocab.text_list(old_women))
    assert abs(counts["d"] / N - 0.5) < 0.02 and abs(counts["c"] / N - 0.05) < 0.01


def test_a_person_no_term_fits_still_gets_a_term() -> None:
    vocab = Vocabulary([Term("Pré-natal", 1, "F", 15, 45)])
    drawn = vocab.sample(
        np.random.default_rng(5), 10, female=np.zeros(10, dtype=bool), age=np.full(10, 80.0)
    )
    assert vocab.text_list(drawn) == ["Pré-natal"] * 10


def test_single_draws_only_use_terms_that_fit_anyone() -> None:
    rng = random.Random(6)
    picks = {MOTIVOS_INTERNACAO.pick(rng) for _ in range(5000)}
    open_terms = {t.text for t in MOTIVOS_INTERNACAO.terms if t.unrestricted}
    assert picks == open_terms


def test_cited_weights_make_the_most_common_terms_come_first() -> None:
    female, age = _people(7)
    exams = Counter(
        EXAMES.text_list(EXAMES.sample(np.random.default_rng(8), N, female=female, age=age))
    )
    assert [name for name, _ in exams.most_common(2)] == ["Hemograma completo", "Glicemia de jejum"]
    stays = MOTIVOS_INTERNACAO.sample(np.random.default_rng(9), N, female=female, age=age)
    causes = Counter(MOTIVOS_INTERNACAO.text_list(stays))
    births = causes["Parto normal"] + causes["Parto cesáreo"]
    assert 0.08 <= births / N <= 0.25  # SIH/SUS: childbirth is the first cause of admission
