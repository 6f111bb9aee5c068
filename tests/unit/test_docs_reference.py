"""The generated references match the code, and the code documents itself.

docs/cli.md, docs/configuration.md, config/settings.toml and config/.env.example are
rendered by docs/gen_reference.py; a stale copy fails here with the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer.main

from hospital_sim.cli.app import app
from hospital_sim.config import Settings, env_name, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs/gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.mark.parametrize("rel", sorted(gen.OUTPUTS))
def test_generated_reference_is_up_to_date(rel: str) -> None:
    path = ROOT / rel
    assert path.exists(), f"{rel} is missing; run: make docs"
    fresh = gen.OUTPUTS[rel]()
    assert path.read_text(encoding="utf-8") == fresh, f"{rel} is out of date; run: make docs"


def _commands() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    return [(" ".join(("hospital-sim", *path)), cmd) for path, cmd in gen.walk(root)]


@pytest.mark.parametrize(("name", "cmd"), _commands(), ids=[n for n, _ in _commands()])
def test_every_command_and_option_has_help(name: str, cmd: Any) -> None:
    assert (cmd.help or "").strip(), f"'{name}' has no help text (a docstring or help=)"
    missing = [
        "/".join(p.opts) for p in gen.visible_params(cmd) if not (getattr(p, "help", "") or "")
    ]
    assert not missing, f"'{name}': no help text for {', '.join(missing)}"


def test_cli_reference_covers_every_command_and_option() -> None:
    text = (ROOT / "docs/cli.md").read_text(encoding="utf-8")
    for name, cmd in _commands():
        assert f"\n## {name}\n" in text, f"docs/cli.md has no section for '{name}'"
        for param in gen.visible_params(cmd):
            assert gen.param_names(param) in text, f"docs/cli.md lacks {param.opts} of '{name}'"


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    return rows


@pytest.mark.parametrize("field", list(Settings.model_fields))
def test_configuration_reference_lists_the_setting(field: str) -> None:
    info = Settings.model_fields[field]
    assert info.description, f"Settings.{field} has no description (it feeds the docs)"
    rows = _table_rows((ROOT / "docs/configuration.md").read_text(encoding="utf-8"))
    assert field in rows, f"docs/configuration.md has no row for {field}; run: make docs"
    _name, env, kind, default, description = rows[field]
    assert env == f"`{env_name(field)}`"
    assert kind and default and description


def test_example_files_mention_every_setting() -> None:
    toml_text = (ROOT / "config/settings.toml").read_text(encoding="utf-8")
    env_text = (ROOT / "config/.env.example").read_text(encoding="utf-8")
    for field in Settings.model_fields:
        assert f"\n# {field} = " in toml_text, f"config/settings.toml lacks {field}"
        assert f"\n# {env_name(field)}=" in env_text, f"config/.env.example lacks {env_name(field)}"


def test_committed_settings_toml_is_all_comments() -> None:
    text = (ROOT / "config/settings.toml").read_text(encoding="utf-8")
    assert tomllib.loads(text) == {}
    assert all(not line.strip() or line.startswith("#") for line in text.splitlines())


def test_committed_config_folder_loads_as_the_defaults(tmp_path: Path) -> None:
    # Only the committed files: a developer's own config/.env must not sway the test.
    shutil.copy(ROOT / "config/settings.toml", tmp_path / "settings.toml")
    shutil.copy(ROOT / "config/.env.example", tmp_path / ".env")
    loaded = load_settings(config_dir=tmp_path, environ={})
    assert loaded.settings == Settings()
    assert set(loaded.origins.values()) == {"default"}


def _uncommentable(text: str, pattern: str) -> list[str]:
    """Commented setting lines with a real value (not a <placeholder>), uncommented."""
    lines = [line[2:] for line in text.splitlines() if re.match(pattern, line)]
    return [line for line in lines if "<" not in line]


def test_each_settings_toml_line_uncommented_gives_its_default(tmp_path: Path) -> None:
    text = (ROOT / "config/settings.toml").read_text(encoding="utf-8")
    lines = _uncommentable(text, r"# [a-z_]+ = ")
    assert lines
    for line in lines:
        (tmp_path / "settings.toml").write_text(line + "\n", encoding="utf-8")
        loaded = load_settings(config_dir=tmp_path, environ={})
        assert loaded.settings == Settings(), line


def test_each_env_example_line_uncommented_gives_its_default(tmp_path: Path) -> None:
    text = (ROOT / "config/.env.example").read_text(encoding="utf-8")
    lines = [line for line in _uncommentable(text, r"# [A-Z][A-Z0-9_]*=") if line[-1] != "="]
    assert lines
    for line in lines:
        (tmp_path / ".env").write_text(line + "\n", encoding="utf-8")
        loaded = load_settings(config_dir=tmp_path, environ={})
        assert loaded.settings == Settings(), line
