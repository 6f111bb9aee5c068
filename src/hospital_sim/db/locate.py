"""Finding the project's embedded server from any folder.

The default folder, ``.hospital-sim``, is relative: run from a sub-folder or from elsewhere,
a command would otherwise initialise a second cluster. We look upward for it, then at the
folder of the server last started on the port (recorded per user), and say which we used.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from hospital_sim.config import Settings
from hospital_sim.db.embedded import EmbeddedServer

log = logging.getLogger(__name__)


def _record_path(port: int) -> Path:
    """Where the folder of the server last started on ``port`` is recorded (per user)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hospital-sim" / f"embedded-{port}"


def _recorded(port: int) -> Path | None:
    try:
        text = _record_path(port).read_text(encoding="utf-8").strip()
    except (OSError, RuntimeError, KeyError):  # no such file, or no home folder at all
        return None
    folder = Path(text)
    return folder if (folder / "pgdata" / "PG_VERSION").exists() else None


def locate_dir(configured: Path, port: int, *, explicit: bool) -> Path:
    """The embedded server's folder, wherever the command runs from.

    An explicit HOSPITAL_SIM_DIR (or an absolute one) is used as given. Otherwise the
    nearest ``<configured>`` holding a cluster in the current folder or above it, else the
    folder of the server last started on ``port`` by this user, else a new one here.
    """
    if explicit or configured.is_absolute():
        return configured
    return _search(configured, port, Path.cwd())


@functools.cache  # once per process and folder: the choice is logged once
def _search(configured: Path, port: int, here: Path) -> Path:
    for folder in (here, *here.parents):
        candidate = folder / configured
        if (candidate / "pgdata" / "PG_VERSION").exists():
            if folder != here:
                log.info("using the embedded server in %s (found above %s)", candidate, here)
            return candidate
    recorded = _recorded(port)
    if recorded is not None:
        log.info("using the embedded server in %s (last started on port %d)", recorded, port)
        return recorded
    return here / configured


def record(server: EmbeddedServer) -> None:
    """Remember the server's folder for its port, so commands run elsewhere find it."""
    try:
        path = _record_path(server.port)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{server.base_dir}\n", encoding="utf-8")
    except (OSError, RuntimeError, KeyError) as exc:  # no (writable) home: no memory
        log.debug("cannot record the embedded folder: %s", exc)


def server_for(settings: Settings) -> EmbeddedServer:
    """The embedded server the settings describe (not started), found from any folder."""
    base = locate_dir(
        settings.embedded_dir,
        settings.embedded_port,
        explicit="embedded_dir" in settings.model_fields_set,
    )
    return EmbeddedServer(base_dir=base, port=settings.embedded_port)
