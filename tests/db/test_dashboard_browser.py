"""The dashboard in a real headless Chromium while a stream runs against its own server.

The page's numbers must move, agree with the database (the server-side audit trigger) and
with the stream's /metrics, the feed's UPDATEs must name the columns the stream wrote, each
of the two workers must have its row, and a hard server restart must show, then clear, a
"reconnecting" state. Screenshots land in test-artifacts/dashboard/ (gitignored).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hospital_sim.stream.run import StreamSummary, run_stream
from hospital_sim.web.run import start_dashboard
from hospital_sim.web.scrape import fetch
from tests.db.checks import scalar, seeded
from tests.db.support import ROOT, create_database, free_port, start_embedded

pytestmark = [pytest.mark.db, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "dashboard"


def _browser_missing() -> str | None:
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: run 'make browser' (Debian chromium, chromium-driver)"
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1440,1100")
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(service=Service(str(shutil.which("chromedriver"))), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def fresh(read: Callable[[], Any]) -> Any:
    """``read()`` again when the page re-rendered the element between finding and reading it."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(20):
        try:
            return read()
        except StaleElementReferenceException:
            time.sleep(0.05)
    return read()


def page_value(driver: Any, css: str) -> float | None:
    def read() -> str | None:
        found = driver.find_elements("css selector", css)
        return found[0].get_attribute("data-value") if found else None

    raw = fresh(read)
    return float(raw) if raw else None


# (table, columns) an UPDATE of the default mix writes.
UPDATE_COLUMNS = {
    ("pacientes", "telefone"),
    ("pacientes", "endereco"),
    ("consultas", "status,data"),
    ("exames", "resultado"),
    ("internacoes", "data_saida"),
}


def feed_update(driver: Any) -> tuple[str, str] | None:
    """(table, changed columns) of the newest UPDATE row of the feed, if any."""
    rows = driver.find_elements("css selector", "#feed tr[data-op='UPDATE']")
    if not rows:
        return None
    return rows[0].get_attribute("data-table"), rows[0].get_attribute("data-columns")


def status_of(driver: Any) -> tuple[str, str]:
    """The connection badge: its state and its text."""

    def read() -> tuple[str, str]:
        status = driver.find_element("id", "status")
        return status.get_attribute("data-state"), status.text

    return tuple(fresh(read))


def test_dashboard_follows_a_stream_and_a_server_restart(browser: Any, embedded_dir: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = start_embedded(embedded_dir)
    db = seeded(create_database(server.conninfo("postgres")))
    with db.connect() as conn:
        conn.execute("SELECT pg_create_logical_replication_slot('dash_slot', 'pgoutput')")
    report = embedded_dir.parent / f"{embedded_dir.name}-verify.json"
    report.write_text(
        json.dumps({"identical": True, "events": 42, "totals": {"matched": 40, "missing": 0}})
    )
    metrics_port = free_port()
    settings = db.settings(
        stream_rate=100.0,
        stream_workers=2,  # worker processes: the page has a row for each
        metrics_port=metrics_port,
        reconnect_base_seconds=0.05,
        dashboard_port=0,
        dashboard_refresh_seconds=0.5,
    )
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    stop = threading.Event()
    result: list[StreamSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(run_stream(settings, stop=stop, seed=3)), daemon=True
    )
    runner.start()
    dash = start_dashboard(settings, metrics_urls=[metrics], verify_report=report)
    try:
        browser.get(dash.url)
        total = "#kpi-events-total"
        first = wait_for("events on the page", lambda: page_value(browser, total))
        wait_for("the count to move", lambda: (page_value(browser, total) or 0) > first)

        # The page agrees with the stream's counters and with the database.
        before = fetch(metrics).total
        with db.connect() as conn:
            audited = int(str(scalar(conn, "SELECT count(*) FROM stream_audit")))
        shown = wait_for(
            "the page to catch up",
            lambda: (
                (v := page_value(browser, total)) is not None and v >= max(before, audited) and v
            ),
        )
        after = fetch(metrics).total
        with db.connect() as conn:
            audited_after = int(str(scalar(conn, "SELECT count(*) FROM stream_audit")))
            consultas = int(str(scalar(conn, "SELECT count(*) FROM consultas")))
        assert shown <= after and shown <= audited_after + 5  # metrics lag commits a little
        rows = page_value(browser, "td[data-table='consultas']")
        assert rows is not None and abs(rows - consultas) <= 0.1 * consultas + 50
        assert (page_value(browser, "#kpi-rate") or 0) > 0
        slot = fresh(lambda: browser.find_element("css selector", "td[data-slot='dash_slot']").text)
        assert slot != "–"
        verdict = fresh(
            lambda: browser.find_element("id", "verify-verdict").get_attribute("data-identical")
        )
        assert verdict == "true"
        assert status_of(browser)[0] == "ok"
        assert browser.find_element("tag name", "html").get_attribute("lang") == "en"
        assert browser.find_elements("css selector", "#feed tbody tr")
        # The feed is the stream's own: an UPDATE names the columns it set.
        update = wait_for(
            "an UPDATE in the feed",
            lambda: fresh(lambda: feed_update(browser)),
        )
        assert update in UPDATE_COLUMNS, update
        for worker in ("0.0", "0.1"):
            css = f"td[data-worker='{worker}'][data-figure='events_total']"
            assert page_value(browser, css)
        browser.save_screenshot(str(ARTIFACTS / "streaming.png"))

        # A hard restart of the database: "reconnecting", then back to live numbers.
        server.stop(mode="immediate")
        wait_for("reconnecting", lambda: status_of(browser)[0] == "reconnecting")
        assert "reconnecting" in status_of(browser)[1]
        browser.save_screenshot(str(ARTIFACTS / "reconnecting.png"))
        server.start()
        wait_for("the database back", lambda: status_of(browser)[0] == "ok", 60)
        resumed = page_value(browser, total) or 0
        wait_for("new events", lambda: (page_value(browser, total) or 0) > resumed, 60)
        browser.save_screenshot(str(ARTIFACTS / "recovered.png"))
    finally:
        stop.set()
        runner.join(30)
        dash.stop()
        with db.connect() as conn:
            conn.execute("SELECT pg_drop_replication_slot('dash_slot')")
        server.stop()
        report.unlink(missing_ok=True)
    assert result and result[0].failure is None


def test_page_speaks_the_browsers_language(browser: Any, fresh_db: Any) -> None:
    settings = fresh_db.settings(dashboard_port=0, dashboard_refresh_seconds=0.5)
    dash = start_dashboard(settings)
    try:
        request = urllib.request.Request(dash.url, headers={"Accept-Language": "pt-BR,pt;q=0.9"})
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read().decode()
        assert '<html lang="pt-BR">' in body and "Painel do hospital-sim" in body
        browser.get(dash.url)
        # An empty database: the page tells what to run.
        wait_for("the schema hint", lambda: status_of(browser)[0] == "no_schema")
        assert "hospital-sim init" in status_of(browser)[1]
        assert browser.find_element("id", "h-stream").text == "Stream"
    finally:
        dash.stop()
