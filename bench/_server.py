"""The server a benchmark runs on: HOSPITAL_SIM_BENCH_DSN, or a dedicated embedded one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hospital_sim.embedded import EmbeddedServer


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
        yield f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres"
    finally:
        server.stop()
