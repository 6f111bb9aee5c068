"""The Debezium PostgreSQL connector config for this database, and Kafka Connect registration.

Kafka Connect is reached with ``urllib.request`` (no extra dependency). Registration uses
``PUT /connectors/<name>/config``, which creates the connector or updates it in place, so
running setup again is safe.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from psycopg import conninfo as pg_conninfo

from hospital_sim.config import Settings
from hospital_sim.db.connect import Target
from hospital_sim.db.schema import TABLES
from hospital_sim.errors import UserError

__all__ = [
    "CHOICES",
    "ConnectRestError",
    "ConnectorState",
    "connector_config",
    "debezium_slot_name",
    "register_connector",
]

TOPIC_PREFIX = "hospital_sim"

# Why each encoding was chosen: printed next to the config (JSON has no comments).
CHOICES: dict[str, tuple[str, str]] = {
    "decimal.handling.mode": (
        "string",
        "exact decimals any JSON consumer can read (precise would send base64 bytes, "
        "double would round); the hospital tables have no NUMERIC column today",
    ),
    "time.precision.mode": (
        "adaptive_time_microseconds",
        "TIMESTAMP(6) as epoch microseconds and DATE as epoch days: no precision lost, "
        "the same encoding hospital-sim capture writes",
    ),
}


def debezium_slot_name(settings: Settings) -> str:
    """The connector's own slot: never the one ``cdc capture`` uses, so both can run."""
    return f"{settings.cdc_slot}_debezium"


def connector_name(target: Target) -> str:
    return f"hospital-sim-{target.dbname}"


def connector_config(settings: Settings, target: Target, *, password: str | None) -> dict[str, str]:
    """A Debezium PostgreSQL connector config that works against ``target`` as is.

    ``password`` is the CDC role's; None leaves a placeholder the user must fill in.
    """
    params = pg_conninfo.conninfo_to_dict(target.conninfo)
    host = str(params.get("host") or "localhost").split(",")[0]
    config = {
        "name": connector_name(target),
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": host,
        "database.port": str(params.get("port") or 5432),
        "database.user": settings.cdc_role,
        "database.password": password or "<set CDC_PASSWORD and run cdc setup again>",
        "database.dbname": target.dbname,
        "topic.prefix": TOPIC_PREFIX,
        "publication.name": settings.cdc_publication,
        "publication.autocreate.mode": "disabled",
        "slot.name": debezium_slot_name(settings),
        "table.include.list": ",".join(f"public.{t}" for t in TABLES),
        "snapshot.mode": "initial",
        "tombstones.on.delete": "false",
    }
    if params.get("sslmode") not in (None, "", "disable", "allow", "prefer"):
        config["database.sslmode"] = str(params["sslmode"])
    config.update({key: value for key, (value, _) in CHOICES.items()})
    return config


class ConnectRestError(UserError):
    """Kafka Connect could not be reached or refused the connector."""


@dataclass(frozen=True)
class ConnectorState:
    name: str
    state: str
    tasks: list[str]
    trace: str | None = None


def _shown(url: str) -> str:
    """The URL without user:password@, if it carried any."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _call(url: str, method: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:
        # urllib ignores user:password@ in a URL; Kafka Connect's basic auth wants a header.
        pair = (
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        )
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    request = urllib.request.Request(_shown(url), data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("message", detail)
        first = " ".join(str(detail).split())[:300]
        raise ConnectRestError(
            f"Kafka Connect at {_shown(url)} answered {exc.code}: {first}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectRestError(
            f"cannot reach Kafka Connect at {_shown(url)}: {reason}; check the --register URL "
            "(e.g. http://localhost:8083) and that Kafka Connect is running"
        ) from None


def register_connector(
    base_url: str, config: dict[str, str], *, wait: float = 10.0
) -> ConnectorState:
    """Create or update the connector, then report its state once it has one."""
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConnectRestError(
            f"--register {base_url!r} is not an http(s) URL; expected e.g. http://localhost:8083"
        )
    name = config["name"]
    _call(f"{base}/connectors/{name}/config", "PUT", config)
    deadline = time.monotonic() + wait
    while True:
        try:
            status = _call(f"{base}/connectors/{name}/status", "GET")
        except ConnectRestError:
            status = None  # a fresh connector may 404 for a moment
        state = _state(name, status)
        if state is not None and (state.state != "UNASSIGNED" or time.monotonic() > deadline):
            return state
        if time.monotonic() > deadline:
            return ConnectorState(name, "UNKNOWN", [])
        time.sleep(0.5)


def _state(name: str, status: Any) -> ConnectorState | None:
    if not isinstance(status, dict) or not isinstance(status.get("connector"), dict):
        return None
    tasks = [str(t.get("state")) for t in status.get("tasks") or [] if isinstance(t, dict)]
    traces = [t.get("trace") for t in status.get("tasks") or [] if isinstance(t, dict)]
    trace = next((str(t).splitlines()[0] for t in traces if t), None)
    return ConnectorState(name, str(status["connector"].get("state")), tasks, trace)
