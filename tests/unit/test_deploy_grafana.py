"""The Grafana dashboard only queries metrics the program exports.

The exported names come from the collectors in hospital_sim.stream.metrics, with the suffixes the
Prometheus exposition adds (_total for counters; _bucket, _count, _sum for histograms).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hospital_sim.cli.slot_metrics import slot_collectors
from hospital_sim.stream import metrics
from hospital_sim.stream.stats import Stats

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/hospital-sim.json"

SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
    "gauge": ("",),
    "info": ("_info",),
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def exported_names() -> set[str]:
    # Port 1 refuses at once: the slot collector still declares its families.
    registry = metrics.registry_for(
        Stats, extra=slot_collectors("host=127.0.0.1 port=1 connect_timeout=1"), workers=dict
    )
    names = set()
    for family in registry.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions or labels."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables
    names = set()
    for match in re.finditer(r"[A-Za-z_:][\w:]*", expr):
        word, rest = match.group(0), expr[match.end() :].lstrip()
        if rest.startswith("(") or word in PROMQL_WORDS or word.lower() in ("inf", "nan"):
            continue
        names.add(word)
    return names


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def panels() -> list[dict[str, Any]]:
    out = []
    for panel in dashboard()["panels"]:
        out += [panel, *panel.get("panels", [])]  # rows may nest panels
    return [p for p in out if p.get("type") != "row"]


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(x_bucket{instance=~"$instance"}'
        "[$__rate_interval]))) / on (job) group_left sum(y_total) > bool 2"
    )
    assert metric_names(expr) == {"x_bucket", "y_total"}


def test_the_program_exports_the_metrics_the_dashboard_is_built_on() -> None:
    names = exported_names()
    assert {
        "hospital_sim_events_total",
        "hospital_sim_event_latency_seconds_bucket",
        "hospital_sim_reconnects_total",
        "hospital_sim_schedule_lag_seconds",
    } <= names, sorted(names)


@pytest.mark.parametrize("panel", panels(), ids=lambda p: p["title"])
def test_every_query_uses_exported_metrics(panel: dict[str, Any]) -> None:
    exported = exported_names()
    targets = panel.get("targets", [])
    assert targets, f"panel {panel['title']!r} has no query"
    for target in targets:
        used = metric_names(target["expr"])
        assert used, f"{panel['title']}: no metric in {target['expr']}"
        unknown = sorted(used - exported)
        assert not unknown, (
            f"{panel['title']}: {unknown} are not exported; exported: {sorted(exported)}"
        )


def test_template_variables_query_exported_metrics() -> None:
    exported = exported_names()
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        for found in re.findall(r"label_values\(\s*([A-Za-z_:][\w:]*)", text):
            assert found in exported, f"variable {variable['name']}: {found} is not exported"


def test_dashboard_covers_rates_latency_reconnects_and_lag() -> None:
    exprs = " ".join(t["expr"] for p in panels() for t in p.get("targets", []))
    assert "by (operation)" in exprs
    assert "histogram_quantile(0.99" in exprs and "histogram_quantile(0.5" in exprs
    assert "hospital_sim_reconnects_total" in exprs
    assert "hospital_sim_schedule_lag_seconds" in exprs


def _panel_metrics(title: str) -> set[str]:
    found = [p for p in panels() if p["title"] == title]
    assert found, f"no panel {title!r}: {[p['title'] for p in panels()]}"
    return {m for t in found[0]["targets"] for m in metric_names(t["expr"])}


def test_a_worker_panel_shows_every_per_worker_metric() -> None:
    worker_metrics = {n for n in exported_names() if n.startswith("hospital_sim_worker_")}
    assert len(worker_metrics) == 4, worker_metrics
    shown = _panel_metrics("Committed events/s by worker") | _panel_metrics(
        "Worker schedule lag, errors and reconnects"
    )
    assert shown == worker_metrics
    exprs = [t["expr"] for p in panels() for t in p["targets"] if "_worker_" in t["expr"]]
    assert all("by (worker)" in e for e in exprs), exprs


def test_a_scenarios_panel_shows_every_scenario_metric() -> None:
    scenario_metrics = {n for n in exported_names() if n.startswith("hospital_sim_scenario_")}
    assert scenario_metrics == {
        "hospital_sim_scenario_occurrences_total",
        "hospital_sim_scenario_failures_total",
        "hospital_sim_scenario_skipped_total",
        "hospital_sim_scenario_rows_total",
        "hospital_sim_scenario_transactions_total",
    }
    shown = _panel_metrics("Scenario occurrences") | _panel_metrics(
        "Scenario rows/s by table and operation"
    )
    assert shown == scenario_metrics


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), ids
    cells: dict[tuple[int, int], str] = {}
    for p in panels():
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
        assert g["x"] + g["w"] <= 24
