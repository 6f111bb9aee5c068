"""docker-compose.yml: parses, keeps PostgreSQL logical and local, and only speaks our CLI.

No Docker engine is needed: the file is read with PyYAML; `docker compose config` (or
Debian's `docker-compose config`) also validates it when one of them is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hospital_sim.config import Settings, env_name
from tests.unit.cli_lines import check_cli_args

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SETTING_VARIABLES = {env_name(field) for field in Settings.model_fields}


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def ours() -> dict[str, dict[str, Any]]:
    """Services that run the hospital-sim image (built from this repository)."""
    services = compose()["services"]
    return {name: s for name, s in services.items() if "build" in s}


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def test_compose_file_parses_with_the_expected_services() -> None:
    services = compose()["services"]
    for name in ("postgres", "init", "simulator"):
        assert name in services, f"no {name} service"
    cdc = {name for name, s in services.items() if "cdc" in (s.get("profiles") or [])}
    assert {"kafka", "connect", "kafka-ui", "register-connector"} <= cdc


def test_docker_compose_config_accepts_the_file() -> None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, check=False)
        if probe.returncode != 0:
            continue
        for profile in ([], ["--profile", "cdc"]):
            proc = subprocess.run(
                [*command, "-f", str(COMPOSE), *profile, "config", "-q"],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
            )
            assert proc.returncode == 0, proc.stderr
        return
    pytest.skip("neither `docker compose` nor `docker-compose` is installed (PyYAML checks ran)")


def test_postgres_runs_with_wal_level_logical_on_localhost_only() -> None:
    postgres = compose()["services"]["postgres"]
    flags = _command(postgres)
    settings = {flags[i + 1] for i, flag in enumerate(flags[:-1]) if flag == "-c"}
    assert "wal_level=logical" in settings, flags
    for port in postgres.get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"postgres port {port} is not bound to 127.0.0.1"


def test_every_published_port_is_bound_to_localhost() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond 127.0.0.1"


@pytest.mark.parametrize("name", sorted(ours()))
def test_environment_of_our_services_is_settings(name: str) -> None:
    unknown = sorted(set(_environment(ours()[name])) - SETTING_VARIABLES)
    assert not unknown, f"{name}: {unknown} are not hospital-sim settings (docs/configuration.md)"


@pytest.mark.parametrize("name", sorted(ours()))
def test_commands_of_our_services_exist(name: str) -> None:
    service = ours()[name]
    entrypoint = service.get("entrypoint")
    assert entrypoint in (None, "hospital-sim", ["hospital-sim"]), entrypoint
    args = _command(service)
    assert args, f"{name} has no command"
    assert check_cli_args(args) == []


def test_simulator_serves_metrics_on_its_published_port() -> None:
    simulator = compose()["services"]["simulator"]
    args = _command(simulator)
    port = args[args.index("--metrics-port") + 1]
    assert any(str(p).endswith(f":{port}") for p in simulator.get("ports", []))


def test_connector_is_registered_with_the_connect_service() -> None:
    services = compose()["services"]
    args = _command(services["register-connector"])
    assert args[:2] == ["cdc", "setup"]
    url = args[args.index("--register") + 1]
    assert url.startswith("http://connect:"), url
    assert any(str(p).endswith(":" + url.rsplit(":", 1)[1]) for p in services["connect"]["ports"])
    depends = services["register-connector"]["depends_on"]
    assert depends["connect"]["condition"] == "service_healthy"


def test_kafka_runs_in_kraft_mode() -> None:
    kafka = compose()["services"]["kafka"]
    env = _environment(kafka)
    assert "broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"]
    assert not any("ZOOKEEPER" in key for key in env)
    assert "zookeeper" not in compose()["services"]
