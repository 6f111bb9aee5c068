"""Alert thresholds (attention, critical) and their evaluation on a snapshot's figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hospital_sim.thresholds import DEFAULT_THRESHOLDS, resolve_thresholds

__all__ = ["DEFAULT_THRESHOLDS", "Alert", "Level", "evaluate", "resolve_thresholds"]

Level = Literal["attention", "critical"]


@dataclass(frozen=True)
class Alert:
    key: str
    level: Level
    value: float
    threshold: float
    subject: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "level": self.level,
            "value": self.value,
            "threshold": self.threshold,
            "subject": self.subject,
        }


def evaluate(
    figures: list[tuple[str, str, float | None]], thresholds: dict[str, tuple[float, float]]
) -> list[Alert]:
    """Alerts for (key, subject, value) figures that reach a threshold, critical first."""
    fired: list[Alert] = []
    for key, subject, value in figures:
        if value is None or key not in thresholds:
            continue
        attention, critical = thresholds[key]
        if value >= critical:
            fired.append(Alert(key, "critical", value, critical, subject))
        elif value >= attention:
            fired.append(Alert(key, "attention", value, attention, subject))
    fired.sort(key=lambda a: (a.level != "critical", a.key, a.subject))
    return fired
