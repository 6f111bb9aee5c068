"""Settings: read in one place, validated once, passed down frozen.

Precedence, lowest to highest: defaults < ``config/settings.toml`` < ``config/.env`` <
environment < CLI flags. :func:`load_settings` records where each value came from so
``hospital-sim config show`` can tell the user. Reading ``settings.toml`` and ``.env`` is in
:mod:`hospital_sim.config_files`.

This module is over 600 lines because :class:`Settings` is one pydantic model of over
400: every setting is a field whose description feeds ``config show`` and
docs/configuration.md, grouped by section. Cutting the model in parts would split the one
place settings are declared; ``load_settings`` stays next to it since it walks its fields.
"""

from __future__ import annotations

import os
import secrets
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    IPvAnyAddress,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hospital_sim.config_files import read_dotenv, read_toml
from hospital_sim.errors import ConfigError
from hospital_sim.mix import parse_weights, resolve_weights
from hospital_sim.thresholds import resolve_thresholds

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

DEFAULT_CONFIG_DIR = Path("config")

# Upper bounds that keep every figure finite and every schedule within reach.
DAY = 86_400
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
MAX_ROWS = 100_000_000

# What an empty value of these settings is refused with: what to give instead.
_BLANK = {
    "database_url": "it is empty; give a URL such as postgresql://user@host:5432/dbname "
    "(or a conninfo), or leave it unset to use PG_HOST or the embedded server",
    "embedded_dir": "it is empty; give the embedded server's folder (default .hospital-sim) "
    "or leave it unset",
    "log_file": "it is empty; give a file path (default logs/app.log) or leave it unset",
}


