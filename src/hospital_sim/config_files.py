"""Reading the settings files: ``settings.toml`` and ``.env``, into values by field name.

:mod:`hospital_sim.config` layers what these return with the environment and the flags;
``lookup`` maps every accepted name of a setting (lower case) to its field.
"""

from __future__ import annotations

import difflib
import io
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from hospital_sim.errors import ConfigError

__all__ = ["read_dotenv", "read_toml"]


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _read_text(path: Path) -> str | None:
    """The file's text, None when it does not exist; one-line errors for anything else."""
    if not path.exists():
        return None
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; it must be a file (or be removed)")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror}") from None


def read_toml(path: Path, lookup: Mapping[str, str], known: list[str]) -> dict[str, Any]:
    """``settings.toml``'s values by field name; an unknown key is an error naming the accepted."""
    text = _read_text(path)
    if text is None:
        return {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        field = lookup.get(key.lower())
        if field is None:
            raise ConfigError(
                f"{path}: unknown setting '{key}'{_did_you_mean(key, known)}; "
                f"accepted: {', '.join(known)}"
            )
        values[field] = value
    return values


def read_dotenv(path: Path, lookup: Mapping[str, str]) -> dict[str, Any]:
    """``.env``'s values by field name; keys that name no setting are left alone."""
    text = _read_text(path)
    if text is None:
        return {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raw = binding.original.string
            line = binding.original.line + raw[: len(raw) - len(raw.lstrip())].count("\n")
            # The line itself is not shown: it may hold a password.
            raise ConfigError(
                f"{path} line {line}: not NAME=value (an unclosed quote, a missing '='?); "
                "write one NAME=value per line"
            )
    values: dict[str, Any] = {}
    for key, value in dotenv_values(stream=io.StringIO(text)).items():
        field = lookup.get(key.lower())
        # A .env is often shared with other tools (docker compose...): foreign keys are fine.
        if field is not None and value is not None:
            values[field] = value
    return values
