"""The stream summary explains what a model did: its mix, its beds, its substitutions."""

from __future__ import annotations

from hospital_sim.stream.run import StreamSummary
from hospital_sim.stream.stats import Outcome, Stats


def summary(model: str, **counts: int) -> StreamSummary:
    stats = Stats()
    for op, n in counts.items():
        table = "internacoes" if "internacao" in op else "consultas"
        stats.events[(op, table, Outcome.COMMITTED)] = n
    return StreamSummary(seed=1, elapsed=1.0, workers=1, rate_target=None, stats=stats, model=model)


def test_the_mix_model_says_why_events_were_substituted() -> None:
    s = summary("mix", insert_consulta=80, update_internacao=20)
    s.stats.substitutions[("insert_internacao", "insert_consulta")] = 30
    text = "\n".join(s.lines())
    assert "achieved mix (mix model): insert_consulta 80.0%, update_internacao 20.0%" in text
    assert "30.0% of events had no candidate row" in text
    assert "admits faster than it discharges" in text
    assert "beds" not in text


def test_the_hospital_model_reports_beds_and_occupancy() -> None:
    s = summary("hospital", insert_internacao=10, update_internacao=10)
    s.stats.beds, s.stats.occupied, s.stats.occupancy_peak = 240, 192, 192
    s.stats.deferred_admissions, s.stats.unbooked = 7, 3
    text = "\n".join(s.lines())
    assert "beds 240: occupied 192 (80.0%), peak 192; admissions that waited for a bed: 7" in text
    assert "bookings given up (no free clinic slot): 3" in text
    assert s.as_dict()["unbooked"] == 3
    assert "substitutions: none" in text
    assert s.as_dict()["model"] == "hospital"
    assert s.as_dict()["occupied"] == 192
