"""Every command line the user guides show must run: the command exists, so do its options.

Command lines are read from the fenced ``sh``/``bash``/``shell``/``console`` blocks of the
documents below; ``text`` blocks hold output and are not read. A ``hospital-sim ...`` line
is resolved through the command tree of the Typer app; a ``make X`` line needs a target X.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.cli_lines import check_cli_args, cli_args, segments

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ["README.md", "QUICK_START.md", "GUIDE.md"]
ALSO_CHECKED = ["DEPLOYMENT.md", "DEVELOPMENT.md", "CONTRIBUTING.md", "ARCHITECTURE.md"]
SHELL_LANGS = {"sh", "bash", "shell", "console", "zsh"}


def shell_blocks(text: str) -> Iterator[tuple[int, str, str]]:
    """(first line number, language, body) of each fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^\s*```\s*([\w-]*)", lines[i])
        if fence is None:
            i += 1
            continue
        lang, start, body = fence.group(1).lower(), i + 2, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        yield start, lang, "\n".join(body)


def command_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, logical command line) of the shell blocks of a Markdown text."""
    for start, lang, body in shell_blocks(text):
        if lang not in SHELL_LANGS:
            continue
        pending, first = "", start
        for offset, raw in enumerate(body.splitlines()):
            line = raw.rstrip()
            if lang == "console":
                if not pending and not line.lstrip().startswith("$ "):
                    continue  # output
                line = line.lstrip().removeprefix("$ ") if not pending else line
            if not pending:
                first = start + offset
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            logical, pending = (pending + line).strip(), ""
            if logical and not logical.startswith("#"):
                yield first, logical


RUN_OPTIONS_WITH_VALUE = {"-e", "--env", "--name", "-u", "--user", "-w", "--workdir", "-v"}
RUN_OPTIONS_WITH_VALUE |= {"--volume", "-p", "--publish", "-l", "--label", "--profile", "-f"}


@functools.cache
def compose_image_services() -> frozenset[str]:
    """docker-compose.yml services that run the hospital-sim image (built here)."""
    import yaml

    path = ROOT / "docker-compose.yml"
    if not path.exists():
        return frozenset()
    services = yaml.safe_load(path.read_text(encoding="utf-8"))["services"]
    return frozenset(name for name, service in services.items() if "build" in service)


def compose_run_args(tokens: list[str]) -> list[str] | None:
    """``docker compose [opts] run|exec [opts] SERVICE args`` of a hospital-sim service."""
    if tokens[:2] != ["docker", "compose"] and tokens[:1] != ["docker-compose"]:
        return None
    rest = tokens[2:] if tokens[0] == "docker" else tokens[1:]
    i = 0
    while i < len(rest) and rest[i] not in ("run", "exec"):
        i += 2 if rest[i] in RUN_OPTIONS_WITH_VALUE else 1
    i += 1
    while i < len(rest) and rest[i].startswith("-"):
        i += 2 if rest[i] in RUN_OPTIONS_WITH_VALUE else 1
    if i >= len(rest) or rest[i] not in compose_image_services():
        return None
    args = rest[i + 1 :]
    return args[1:] if args[:1] == ["hospital-sim"] else args


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, flags=re.MULTILINE))


def check_line(line: str, targets: set[str]) -> list[str]:
    problems = []
    for tokens in segments(line):
        args = cli_args(tokens)
        if args is None:
            args = compose_run_args(tokens)
        if args is not None:
            problems += check_cli_args(args)
        elif tokens[0] == "make":
            for word in tokens[1:]:
                if not word.startswith("-") and "=" not in word and word not in targets:
                    problems.append(f"the Makefile has no target '{word}'")
    return problems


@pytest.mark.parametrize("doc", GUIDES + ALSO_CHECKED)
def test_every_command_line_in_the_docs_exists(doc: str) -> None:
    path = ROOT / doc
    if not path.exists():
        pytest.fail(f"{doc} is missing")
    targets = make_targets()
    found = 0
    problems = []
    for lineno, line in command_lines(path.read_text(encoding="utf-8")):
        found += 1
        problems += [f"{doc}:{lineno}: {p}: {line}" for p in check_line(line, targets)]
    if doc in GUIDES:
        assert found, f"{doc} shows no command line in a sh/bash/console block"
    assert not problems, "\n".join(problems)


def test_readme_starts_with_make_run_and_make_test() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_two = [line.split("#")[0].strip() for _, line in command_lines(text)][:2]
    assert first_two == ["make run", "make test"], first_two


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("hospital-sim strem --rate 5", "has no command 'strem'"),
        ("hospital-sim stream --speed 5", "has no option --speed"),
        ("hospital-sim cdc setup --register http://x:8083 --bogus", "has no option --bogus"),
        ("hospital-sim counts extra", "takes no argument 'extra'"),
        ('psql "$(hospital-sim db uri)"', "has no command 'uri'"),
        ("make run && make deploy", "no target 'deploy'"),
        ("docker compose run --rm -T init cdc verfy -", "has no command 'verfy'"),
    ],
)
def test_the_checker_rejects_what_does_not_exist(line: str, problem: str) -> None:
    problems = check_line(line, make_targets())
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "line",
    [
        ".venv/bin/hospital-sim --log-level DEBUG stream --rate 100 --workers=4 --duration 60",
        "hospital-sim cdc verify changes.jsonl --json",
        "hospital-sim run --no-stream && hospital-sim counts --json | jq .",
        "psql \"$(.venv/bin/hospital-sim db url)\" -c 'SELECT 1'",
        "PG_HOST=db hospital-sim reset -y --seed 42  # a comment --nope",
        "make install && make test",
        "docker compose --profile cdc run --rm -e LOG_LEVEL=DEBUG init cdc status --json",
        "until hospital-sim counts --json 2>/dev/null | python -c 'x'; do sleep 5; done",
    ],
)
def test_the_checker_accepts_real_command_lines(line: str) -> None:
    assert check_line(line, make_targets()) == []
