"""The source tree's import graph: no cycles, and every layer imports only what is below it.

Imports are read with ``ast`` (those inside functions too), so a deferred import counts like
any other: it only hides a dependency, it does not remove it.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "hospital_sim"

# Layer -> the layers it must never import. "base" is the top-level modules (config, config_files,
# errors, logs, tables, signals, mix, thresholds): everything may use them, they use no other layer.
# "demo" is the top-level ``demo`` module: it composes seed, stream, capture and verify, so it
# stands above those layers and below the command line.
FORBIDDEN: dict[str, set[str]] = {
    "base": {"generate", "db", "stream", "cdc", "scenarios", "demo", "web", "cli"},
    "generate": {"db", "stream", "cdc", "scenarios", "demo", "web", "cli"},
    "db": {"stream", "cdc", "scenarios", "demo", "web", "cli"},
    "stream": {"cdc", "scenarios", "demo", "web", "cli"},
    "cdc": {"stream", "scenarios", "demo", "web", "cli"},
    "scenarios": {"stream", "cdc", "demo", "web", "cli"},
    "demo": {"scenarios", "web", "cli"},
    "web": {"demo", "cli"},
}
BASE_FOR_GENERATE = {"hospital_sim.tables"}  # the only module outside generate/ it reads
ORCHESTRATION = {"hospital_sim.demo": "demo"}  # top-level modules that are a layer of their own

# (importer, imported) edges allowed across layers, each with its reason.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("hospital_sim"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("hospital_sim"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != name}


@functools.cache
def graph() -> dict[str, set[str]]:
    """Every module's project imports, read once per test run."""
    mods = modules()
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


def layer(module: str) -> str:
    if module == "hospital_sim.__main__":
        return "cli"  # ``python -m hospital_sim``: the command line's entry point
    if module in ORCHESTRATION:
        return ORCHESTRATION[module]
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (SRC / parts[1]).is_dir()):
        return parts[1]
    return "base"


def test_the_graph_sees_imports_inside_functions() -> None:
    # run_stream's metrics are imported where they are served: the test must see that.
    assert "hospital_sim.stream.metrics" in graph()["hospital_sim.stream.run"]


def test_no_module_imports_itself_back_through_others() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("lower", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(lower: str) -> None:
    wrong = sorted(
        f"{src} -> {dst}"
        for src, dsts in graph().items()
        if layer(src) == lower
        for dst in dsts
        if layer(dst) in FORBIDDEN[lower] and (src, dst) not in EXCEPTIONS
    )
    assert wrong == []


def test_generation_reads_only_itself_and_the_table_names() -> None:
    wrong = sorted(
        f"{src} -> {dst}"
        for src, dsts in graph().items()
        if layer(src) == "generate"
        for dst in dsts
        if layer(dst) != "generate" and dst not in BASE_FOR_GENERATE
    )
    assert wrong == []


def test_only_the_command_line_imports_the_command_line() -> None:
    wrong = sorted(
        f"{src} -> {dst}"
        for src, dsts in graph().items()
        for dst in dsts
        if layer(dst) == "cli" and layer(src) != "cli"
    )
    assert wrong == []


def test_every_exception_is_still_needed() -> None:
    edges = graph()
    stale = [f"{a} -> {b}" for a, b in EXCEPTIONS if b not in edges.get(a, set())]
    assert stale == []
