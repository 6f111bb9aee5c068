"""What the benchmarks share: their server (HOSPITAL_SIM_BENCH_DSN, or a dedicated embedded
one) and the default seed volumes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hospital_sim.config import Settings
from hospital_sim.db.embedded import EmbeddedServer

DEFAULT_VOLUMES: dict[str, int] = {
    name: int(field.default)
    for name, field in Settings.model_fields.items()
    if name.startswith("seed_")
}
"""The default seed volumes (2000/200/12/4000/3500/1200/2500), read from the settings."""


@contextmanager
def bench_server(name: str, default_port: int) -> Iterator[str]:
    """Yield a superuser DSN (dbname=postgres); an embedded server is stopped afterwards.

    Each benchmark has its own folder and default port, so two can run side by side;
    HOSPITAL_SIM_BENCH_PORT overrides the port.
    """
    dsn = os.environ.get("HOSPITAL_SIM_BENCH_DSN")
    if dsn:
        yield dsn
        return
    server = EmbeddedServer(
        base_dir=Path(tempfile.gettempdir()) / f"hospital-sim-bench-{name}",
        port=int(os.environ.get("HOSPITAL_SIM_BENCH_PORT", str(default_port))),
    )
    server.start()
    try:
        yield server.conninfo("postgres")
    finally:
        server.stop()
