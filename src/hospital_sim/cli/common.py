"""What every command shares: settings from flags, logging, error mapping."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from hospital_sim import logs
from hospital_sim.config import DEFAULT_CONFIG_DIR, Settings, load_settings


@dataclass
class State:
    """Global options, set by the root callback."""

    config_dir: Path = DEFAULT_CONFIG_DIR
    log_level: str | None = None
    log_format: logs.LogFormat = "text"


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def settings(ctx: typer.Context, *, log_to_file: bool = True, **overrides: Any) -> Settings:
    """Load settings with the command's flags on top, and configure logging from them."""
    st = state(ctx)
    if st.log_level is not None:
        overrides.setdefault("log_level", st.log_level)
    loaded = load_settings(config_dir=st.config_dir, overrides=overrides)
    s = loaded.settings
    logs.configure(s.log_level, fmt=st.log_format, file=s.log_file if log_to_file else None)
    return s


def echo(message: str = "") -> None:
    typer.echo(message)