def _env(*names: str) -> AliasChoices:
    # The first name is the one shown to users; the field name itself is accepted in
    # settings.toml and as a keyword.
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every setting hospital-sim reads. Field descriptions feed ``config show`` and the docs."""

    # allow_inf_nan=False: inf and nan are refused for every float setting.
    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )

    # -- database target ---------------------------------------------------------------
    database_url: SecretStr | None = Field(
        None,
        validation_alias=_env("DATABASE_URL", "database_url"),
        description="PostgreSQL URL or conninfo; overrides the PG_* settings.",
    )
    pg_host: str | None = Field(
        None,
        validation_alias=_env("PG_HOST", "pg_host"),
        description="Server host. Unset (and no DATABASE_URL): use the embedded server.",
    )
    pg_port: int = Field(
        5432,
        ge=1,
        le=65535,
        validation_alias=_env("PG_PORT", "pg_port"),
        description="Server port.",
    )
    pg_user: str = Field(
        "postgres",
        min_length=1,
        validation_alias=_env("PG_USER", "pg_user"),
        description="Login role.",
    )
    pg_password: SecretStr | None = Field(
        None,
        validation_alias=_env("PG_PASSWORD", "pg_password"),
        description="Password of PG_USER (never logged).",
    )
    pg_database: str = Field(
        "hospital",
        min_length=1,
        validation_alias=_env("PG_DATABASE", "pg_database"),
        description="Database holding the hospital schema.",
    )
    connect_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        validation_alias=_env("HOSPITAL_SIM_CONNECT_TIMEOUT", "connect_timeout"),
        description="Seconds to keep retrying a failed connection at startup.",
    )

    # -- embedded server -----------------------------------------------------------------
    embedded_dir: Path = Field(
        Path(".hospital-sim"),
        validation_alias=_env("HOSPITAL_SIM_DIR", "embedded_dir"),
        description="Folder of the embedded server (its data is in <dir>/pgdata).",
    )
    embedded_port: int = Field(
        54320,
        ge=1024,
        le=65535,
        validation_alias=_env("HOSPITAL_SIM_EMBEDDED_PORT", "embedded_port"),
        description="TCP port of the embedded server on 127.0.0.1.",
    )

    # -- seed volumes ------------------------------------------------------------------
    seed_pacientes: int = Field(
        2000,
        ge=0,
        le=MAX_ROWS,
        validation_alias=_env("SEED_PACIENTES", "seed_pacientes"),
        description="Patients to seed.",
    )
    seed_medicos: int = Field(
        200,
        ge=0,
        le=MAX_ROWS,
        validation_alias=_env("SEED_MEDICOS", "seed_medicos"),
        description="Doctors to seed.",
    )
    seed_convenios: int = Field(
        12,
        ge=2,
        le=MAX_ROWS,
        validation_alias=_env("SEED_CONVENIOS", "seed_convenios"),
        description="Insurance plans in total, the 2 lookup plans included.",
    )
    seed_consultas: int = Field(
        4000,
        ge=0,
        le=MAX_ROWS,
        validation_alias=_env("SEED_CONSULTAS", "seed_consultas"),
        description="Appointments to seed.",
    )
    seed_exames: int = Field(
        3500,
        ge=0,
        le=MAX_ROWS,
        validation_alias=_env("SEED_EXAMES", "seed_exames"),
        description="Lab exams to seed.",
    )
    seed_internacoes: int = Field(
        1200,
        ge=0,
        le=MAX_ROWS,
        validation_alias=_env("SEED_INTERNACOES", "seed_internacoes"),
        description="Hospital stays to seed.",
    )
    seed_pacientes_convenios: int = Field(
        2500,
        ge=0,
        le=MAX_ROWS,
        validation_alias=_env("SEED_PACIENTES_CONVENIOS", "seed_pacientes_convenios"),
        description="Patient-plan links to seed.",
    )
    seed_scale: int = Field(
        1,
        ge=1,
        le=10_000,
        validation_alias=_env("SEED_SCALE", "seed_scale"),
        description=(
            "Multiply every seed volume but SEED_CONVENIOS by this (75: about 1M rows, "
            "7500: about 100M)."
        ),
    )
    random_seed: int | None = Field(
        None,
        ge=0,
        validation_alias=_env("HOSPITAL_SIM_SEED", "random_seed"),
        description="Seed of every random draw; unset draws one (it is logged).",
    )

    # -- stream ------------------------------------------------------------------------
    stream_interval_seconds: float = Field(
        2.0,
        ge=0,
        le=DAY,
        validation_alias=_env("STREAM_INTERVAL_SECONDS", "stream_interval_seconds"),
        description="Pause between events in the default pacing.",
    )
    max_jitter_ms: int = Field(
        400,
        ge=0,
        le=3_600_000,
        validation_alias=_env("MAX_JITTER_MS", "max_jitter_ms"),
        description="Random extra pause, 0..N ms, added to each interval.",
    )
    batch_size: int = Field(
        50,
        ge=1,
        le=100_000,
        validation_alias=_env("BATCH_SIZE", "batch_size"),
        description="Ids each stream worker reserves from a sequence per round trip.",
    )
    stream_rate: float | None = Field(
        None,
        ge=0.001,
        le=1_000_000,
        validation_alias=_env("STREAM_RATE", "stream_rate"),
        description="Events/s over all workers (open loop); unset: interval + jitter pacing.",
    )
    stream_max_lag_seconds: float | None = Field(
        None,
        gt=0,
        le=DAY,
        validation_alias=_env("STREAM_MAX_LAG_SECONDS", "stream_max_lag_seconds"),
        description="With STREAM_RATE: skip (do not run) events already later than this when "
        "due, so catching up after an outage is bounded (reported as skipped); unset: catch "
        "up on every event.",
    )
    stream_workers: int = Field(
        1,
        ge=1,
        le=256,
        validation_alias=_env("STREAM_WORKERS", "stream_workers"),
        description="Concurrent connections streaming.",
    )
    stream_txn_size: int = Field(
        1,
        ge=1,
        le=10000,
        validation_alias=_env("STREAM_TXN_SIZE", "stream_txn_size"),
        description="Events per transaction.",
    )
    stream_profile: Literal["constant", "ramp", "hospital-day"] = Field(
        "constant",
        validation_alias=_env("STREAM_PROFILE", "stream_profile"),
        description="Shape of the rate over time: constant, ramp or hospital-day.",
    )
    stream_time_scale: float = Field(
        1.0,
        ge=0.01,
        le=DAY,
        validation_alias=_env("STREAM_TIME_SCALE", "stream_time_scale"),
        description="Profile clock speed: 24 makes the hospital-day profile last one hour.",
    )
    stream_model: Literal["mix", "hospital"] = Field(
        "mix",
        validation_alias=_env("STREAM_MODEL", "stream_model"),
        description=(
            "What drives the stream: mix (the original weighted draw) or hospital"
            " (lifecycles, bed capacity, a steady state)."
        ),
    )
    stream_beds: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        validation_alias=_env("STREAM_BEDS", "stream_beds"),
        description="Beds of the hospital model (default: SEED_INTERNACOES / 5, at least 20).",
    )
    stream_occupancy: float = Field(
        0.8,
        gt=0,
        le=1,
        validation_alias=_env("STREAM_OCCUPANCY", "stream_occupancy"),
        description="Bed occupancy the hospital model settles around (0..1).",
    )
    stream_clinic_slots: int = Field(
        16,
        ge=1,
        le=200,
        validation_alias=_env("STREAM_CLINIC_SLOTS", "stream_clinic_slots"),
        description=("Appointments per doctor per day the hospital model books at most (1..200)."),
    )
    stream_scenarios: tuple[str, ...] = Field(
        (),
        validation_alias=_env("STREAM_SCENARIOS", "stream_scenarios"),
        description="Scenarios mixed into the stream, e.g. lgpd-erasure,clinical-notes "
        "(or all; see scenario list); empty: the plain INSERT/UPDATE mix.",
    )
    stream_scenario_every: float = Field(
        100.0,
        ge=1,
        le=1_000_000_000,
        validation_alias=_env("STREAM_SCENARIO_EVERY", "stream_scenario_every"),
        description="With STREAM_SCENARIOS: one scenario occurrence per N stream "
        "transactions on average, drawn from the run's seed.",
    )
    scenario_hold_seconds: float = Field(
        180.0,
        gt=0,
        le=DAY,
        validation_alias=_env("SCENARIO_HOLD_SECONDS", "scenario_hold_seconds"),
        description="How long the long-report scenario keeps its transaction open "
        "(seconds, or with a unit: 90s, 3m, 1h).",
    )
    stream_ramp_seconds: float = Field(
        60.0,
        gt=0,
        le=DAY,
        validation_alias=_env("STREAM_RAMP_SECONDS", "stream_ramp_seconds"),
        description="Time the ramp profile takes to reach STREAM_RATE.",
    )
    stream_weights: dict[str, float] = Field(
        default_factory=dict,
        validate_default=True,
        validation_alias=_env("STREAM_WEIGHTS", "stream_weights"),
        description="Operation weights over the defaults, e.g. insert_consulta=40,update_exame=0.",
    )
    stream_shard_index: int = Field(
        0,
        ge=0,
        validation_alias=_env("STREAM_SHARD_INDEX", "stream_shard_index"),
        description="This process's shard, 0..STREAM_SHARD_COUNT-1.",
    )
    stream_shard_count: int = Field(
        1,
        ge=1,
        le=4096,
        validation_alias=_env("STREAM_SHARD_COUNT", "stream_shard_count"),
        description="Processes streaming against the same database.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1024,
        le=65535,
        validation_alias=_env("STREAM_METRICS_PORT", "metrics_port"),
        description="Serve Prometheus /metrics on this port while streaming (1024..65535).",
    )
    metrics_address: IPvAnyAddress = Field(
        IPv4Address("127.0.0.1"),
        validation_alias=_env("STREAM_METRICS_ADDRESS", "metrics_address"),
        description="Address /metrics listens on; 0.0.0.0 exposes it (no auth) to the network.",
    )
    reconnect_base_seconds: float = Field(
        0.1,
        gt=0,
        le=3600,
        validation_alias=_env("STREAM_RECONNECT_BASE_SECONDS", "reconnect_base_seconds"),
        description="First reconnection delay; doubles on each failure.",
    )
    reconnect_cap_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        validation_alias=_env("STREAM_RECONNECT_CAP_SECONDS", "reconnect_cap_seconds"),
        description="Longest reconnection delay.",
    )

    # -- cdc ---------------------------------------------------------------------------
    cdc_publication: str = Field(
        "hospital_sim_pub",
        min_length=1,
        max_length=63,
        validation_alias=_env("CDC_PUBLICATION", "cdc_publication"),
        description="Publication of the 7 tables that CDC setup creates.",
    )
    cdc_slot: str = Field(
        "hospital_sim_slot",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9_]+$",
        validation_alias=_env("CDC_SLOT", "cdc_slot"),
        description="Logical replication slot of cdc capture (lower case, digits, _).",
    )
    cdc_role: str = Field(
        "hospital_sim_cdc",
        min_length=1,
        max_length=63,
        validation_alias=_env("CDC_ROLE", "cdc_role"),
        description="Login role (REPLICATION, SELECT only) that CDC setup creates.",
    )
    cdc_password: SecretStr | None = Field(
        None,
        validation_alias=_env("CDC_PASSWORD", "cdc_password"),
        description="Password of CDC_ROLE (never logged); unset: generated and shown once.",
    )

    # -- dashboard ---------------------------------------------------------------------
    dashboard_host: str = Field(
        "127.0.0.1",
        min_length=1,
        validation_alias=_env("DASHBOARD_HOST", "dashboard_host"),
        description="Address the web dashboard listens on (0.0.0.0: every interface).",
    )
    dashboard_port: int = Field(
        8050,
        ge=0,
        le=65535,
        validation_alias=_env("DASHBOARD_PORT", "dashboard_port"),
        description="Port of the web dashboard (0: any free port).",
    )
    dashboard_refresh_seconds: float = Field(
        2.0,
        ge=0.2,
        le=60,
        validation_alias=_env("DASHBOARD_REFRESH_SECONDS", "dashboard_refresh_seconds"),
        description="How often the dashboard reads the database and the metrics endpoints.",
    )
    dashboard_beds: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        validation_alias=_env("DASHBOARD_BEDS", "dashboard_beds"),
        description=(
            "Beds of the hospital: occupancy is open stays over this (default: the hospital"
            " model's beds, STREAM_BEDS or SEED_INTERNACOES / 5)."
        ),
    )
    dashboard_alerts: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        validate_default=True,
        validation_alias=_env("DASHBOARD_ALERTS", "dashboard_alerts"),
        description=(
            "Alert thresholds attention:critical over the defaults, e.g. "
            "slot_lag_mb=64:512,occupancy_pct=85:95."
        ),
    )

    # -- logging -----------------------------------------------------------------------
    log_level: LogLevel = Field(
        "INFO",
        validation_alias=_env("LOG_LEVEL", "log_level"),
        description="DEBUG, INFO, WARNING, ERROR or CRITICAL.",
    )
    log_file: Path = Field(
        Path("logs/app.log"),
        validation_alias=_env("HOSPITAL_SIM_LOG_FILE", "log_file"),
        description="Rotating log file.",
    )

    @field_validator("database_url", "embedded_dir", "log_file", mode="before")
    @classmethod
    def _not_blank(cls, value: Any, info: ValidationInfo) -> Any:
        # An empty value is not "unset": libpq reads an empty conninfo as its own defaults
        # (the local server's socket), and an empty path is the working folder.
        if isinstance(value, str) and not value.strip():
            raise ValueError(_BLANK[info.field_name or ""])
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("stream_scenarios", mode="before")
    @classmethod
    def _scenarios(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("scenario_hold_seconds", mode="before")
    @classmethod
    def _hold(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip()[-1:] in _UNITS:
            text = value.strip()
            try:
                return float(text[:-1]) * _UNITS[text[-1]]
            except ValueError:
                raise ValueError("it must be seconds, or a number with s, m or h") from None
        return value

    @field_validator("stream_weights", mode="before")
    @classmethod
    def _weights(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = parse_weights(value)
        if not isinstance(value, dict):
            raise ValueError("it must be op=weight pairs, e.g. insert_consulta=40,update_exame=0")
        return resolve_weights(value)

    @field_validator("dashboard_alerts", mode="before")
    @classmethod
    def _alerts(cls, value: Any) -> Any:
        return resolve_thresholds(value)

    @model_validator(mode="after")
    def _stream_fits(self) -> Settings:
        if self.stream_shard_index >= self.stream_shard_count:
            raise ValueError(
                f"STREAM_SHARD_INDEX (--shard-index) is {self.stream_shard_index} but must be "
                f"below STREAM_SHARD_COUNT (--shard-count) = {self.stream_shard_count}: "
                f"accepted 0..{self.stream_shard_count - 1}"
            )
        if self.stream_profile != "constant" and self.stream_rate is None:
            raise ValueError(
                f"STREAM_PROFILE (--profile) {self.stream_profile} shapes a rate: "
                "give STREAM_RATE (--rate) too"
            )
        if (
            self.stream_profile == "ramp"
            and self.stream_ramp_seconds / self.stream_time_scale > DAY
        ):
            raise ValueError(
                f"STREAM_RAMP_SECONDS (--ramp-seconds) {self.stream_ramp_seconds:g} at "
                f"STREAM_TIME_SCALE (--time-scale) {self.stream_time_scale:g} is a ramp of "
                f"more than a day; accepted: ramp-seconds / time-scale <= {DAY}"
            )
        if self.reconnect_cap_seconds < self.reconnect_base_seconds:
            raise ValueError(
                f"STREAM_RECONNECT_CAP_SECONDS={self.reconnect_cap_seconds} must be >= "
                f"STREAM_RECONNECT_BASE_SECONDS={self.reconnect_base_seconds}"
            )
        return self

    @model_validator(mode="after")
    def _volumes_fit(self) -> Settings:
        pairs = self.seed_pacientes * self.seed_convenios
        if self.seed_pacientes_convenios > pairs:
            raise ValueError(
                f"SEED_PACIENTES_CONVENIOS={self.seed_pacientes_convenios} exceeds the "
                f"{pairs} distinct patient-plan pairs of SEED_PACIENTES x SEED_CONVENIOS"
            )
        for name in (
            "seed_consultas",
            "seed_exames",
            "seed_internacoes",
            "seed_pacientes_convenios",
        ):
            if getattr(self, name) and not self.seed_pacientes:
                raise ValueError(f"{name.upper()} needs SEED_PACIENTES > 0")
        if self.seed_consultas and not self.seed_medicos:
            raise ValueError("SEED_CONSULTAS needs SEED_MEDICOS > 0")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() layers the files and the environment itself, to know where each
        # value came from; the model only validates what it is given.
        return (init_settings,)

    # -- derived -----------------------------------------------------------------------
    @property
    def uses_embedded(self) -> bool:
        """True when no server is configured and the embedded one is the target."""
        return self.database_url is None and not self.pg_host


@dataclass(frozen=True)
class LoadedSettings:
    """Validated settings plus, per field, the source of its value."""

    settings: Settings
    origins: Mapping[str, str]


def _names(field: str) -> list[str]:
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices)
    return [str(c) for c in alias.choices]


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return _names(field)[0]


def _by_any_name() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for field in Settings.model_fields:
        for name in _names(field):
            lookup[name.lower()] = field
    return lookup


def _read_toml(path: Path) -> dict[str, Any]:
    values = read_toml(path, _by_any_name(), sorted(Settings.model_fields))
    for name, value in values.items():
        # TOML has real booleans; a number or text setting would take true as 1.
        annotation = Settings.model_fields[name].annotation
        kinds = (annotation, *typing.get_args(annotation))
        if (
            isinstance(value, bool)
            and bool not in kinds
            and typing.get_origin(annotation) is not dict
        ):
            raise ConfigError(
                f"{path}: {name} = {str(value).lower()} is not accepted; it takes "
                f"{'a number' if _numeric(annotation) else 'a text value'}"
            )
    return values


def _numeric(annotation: Any) -> bool:
    return any(t in (int, float) for t in (annotation, *typing.get_args(annotation)))


def _read_dotenv(path: Path) -> dict[str, Any]:
    return read_dotenv(path, _by_any_name())


def _read_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in Settings.model_fields:
        name = env_name(field)
        if name in environ:
            values[field] = environ[name]
    return values


def _describe(field: str, origin: str) -> str:
    if origin == "environment" or origin.endswith(".env"):
        return env_name(field)
    if origin == "flag":
        return "--" + field.replace("_", "-")
    return field


def _one_line(error: ValidationError, merged: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    first = error.errors()[0]
    loc = [str(p) for p in first.get("loc", ())]
    msg = first.get("msg", "invalid")
    msg = msg.removeprefix("Value error, ")
    if not loc:  # a rule across several settings
        return f"invalid settings: {msg}"
    field = loc[0]
    origin = origins.get(field, "default")
    shown = "<hidden>" if "password" in field or "url" in field else merged.get(field)
    if first.get("type") == "literal_error":
        accepted = "accepted: " + msg.removeprefix("Input should be ")
    else:
        accepted = msg.replace("Input should be", "it must be")
    return f"{_describe(field, origin)}={shown!s} (from {origin}) is not accepted; {accepted}"


def load_settings(
    *,
    config_dir: Path = DEFAULT_CONFIG_DIR,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    require_dir: bool = False,
) -> LoadedSettings:
    """Read every source in precedence order and validate the result once.

    ``overrides`` are CLI flags by field name; ``None`` values mean "flag not given".
    ``require_dir``: the folder was named by the user, so it must exist.
    Raises :class:`ConfigError` with one line naming the setting, value and what is accepted.
    """
    env = os.environ if environ is None else environ
    if require_dir and not config_dir.is_dir():
        raise ConfigError(
            f"--config-dir {config_dir}: no such folder; give a folder holding "
            "settings.toml and/or .env"
        )
    layers: list[tuple[str, dict[str, Any]]] = [
        (str(config_dir / "settings.toml"), _read_toml(config_dir / "settings.toml")),
        (str(config_dir / ".env"), _read_dotenv(config_dir / ".env")),
        ("environment", _read_environ(env)),
        ("flag", {k: v for k, v in (overrides or {}).items() if v is not None}),
    ]
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, values in layers:
        for field, value in values.items():
            merged[field] = value
            origins[field] = origin
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, merged, origins)) from None
    full = {f: origins.get(f, "default") for f in Settings.model_fields}
    return LoadedSettings(settings=settings, origins=full)


def run_seed(settings: Settings, given: int | None = None) -> int:
    """The seed of a run: ``given``, else HOSPITAL_SIM_SEED, else a fresh random one."""
    if given is not None:
        return given
    if settings.random_seed is not None:
        return settings.random_seed
    return secrets.randbelow(2**31)


def shown_value(settings: Settings, field: str) -> str:
    """A value as ``config show`` prints it: secrets masked."""
    value = getattr(settings, field)
    if isinstance(value, SecretStr):
        return "********"
    return "" if value is None else str(value)
