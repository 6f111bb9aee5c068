"""Getting a ready database: the configured server, or the embedded one started on demand."""

from __future__ import annotations

from hospital_sim.config import Settings
from hospital_sim.db.connect import Target, ensure_database, resolve_target
from hospital_sim.db.embedded import EmbeddedServer
from hospital_sim.db.locate import record, server_for


def embedded_server(settings: Settings) -> EmbeddedServer:
    """The embedded server the settings describe (not started)."""
    return server_for(settings)


def prepare_target(settings: Settings, *, create: bool = False) -> Target:
    """Resolve the target; for the embedded default, start it first.

    ``create``: also create the database when it is missing (``init``, ``run``, ``reset``,
    ``seed`` and ``demo`` only; every other command says it does not exist).
    """
    if resolve_target(settings).embedded:
        server = embedded_server(settings)
        server.start()
        record(server)
    target = resolve_target(settings)  # now with the superuser's password
    if target.embedded and create:
        ensure_database(target, deadline=settings.connect_timeout)
    return target
