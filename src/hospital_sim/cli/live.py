"""A live view of a running stream for terminals (rich), fed by the once-a-second snapshot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hospital_sim.stream.stats import fmt_seconds

Snapshot = dict[str, Any]


def render(snap: Snapshot) -> Any:
    """Totals and rate, committed events per operation, then latency, lag and errors."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    errors = sum(snap["errors"].values())
    header = Text(
        f"hospital-sim stream: {snap['elapsed_seconds']:.0f} s, "
        f"{snap['rate']:.1f} events/s, {snap['events_committed']} events "
        f"(INSERT {snap['inserts']}, UPDATE {snap['updates']})",
        style="bold",
    )
    table = Table("operation", "table", "committed")
    table.columns[2].justify = "right"
    for (op, tbl, outcome), n in sorted(_events(snap).items()):
        if outcome == "committed":
            table.add_row(op, tbl, str(n))
    footer = Text(
        f"latency p50 {fmt_seconds(snap['latency_p50'])}, p95 "
        f"{fmt_seconds(snap['latency_p95'])}, p99 {fmt_seconds(snap['latency_p99'])}; "
        f"lag {fmt_seconds(snap['lag_last'])} (max {fmt_seconds(snap['lag_max'])}); "
        f"errors {errors}; reconnects {snap['reconnects']}. Ctrl-C stops."
    )
    return Group(header, table, footer)


def _events(snap: Snapshot) -> dict[tuple[str, str, str], int]:
    # The snapshot keys events as "operation|table|outcome" (stable, JSON-friendly).
    out: dict[tuple[str, str, str], int] = {}
    for key, n in snap["events"].items():
        op, tbl, outcome = str(key).split("|")
        out[(op, tbl, outcome)] = int(n)
    return out


@contextmanager
def live_view() -> Iterator[Callable[[Snapshot], None]]:
    """Yield a progress callback that redraws the view in place on stderr."""
    from rich.console import Console
    from rich.live import Live

    with Live(console=Console(stderr=True), auto_refresh=False, transient=False) as live:

        def update(snap: Snapshot) -> None:
            live.update(render(snap), refresh=True)

        yield update
