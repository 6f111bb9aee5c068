"""Getting a ready database: the configured server, or the embedded one started on demand."""

from __future__ import annotations

from hospital_sim.config import Settings
from hospital_sim.db.connect import Target, ensure_database, resolve_target
from hospital_sim.db.embedded import EmbeddedServer


def embedded_server(settings: Settings) -> EmbeddedServer:
    """The embedded server the settings describe (not started)."""
    return EmbeddedServer(base_dir=settings.embedded_dir, port=settings.embedded_port)


def prepare_target(settings: Settings, *, start_embedded: bool = True) -> Target:
    """Resolve the target; for the embedded default, start it and create the database."""
    target = resolve_target(settings)
    if target.embedded and start_embedded:
        embedded_server(settings).start()
        ensure_database(target, deadline=settings.connect_timeout)
    return target
