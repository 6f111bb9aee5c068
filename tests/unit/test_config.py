"""Settings: precedence, provenance, and one-line errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from hospital_sim.config import load_settings, shown_value
from hospital_sim.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_original_design(tmp_path: Path) -> None:
    s = load_settings(config_dir=tmp_path, environ={}).settings
    volumes = (
        s.seed_pacientes,
        s.seed_medicos,
        s.seed_convenios,
        s.seed_consultas,
        s.seed_exames,
        s.seed_internacoes,
        s.seed_pacientes_convenios,
    )
    assert volumes == (2000, 200, 12, 4000, 3500, 1200, 2500)
    assert (s.stream_interval_seconds, s.max_jitter_ms, s.batch_size) == (2.0, 400, 50)
    assert s.uses_embedded


def test_precedence_toml_then_dotenv_then_environment_then_flag(tmp_path: Path) -> None:
    write(
        tmp_path / "settings.toml",
        "seed_pacientes = 10\nseed_medicos = 11\nseed_exames = 12\nseed_consultas = 13\n"
        "seed_pacientes_convenios = 5\n",
    )
    write(tmp_path / ".env", "SEED_MEDICOS=21\nSEED_EXAMES=22\nSEED_CONSULTAS=23\n")
    loaded = load_settings(
        config_dir=tmp_path,
        environ={"SEED_EXAMES": "32", "SEED_CONSULTAS": "33"},
        overrides={"seed_consultas": 43, "seed_pacientes": None},
    )
    s, origin = loaded.settings, loaded.origins
    assert (s.seed_pacientes, origin["seed_pacientes"]) == (10, str(tmp_path / "settings.toml"))
    # The label names the folder actually read, not the default one.
    assert (s.seed_medicos, origin["seed_medicos"]) == (21, str(tmp_path / ".env"))
    assert (s.seed_exames, origin["seed_exames"]) == (32, "environment")
    assert (s.seed_consultas, origin["seed_consultas"]) == (43, "flag")
    assert origin["seed_internacoes"] == "default"


def test_fractional_interval_is_accepted(tmp_path: Path) -> None:
    s = load_settings(config_dir=tmp_path, environ={"STREAM_INTERVAL_SECONDS": "0.25"}).settings
    assert s.stream_interval_seconds == 0.25


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SEED_PACIENTES": "-5"}, "SEED_PACIENTES=-5 (from environment) is not accepted"),
        ({"PG_PORT": "abc"}, "PG_PORT=abc (from environment) is not accepted; it must be a valid"),
        ({"LOG_LEVEL": "LOUD"}, "accepted: 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        ({"STREAM_INTERVAL_SECONDS": "-1"}, "STREAM_INTERVAL_SECONDS=-1"),
        ({"SEED_CONVENIOS": "1"}, "SEED_CONVENIOS=1"),
    ],
)
def test_bad_value_names_setting_value_and_what_is_accepted(
    tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir=tmp_path, environ=environ)
    assert expected in info.value.message
    assert "\n" not in info.value.message


def test_lowercase_log_level_is_accepted(tmp_path: Path) -> None:
    assert (
        load_settings(config_dir=tmp_path, environ={"LOG_LEVEL": "debug"}).settings.log_level
        == "DEBUG"
    )


def test_unknown_toml_key_suggests_the_near_miss(tmp_path: Path) -> None:
    write(tmp_path / "settings.toml", "seed_pacientez = 10\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir=tmp_path, environ={})
    assert "unknown setting 'seed_pacientez'" in info.value.message
    assert "did you mean 'seed_pacientes'?" in info.value.message


def test_invalid_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "seed_pacientes = = 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir=tmp_path, environ={})
    assert str(path) in info.value.message


def test_impossible_volume_combination_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir=tmp_path, environ={"SEED_PACIENTES": "10"})
    assert (
        "SEED_PACIENTES_CONVENIOS=2500 exceeds the 120 distinct patient-plan pairs"
        in info.value.message
    )


def test_password_never_shown(tmp_path: Path) -> None:
    s = load_settings(
        config_dir=tmp_path, environ={"PG_PASSWORD": "hunter2", "PG_HOST": "db.example"}
    ).settings
    assert shown_value(s, "pg_password") == "********"
    assert "hunter2" not in repr(s)
    assert not s.uses_embedded


def test_bad_password_value_is_not_echoed(tmp_path: Path) -> None:
    write(tmp_path / "settings.toml", "pg_password = 48213957\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir=tmp_path, environ={})
    # The message names the file (whose path may hold any digits), never the value.
    message = info.value.message.replace(str(tmp_path), "<dir>")
    assert "48213957" not in message
    assert "pg_password" in message and "<hidden>" in message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Empty, libpq would read the conninfo as its defaults: the local server's socket.
        ("DATABASE_URL", "leave it unset to use PG_HOST"),
        # Empty, the embedded server would be created in the working folder.
        ("HOSPITAL_SIM_DIR", "give the embedded server's folder"),
        ("HOSPITAL_SIM_LOG_FILE", "give a file path"),
    ],
)
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_target_or_path_is_refused_not_read_as_a_default(
    tmp_path: Path, name: str, expected: str, value: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(config_dir=tmp_path, environ={name: value})
    assert err.value.message.startswith(f"{name}=")
    assert "is empty" in err.value.message and expected in err.value.message


def test_an_empty_path_in_settings_toml_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "settings.toml", 'embedded_dir = ""\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config_dir=tmp_path, environ={})
    assert "embedded_dir=" in err.value.message and "is empty" in err.value.message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("dashboard_alerts = 5", "it must be name=attention:critical pairs"),
        ("dashboard_alerts = true", "it must be name=attention:critical pairs"),
        ("dashboard_alerts = [64, 512]", "it must be name=attention:critical pairs"),
        ("dashboard_alerts = {slot_lag_mb = 5}", "slot_lag_mb = [64, 512]"),
        ("dashboard_alerts = {slot_lag_mb = [64]}", "is not [attention, critical]"),
        ('dashboard_alerts = {slot_lag_mb = [64, "x"]}', "is not [attention, critical]"),
        ("dashboard_alerts = {nope = 5}", "unknown alert 'nope'"),
    ],
)
def test_alert_thresholds_of_the_wrong_shape_in_settings_toml_are_one_line(
    tmp_path: Path, toml: str, expected: str
) -> None:
    write(tmp_path / "settings.toml", toml + "\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config_dir=tmp_path, environ={})
    assert err.value.message.startswith("dashboard_alerts=")
    assert expected in err.value.message


def test_alert_thresholds_as_a_toml_table(tmp_path: Path) -> None:
    write(
        tmp_path / "settings.toml",
        'dashboard_alerts = {slot_lag_mb = [10, 20], occupancy_pct = "70:80"}\n',
    )
    alerts = load_settings(config_dir=tmp_path, environ={}).settings.dashboard_alerts
    assert alerts["slot_lag_mb"] == (10.0, 20.0) and alerts["occupancy_pct"] == (70.0, 80.0)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('PG_PORT="6543\n', 1),  # was skipped with a warning: the default port was used
        ("PG_USER=app\n\n# the password\nPG_PASSWORD='hunter2\n", 4),
        ("PG_PORT 6543\n", 1),
    ],
)
def test_an_unparseable_dotenv_line_is_one_line_naming_file_and_line(
    tmp_path: Path, text: str, line: int
) -> None:
    write(tmp_path / ".env", text)
    with pytest.raises(ConfigError) as err:
        load_settings(config_dir=tmp_path, environ={})
    assert err.value.message.startswith(f"{tmp_path / '.env'} line {line}: not NAME=value")
    assert "hunter2" not in err.value.message


@pytest.mark.parametrize(
    ("line", "expect"),
    [
        ("pg_port = true", "pg_port = true is not accepted; it takes a number"),
        ("stream_rate = false", "stream_rate = false is not accepted; it takes a number"),
        ("pg_host = true", "pg_host = true is not accepted; it takes a text value"),
    ],
)
def test_a_toml_boolean_is_not_taken_for_a_number_or_a_text(
    tmp_path: Path, line: str, expect: str
) -> None:
    path = write(tmp_path / "settings.toml", line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_dir=tmp_path, environ={})
    assert str(caught.value) == f"{path}: {expect}"
