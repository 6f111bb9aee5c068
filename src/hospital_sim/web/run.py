"""Start a dashboard from settings (``hospital-sim dashboard``, ``stream --dashboard``)."""

from __future__ import annotations

import importlib.util
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hospital_sim.config import Settings
from hospital_sim.db.connect import resolve_target
from hospital_sim.errors import ConfigError, UserError
from hospital_sim.stream.hospital import default_beds

if TYPE_CHECKING:
    from hospital_sim.web.app import DashboardServer

INSTALL_HINT = "pip install 'hospital-sim[dashboard]' (make install does it)"


class DashboardUnavailable(UserError):
    """The optional web stack (Starlette, uvicorn) is not installed."""


def occupancy_beds(settings: Settings) -> int:
    """The beds occupancy is measured against: DASHBOARD_BEDS, else the hospital model's."""
    return (
        settings.dashboard_beds or settings.stream_beds or default_beds(settings.seed_internacoes)
    )


def check_installed() -> None:
    missing = [m for m in ("starlette", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise DashboardUnavailable(
            f"the dashboard needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT}"
        )


def metrics_url(text: str) -> str:
    """A stream's /metrics address: ``http://host:port`` gets ``/metrics`` appended."""
    parsed = urllib.parse.urlsplit(text.strip())
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or port is None:
        raise ConfigError(
            f"--metrics-url={text!r} is not accepted: give http://HOST:PORT[/metrics] "
            "of a stream started with --metrics-port"
        )
    path = parsed.path if parsed.path not in ("", "/") else "/metrics"
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, parsed.query, ""))


def verify_report_path(path: Path) -> Path:
    if path.is_dir() or not path.parent.is_dir():
        raise ConfigError(
            f"--verify-report={path} is not accepted: give the file that "
            "'hospital-sim cdc verify --json > FILE' writes (its folder must exist)"
        )
    return path


def target_insert_share(settings: Settings) -> float | None:
    """The mix's share of INSERTs; None for the hospital model, whose share follows the
    hospital's state, not weights."""
    if settings.stream_model == "hospital":
        return None
    weights = settings.stream_weights
    total = sum(weights.values())
    inserts = sum(w for op, w in weights.items() if op.startswith("insert_"))
    return inserts / total if total else 0.0


def start_dashboard(
    settings: Settings,
    *,
    metrics_urls: Sequence[str] = (),
    verify_report: Path | None = None,
) -> DashboardServer:
    """Poll the database and the streams' metrics and serve the page from background threads.

    Raises :class:`ConfigError` when the address cannot be bound (in use, not local) and
    :class:`DashboardUnavailable` when the web stack is missing.
    """
    check_installed()
    from hospital_sim.web.app import bind, start
    from hospital_sim.web.collect import Collector, Sources

    sources = Sources(
        target=resolve_target(settings),
        metrics_urls=tuple(metrics_url(u) for u in metrics_urls),
        verify_report=None if verify_report is None else verify_report_path(verify_report),
        publication=settings.cdc_publication,
        beds=occupancy_beds(settings),
        refresh_s=settings.dashboard_refresh_seconds,
        thresholds=dict(settings.dashboard_alerts),
        target_insert_share=target_insert_share(settings),
    )
    try:
        sock = bind(settings.dashboard_host, settings.dashboard_port)
    except OSError as exc:
        raise ConfigError(
            f"DASHBOARD_HOST:DASHBOARD_PORT {settings.dashboard_host}:{settings.dashboard_port} "
            f"cannot be used ({exc.strerror or exc}); choose another --port (0: any free one) "
            "or a local --host"
        ) from None
    return start(Collector(sources), sock)


def free_local_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_stream_metrics(settings: Settings) -> tuple[Settings, str]:
    """Settings whose stream serves /metrics (a free port if none is set), and its URL.

    The dashboard of ``stream --dashboard`` reads the stream like any other: through its
    Prometheus endpoint.
    """
    if settings.metrics_port is None:
        settings = settings.model_copy(update={"metrics_port": free_local_port()})
    return settings, f"http://127.0.0.1:{settings.metrics_port}/metrics"
