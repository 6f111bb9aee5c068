"""The terminal live view shows what the stream has done so far."""

from __future__ import annotations

from rich.console import Console

from hospital_sim.cli.live import render
from hospital_sim.stream.stats import Outcome, Stats, snapshot


def test_live_view_shows_rate_totals_and_committed_events_per_operation() -> None:
    stats = Stats()
    stats.events[("insert_consulta", "consultas", Outcome.COMMITTED)] += 30
    stats.events[("update_exame", "exames", Outcome.COMMITTED)] += 12
    stats.events[("update_exame", "exames", Outcome.FAILED)] += 1
    stats.inserts, stats.updates = 30, 12
    stats.errors["23"] += 1
    console = Console(width=120, record=True)
    console.print(render(snapshot(stats, elapsed=2.0)))
    text = console.export_text()
    assert "42 events (INSERT 30, UPDATE 12)" in text and "21.0 events/s" in text
    assert "insert_consulta" in text and "30" in text
    assert "errors 1" in text
    assert text.count("update_exame") == 1  # failed events are not counted as committed
