"""The dashboard's ASGI app (Starlette) and its server (uvicorn), one page updated by SSE."""

from __future__ import annotations

import asyncio
import html
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hospital_sim.web.collect import Collector
from hospital_sim.web.i18n import LABELS, choose

PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="static/uPlot.min.css">
<link rel="stylesheet" href="static/dashboard.css">
</head>
<body>
<script id="labels" type="application/json">{labels}</script>
<header>
  <h1>{title}</h1>
  <p id="status" role="status" aria-live="polite" data-state="connecting"></p>
</header>
<section id="alerts" aria-labelledby="alerts-h"><h2 id="alerts-h" class="sr-only"></h2>
  <ul id="alert-list"></ul></section>
<main id="grid"></main>
<script src="static/uPlot.iife.min.js"></script>
<script src="static/dashboard.js"></script>
</body>
</html>
"""

STATIC = resources.files("hospital_sim.web") / "static"


def _json(data: Any) -> str:
    # Safe inside <script>: no '</' can close the element early.
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def create_app(collector: Collector) -> Starlette:
    """The Starlette app over a running :class:`Collector`."""

    async def page(request: Request) -> HTMLResponse:
        lang = choose(request.headers.get("accept-language"))
        labels = LABELS[lang]
        body = PAGE.format(
            lang=lang, title=html.escape(labels["title"]), labels=_json({"lang": lang, **labels})
        )
        return HTMLResponse(body, headers={"Vary": "Accept-Language", "Cache-Control": "no-store"})

    async def snapshot(request: Request) -> JSONResponse:
        return JSONResponse(collector.snapshot()[1], headers={"Cache-Control": "no-store"})

    async def events(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            version = -1
            while not collector.stopped and not await request.is_disconnected():
                current, snap = collector.snapshot()
                if current != version:
                    version = current
                    yield f"data: {_json(snap)}\n\n"
                await asyncio.sleep(0.2)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def health(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/snapshot", snapshot),
            Route("/events", events),
            Route("/healthz", health),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ]
    )


@dataclass
class DashboardServer:
    """A dashboard serving from a background thread; :meth:`stop` ends it and its polling."""

    url: str
    collector: Collector
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.collector.stop()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one). Raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def start(collector: Collector, sock: socket.socket) -> DashboardServer:
    """Serve the page on ``sock`` from a daemon thread; the collector starts polling."""
    import uvicorn

    config = uvicorn.Config(
        create_app(collector),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    collector.start()
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="dashboard-http", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)  # serving before the URL is printed
    return DashboardServer(url=url_of(sock), collector=collector, server=server, thread=thread)
