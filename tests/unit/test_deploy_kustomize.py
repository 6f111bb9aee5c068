"""Every kustomization under deploy/k8s builds, and every pod it yields runs the overlay's image.

``kubectl kustomize`` is used where kubectl is installed; a structural build (resources,
kustomize's root-cycle rule, the images transformer, JSON6902 replace patches) runs
everywhere, so the check never silently disappears.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))
OVERLAYS = [K8S, K8S / "scale-out"]


class BuildError(Exception):
    pass


def _load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def build(root: Path, visited: tuple[Path, ...] = ()) -> list[dict[str, Any]]:
    """A small kustomize build: enough to catch what breaks ours."""
    root = root.resolve()
    for seen in visited:
        if seen == root or root in seen.parents:
            raise BuildError(f"cycle detected: candidate root {root} contains visited root {seen}")
    spec = _load(root / "kustomization.yaml")[0]
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (root / entry).resolve()
        if path.is_dir():
            docs += build(path, (*visited, root))
        elif path.is_file():
            docs += _load(path)
        else:
            raise BuildError(f"{root}: resource {entry} does not exist")
    for image in spec.get("images", []):
        new = f"{image.get('newName', image['name'])}:{image['newTag']}"
        for container in _containers(docs):
            if container["image"].split(":")[0] == image["name"]:
                container["image"] = new
    for patch in spec.get("patches", []):
        target = patch["target"]
        for doc in docs:
            if doc["kind"] == target["kind"] and doc["metadata"]["name"] == target["name"]:
                for op in yaml.safe_load(patch["patch"]):
                    assert op["op"] == "replace", op
                    *parents, leaf = op["path"].strip("/").split("/")
                    node = doc
                    for key in parents:
                        node = node[key]
                    node[leaf] = op["value"]
    return docs


def _containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            spec = doc["spec"]["template"]["spec"]
            out += spec.get("initContainers", []) + spec["containers"]
    return out


def _overlay_image(overlay: Path) -> str:
    images = _load(overlay / "kustomization.yaml")[0].get("images", [])
    assert len(images) == 1, f"{overlay} must set the image"
    return f"{images[0]['newName']}:{images[0]['newTag']}"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: str(p.parent.name))
def test_every_kustomization_builds(kustomization: Path) -> None:
    docs = build(kustomization.parent)
    assert docs


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_pod_of_an_overlay_runs_its_image(overlay: Path) -> None:
    image = _overlay_image(overlay)
    containers = _containers(build(overlay))
    assert containers
    assert {c["image"] for c in containers} == {image}


def test_scale_out_has_the_shard_job_and_no_steady_stream() -> None:
    docs = {f"{d['kind']}/{d['metadata']['name']}": d for d in build(K8S / "scale-out")}
    assert "Job/hospital-sim-stream-shards" in docs
    assert docs["Deployment/hospital-sim-stream"]["spec"]["replicas"] == 0


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (structural build ran)")
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_kubectl_kustomize_builds_the_overlay(overlay: Path) -> None:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert {c["image"] for c in _containers(docs)} == {_overlay_image(overlay)}
