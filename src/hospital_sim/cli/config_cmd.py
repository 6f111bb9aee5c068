"""``hospital-sim config``: what the settings are and where each came from."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hospital_sim.cli.common import state
from hospital_sim.config import Settings, env_name, load_settings, shown_value

app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Print every setting, its value (passwords masked) and its source."""
    st = state(ctx)
    loaded = load_settings(config_dir=st.config_dir, require_dir=st.config_dir_given)
    rows = [
        {
            "setting": field,
            "env": env_name(field),
            "value": shown_value(loaded.settings, field),
            "source": loaded.origins[field],
        }
        for field in Settings.model_fields
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("setting", "env", "value", "source")
    for row in rows:
        table.add_row(row["setting"], row["env"], row["value"], row["source"])
    Console(width=140).print(table)
