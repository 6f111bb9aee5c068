"""--scale: which volumes it multiplies, and where it stops."""

from __future__ import annotations

from pathlib import Path

from hospital_sim.config import Settings, load_settings
from hospital_sim.db.seed import volumes_from
from hospital_sim.generate.documents import MAX_CRM_ID


def _settings(**values: object) -> Settings:
    return load_settings(config_dir=Path("/nonexistent"), environ={}, overrides=values).settings


def test_scale_multiplies_every_volume_but_the_plans() -> None:
    one, many = volumes_from(_settings()), volumes_from(_settings(seed_scale=75))
    assert many.convenios == one.convenios
    assert many.pacientes == 75 * one.pacientes == 150_000
    assert many.total - many.convenios == 75 * (one.total - one.convenios)


def test_doctors_stop_growing_at_the_last_crm_the_generator_makes() -> None:
    volumes = volumes_from(_settings(seed_scale=7500))
    assert volumes.medicos == MAX_CRM_ID == 899_999
    assert volumes.pacientes == 15_000_000
