"""deploy/k8s: kustomizations point at real files, manifests validate against the Kubernetes
schemas (kubernetes-validate ships them, offline), and what the pods run is our CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hospital_sim.config import Settings, env_name
from tests.unit.cli_lines import check_cli_args, cli_args, segments

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))
SETTING_VARIABLES = {env_name(field) for field in Settings.model_fields}


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def resource_files() -> list[Path]:
    """Every manifest some kustomization lists (directories resolved to their own lists)."""
    files: list[Path] = []
    for kustomization in KUSTOMIZATIONS:
        for entry in documents(kustomization)[0].get("resources", []):
            path = (kustomization.parent / entry).resolve()
            if path.is_file() and path not in files:
                files.append(path)
    return sorted(files)


def manifests() -> dict[str, dict[str, Any]]:
    """kind/name -> manifest, over every resource file."""
    out = {}
    for path in resource_files():
        for doc in documents(path):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def pod_specs() -> dict[str, dict[str, Any]]:
    out = {}
    for key, doc in manifests().items():
        if doc["kind"] in ("Deployment", "Job"):
            out[key] = doc["spec"]["template"]["spec"]
    return out


def test_there_is_a_base_and_a_scale_out_kustomization() -> None:
    assert K8S / "kustomization.yaml" in KUSTOMIZATIONS
    assert K8S / "scale-out/kustomization.yaml" in KUSTOMIZATIONS


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(K8S)))
def test_kustomization_lists_existing_files(kustomization: Path) -> None:
    spec = documents(kustomization)[0]
    assert spec["kind"] == "Kustomization"
    for entry in spec.get("resources", []):
        path = kustomization.parent / entry
        assert path.is_file() or (path / "kustomization.yaml").is_file(), f"{entry} is missing"
    listed = {(kustomization.parent / e).resolve() for e in spec.get("resources", [])}
    for manifest in kustomization.parent.glob("*.yaml"):
        if manifest.name != "kustomization.yaml":
            assert manifest.resolve() in listed, f"{manifest.name} is not in {kustomization.name}"


@pytest.mark.parametrize("path", resource_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    for doc in documents(path):
        try:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {exc.path}: {exc.message}")


def test_config_map_and_secret_keys_are_settings() -> None:
    found = manifests()
    for key in ("ConfigMap/hospital-sim-config", "Secret/hospital-sim-secret"):
        data = found[key].get("data") or found[key].get("stringData") or {}
        unknown = sorted(set(data) - SETTING_VARIABLES)
        assert not unknown, f"{key}: {unknown} are not hospital-sim settings"
    assert "PG_PASSWORD" in found["Secret/hospital-sim-secret"]["stringData"]
    assert "PG_PASSWORD" not in found["ConfigMap/hospital-sim-config"]["data"]


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def _cli_runs(container: dict[str, Any]) -> list[list[str]]:
    """The hospital-sim argument lists a container runs (the image's entrypoint is ours)."""
    command = container.get("command")
    if command is None:
        return [[str(a) for a in container.get("args", [])]]
    assert command[:2] == ["sh", "-c"], command
    runs = [cli_args(tokens) for tokens in segments(command[2])]
    return [run for run in runs if run is not None]


@pytest.mark.parametrize("key", sorted(pod_specs()))
def test_pods_run_existing_commands_and_options(key: str) -> None:
    for container in _containers(pod_specs()[key]):
        runs = _cli_runs(container)
        assert runs, f"{key}/{container['name']} does not run hospital-sim"
        for args in runs:
            args = [a.replace("$(JOB_COMPLETION_INDEX)", "0") for a in args]
            assert check_cli_args(args) == [], f"{key}/{container['name']}: {args}"
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            assert f"{kind}/{ref['name']}" in manifests(), f"{key} reads a missing {kind}"


@pytest.mark.parametrize("key", sorted(pod_specs()))
def test_pods_run_as_non_root(key: str) -> None:
    spec = pod_specs()[key]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0


def test_indexed_job_streams_one_shard_per_completion_index() -> None:
    job = manifests()["Job/hospital-sim-stream-shards"]
    assert job["spec"]["completionMode"] == "Indexed"
    args = [str(a) for a in job["spec"]["template"]["spec"]["containers"][0]["args"]]
    assert args[args.index("stream") + 1 :].count("--shard-index") == 1
    assert args[args.index("--shard-index") + 1] == "$(JOB_COMPLETION_INDEX)"
    shards = int(args[args.index("--shard-count") + 1])
    assert job["spec"]["completions"] == shards, "--shard-count must equal completions"
    assert job["spec"]["parallelism"] == shards, "every shard streams at the same time"


def test_scale_out_stops_the_steady_stream() -> None:
    # The Deployment streams shard 0 of 1, which overlaps every shard of the Indexed Job.
    spec = documents(K8S / "scale-out/kustomization.yaml")[0]
    patches = " ".join(str(p) for p in spec.get("patches", []))
    assert "hospital-sim-stream" in patches and "/spec/replicas" in patches


@pytest.mark.parametrize(
    "key", ["Deployment/hospital-sim-stream", "Job/hospital-sim-stream-shards"]
)
def test_stream_pods_are_scraped_on_the_metrics_port(key: str) -> None:
    template = manifests()[key]["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    args = [str(a) for a in template["spec"]["containers"][0]["args"]]
    port = args[args.index("--metrics-port") + 1]
    assert annotations["prometheus.io/port"] == port
    ports = [p["containerPort"] for p in template["spec"]["containers"][0]["ports"]]
    assert int(port) in ports


def test_steady_stream_never_runs_two_pods_of_one_shard() -> None:
    deployment = manifests()["Deployment/hospital-sim-stream"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
