"""docs/dashboard.png from the real dashboard over real streams, CDC and a real verification.

Run: ``.venv/bin/python bench/screenshot.py [--warmup S] [--output PATH] [--port P]``
(``make screenshot``). Needs Debian's chromium and chromedriver (``make browser``).

Everything goes through the ``hospital-sim`` commands, on an embedded server of its own in
a new temporary folder (or ``--dir``; port ``--port``, default ``HOSPITAL_SIM_EMBEDDED_PORT``
or 54391):

1. ``db start``, ``init``, ``seed``, ``cdc setup``;
2. ``cdc capture`` (snapshot, then the changes) while ``stream --duration 20`` runs, until
   the log is idle; ``cdc verify --json`` of that log is the page's verification verdict;
3. ``cdc capture`` again (the slot's lag moves), two shards of ``stream`` with two worker
   processes each and ``--metrics-port``, and ``dashboard`` over both; every command runs
   with ``STREAM_MODEL=hospital`` (occupancy stays within the beds);
4. after ``--warmup`` seconds (the charts fill), a headless Chromium (1440 px wide, English)
   photographs the whole page; then everything is stopped and the server with it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("hospital-sim"))
WIDTH = 1440


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(base: Path, server: Path, port: int) -> dict[str, str]:
    """The CLI on this script's own embedded server, with no settings from outside."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG_", "HOSPITAL_SIM_", "STREAM_", "SEED_", "CDC_", "DASHBOARD_"))
        and k != "DATABASE_URL"
    }
    config = base / "config"
    config.mkdir()
    env.update(
        {
            "HOSPITAL_SIM_DIR": str(server),
            "HOSPITAL_SIM_EMBEDDED_PORT": str(port),
            "HOSPITAL_SIM_CONFIG_DIR": str(config),
            "HOSPITAL_SIM_LOG_FILE": str(base / "app.log"),
            # The streams and the dashboard both know the hospital model is running.
            "STREAM_MODEL": "hospital",
        }
    )
    return env


def run(env: dict[str, str], *args: str, output: Path | None = None) -> None:
    print("$ hospital-sim", " ".join(args), flush=True)
    with open(output or os.devnull, "w") as out:
        done = subprocess.run([CLI, *args], env=env, stdout=out, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"hospital-sim {' '.join(args)} failed: {done.stderr.strip()}")


@contextmanager
def background(env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``hospital-sim ARGS`` running beside the script; SIGINT (a graceful stop) at the end."""
    print("$ hospital-sim", " ".join(args), "&", flush=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def photograph(url: str, output: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={WIDTH},1100")
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(service=Service(str(shutil.which("chromedriver"))), options=options)
    try:
        driver.get(url)
        wait_for(
            "the Workers table",
            lambda: (
                len(driver.find_elements("css selector", "#workers [data-figure='events_total']"))
                >= 4
            ),
        )
        wait_for(
            "the verification verdict",
            lambda: driver.find_elements("css selector", "#verify-verdict[data-identical]"),
        )
        time.sleep(3)  # one more refresh: every chart drawn at its final size
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(WIDTH, int(height) + 20)
        time.sleep(2)
        output.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(output))
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds of streaming first")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("HOSPITAL_SIM_EMBEDDED_PORT", "54391")),
        help="the embedded server's port",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="the embedded server's folder (default: a new temporary one, removed at the end)",
    )
    args = parser.parse_args()
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: run 'make browser'")

    if args.dir is not None and args.dir.exists():
        raise SystemExit(
            f"--dir {args.dir} exists: give a new folder (the picture needs a new server)"
        )
    base = Path(tempfile.mkdtemp(prefix="hospital-sim-screenshot-"))
    base.chmod(0o711)  # as root the server runs as its own user, which must enter it
    env = environment(base, args.dir or base / "server", args.port)
    try:
        run(env, "db", "start")
        run(env, "init")
        run(env, "seed", "--seed", "7")
        run(env, "cdc", "setup")
        log = base / "changes.jsonl"
        with background(env, base / "capture.out", "cdc", "capture", "-o", str(log),
                        "--idle-timeout", "5") as capture:  # fmt: skip
            run(env, "stream", "--rate", "40", "--duration", "20", "--seed", "8")
            capture.wait(120)
        report = base / "verify.json"
        run(env, "cdc", "verify", str(log), "--json", output=report)

        ports = [free_port(), free_port()]
        urls = [f"http://127.0.0.1:{p}/metrics" for p in ports]
        dash = free_port()
        jobs: dict[str, list[str]] = {
            "capture2": ["cdc", "capture", "-o", str(log)],
            **{
                f"stream{i}": ["stream", "--rate", "40", "--workers", "2",
                               "--shard-index", str(i), "--shard-count", "2",
                               "--metrics-port", str(port)]
                for i, port in enumerate(ports)
            },
            "dashboard": ["dashboard", "--port", str(dash), "--refresh", "1",
                          "--verify-report", str(report), "--metrics-url", urls[0],
                          "--metrics-url", urls[1]],
        }  # fmt: skip
        with ExitStack() as stack:
            procs = {
                name: stack.enter_context(background(env, base / f"{name}.out", *command))
                for name, command in jobs.items()
            }
            page = f"http://127.0.0.1:{dash}/"
            for url in (page, *urls):
                wait_for(url, partial(answers, url))
            print(f"streaming for {args.warmup:g} s before the photograph", flush=True)
            time.sleep(args.warmup)
            ended = [name for name, proc in procs.items() if proc.poll() is not None]
            for name in ended:  # the page would show it missing: say why, take no picture
                print(f"hospital-sim {' '.join(jobs[name])} ended early:", file=sys.stderr)
                print((base / f"{name}.out").read_text()[-2000:], file=sys.stderr)
            if ended:
                raise SystemExit(1)
            photograph(page, args.output)
        print(f"wrote {args.output}")
    finally:
        subprocess.run([CLI, "db", "stop"], env=env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
