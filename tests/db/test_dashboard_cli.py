"""``stream --dashboard``: the URL is printed at start and the page follows that stream."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.db.checks import seeded
from tests.db.support import ROOT, FreshDb

pytestmark = pytest.mark.db


def test_stream_dashboard_prints_its_url_and_shows_the_stream(fresh_db: FreshDb) -> None:
    db = seeded(fresh_db, audit=False)
    env = db.env({"DASHBOARD_PORT": "0", "DASHBOARD_REFRESH_SECONDS": "0.5"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospital_sim", "stream", "--rate", "50", "--duration", "8",
         "--dashboard"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("dashboard: http://127.0.0.1:"), line
        url = line.split()[1]
        seen = 0.0
        deadline = time.monotonic() + 20
        while seen == 0 and time.monotonic() < deadline:
            with urllib.request.urlopen(url + "api/snapshot", timeout=5) as response:
                snap = json.load(response)
            # The first snapshot may come before the first collection: no totals yet.
            seen = snap.get("totals", {}).get("events_total", 0)
            time.sleep(0.3)
        assert seen > 0
        assert snap["totals"]["streams_up"] == 1
        assert snap["hospital"]["rows"]["consultas"] > 0
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "stream summary" in out
