"""Command lines in documents and deployment files, checked against the Typer app: a
``hospital-sim ...`` line must name commands and options that exist."""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator
from typing import Any

import typer.main

from hospital_sim.cli.app import app

SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")

REDIRECTIONS = {">", ">>", "<", ">&", "&>", "<&"}


def segments(line: str) -> Iterator[list[str]]:
    """The simple commands of a shell line, as token lists (substitutions included)."""
    for inner in SUBSTITUTION.findall(line):
        yield from segments(inner)
    lexer = shlex.shlex(SUBSTITUTION.sub("SUBST", line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)
    current: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in REDIRECTIONS:
            if current and current[-1].isdigit():
                current.pop()  # the 2 of 2>/dev/null
            i += 2  # the operator and its target
            continue
        if set(token) <= set("&|;()<>"):
            if current:
                yield current
            current = []
        else:
            current.append(token)
        i += 1
    if current:
        yield current


@functools.cache
def root_command() -> Any:
    return typer.main.get_command(app)


def _option(cmd: Any, name: str) -> Any | None:
    for param in cmd.params:
        if name in param.opts or name in param.secondary_opts:
            return param
    return None


def check_cli_args(args: list[str], root: Any | None = None) -> list[str]:
    """Problems with ``hospital-sim <args>``: unknown commands, options, extra arguments."""
    cmd = root if root is not None else root_command()
    where = ["hospital-sim"]
    positionals = 0
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            break
        if token.startswith("-") and token != "-":
            name, has_value, _ = token.partition("=")
            if name in ("--help", "-h"):
                return []
            param = _option(cmd, name)
            if param is None:
                return [f"'{' '.join(where)}' has no option {name}"]
            if not getattr(param, "is_flag", False) and not has_value:
                i += 1  # the option's value
        elif getattr(cmd, "commands", None):
            sub = cmd.commands.get(token)
            if sub is None:
                return [f"'{' '.join(where)}' has no command '{token}'"]
            cmd = sub
            where.append(token)
        else:
            positionals += 1
            arguments = [p for p in cmd.params if not p.opts[0].startswith("-")]
            if positionals > len(arguments):
                return [f"'{' '.join(where)}' takes no argument '{token}'"]
        i += 1
    return []


def cli_args(tokens: list[str]) -> list[str] | None:
    """The arguments after a hospital-sim entry point in ``tokens``, or None if there is none."""
    for i, token in enumerate(tokens):
        if token.split("/")[-1] == "hospital-sim":
            return tokens[i + 1 :]
        if token == "-m" and i + 1 < len(tokens) and tokens[i + 1] == "hospital_sim":
            return tokens[i + 2 :]
    return None
