"""What every command shares: settings from flags, logging, error mapping."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from hospital_sim import logs
from hospital_sim.config import DAY, DEFAULT_CONFIG_DIR, LoadedSettings, Settings, load_settings
from hospital_sim.errors import ConfigError

# Flags named differently from their setting: errors must name what the user typed.
FLAG_OF = {
    "stream_rate": "rate",
    "stream_workers": "workers",
    "stream_txn_size": "txn-size",
    "stream_profile": "profile",
    "stream_time_scale": "time-scale",
    "stream_ramp_seconds": "ramp-seconds",
    "stream_model": "model",
    "stream_beds": "beds",
    "stream_occupancy": "occupancy",
    "stream_clinic_slots": "clinic-slots",
    "stream_weights": "weights",
    "stream_shard_index": "shard-index",
    "stream_shard_count": "shard-count",
    "random_seed": "seed",
    "stream_interval_seconds": "interval",
    "max_jitter_ms": "jitter-ms",
    "stream_max_lag_seconds": "max-lag",
    "stream_scenarios": "scenarios",
    "stream_scenario_every": "scenario-every",
    "scenario_hold_seconds": "scenario-hold",
    "seed_pacientes": "pacientes",
    "seed_medicos": "medicos",
    "seed_convenios": "convenios",
    "seed_consultas": "consultas",
    "seed_exames": "exames",
    "seed_internacoes": "internacoes",
    "seed_pacientes_convenios": "pacientes-convenios",
    "seed_scale": "scale",
}


# The longest run a duration flag accepts: longer is "no limit", which leaving it out gives.
MAX_RUN_SECONDS = 365 * DAY


def _plain(bound: float) -> str:
    return str(int(bound)) if bound == int(bound) else f"{bound:g}"


def number_range(
    low: float, high: float, *, low_open: bool = False, unit: str = ""
) -> Callable[[float | None], float | None]:
    """An option callback refusing nan, inf and numbers outside ``low``..``high``.

    For the flags that are not settings (those the settings model checks): an infinite
    duration would overflow a timer, a nan one would end at once.
    """
    shown = f" {unit}" if unit else ""
    accepted = f"{'more than ' if low_open else ''}{_plain(low)} to {_plain(high)}{shown}"

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        above = value > low if low_open else value >= low
        if not (math.isfinite(value) and above and value <= high):
            raise typer.BadParameter(f"{value:g} is not accepted; accepted: {accepted}")
        return value

    return check


@dataclass
class State:
    """Global options, set by the root callback."""

    config_dir: Path = DEFAULT_CONFIG_DIR
    log_level: str | None = None
    log_format: logs.LogFormat = "text"
    config_dir_given: bool = False


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def load(ctx: typer.Context, **overrides: Any) -> LoadedSettings:
    """Settings with the command's flags on top; errors name the flag the user typed."""
    st = state(ctx)
    if st.log_level is not None:
        overrides.setdefault("log_level", st.log_level)
    try:
        return load_settings(
            config_dir=st.config_dir, overrides=overrides, require_dir=st.config_dir_given
        )
    except ConfigError as exc:
        message = exc.message
        for field, flag in FLAG_OF.items():
            message = message.replace(f"--{field.replace('_', '-')}=", f"--{flag}=")
        raise ConfigError(message) from None


def settings(ctx: typer.Context, *, log_to_file: bool = True, **overrides: Any) -> Settings:
    """Load settings with the command's flags on top, and configure logging from them."""
    st = state(ctx)
    s = load(ctx, **overrides).settings
    logs.configure(s.log_level, fmt=st.log_format, file=s.log_file if log_to_file else None)
    return s


def check_writable_file(path: Path, flag: str) -> None:
    """Fail before any work when ``path`` could not be written as a file afterwards.

    The folder is probed by creating (and removing) a file in it: permission bits say
    nothing for root, nor for read-only or virtual file systems.
    """
    reason = ""
    if path.is_dir():
        reason = "it is a folder"
    elif path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            reason = exc.strerror or str(exc)
    else:
        probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or str(exc)
    if reason:
        raise ConfigError(
            f"{flag} {path}: cannot write there ({reason}); give a file path in a writable folder"
        )


def echo(message: str = "") -> None:
    typer.echo(message)


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader is gone, so exiting does not fail on it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
