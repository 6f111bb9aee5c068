"""Where a capture engine writes its change log, the same for ``builtin`` and ``debezium``.

:func:`change_log` opens the output (a path appended to, ``-`` for stdout, or an open
stream); :func:`flush` makes a written batch durable before the engine acknowledges it.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

from hospital_sim.errors import UserError


@contextmanager
def change_log(
    output: str | Path | TextIO, before_open: Callable[[Path], None] | None = None
) -> Iterator[TextIO]:
    """The change log to append to; ``before_open`` sees a file's path before it is opened."""
    if not isinstance(output, str | Path):
        yield output
        return
    if str(output) == "-":
        yield sys.stdout
        return
    path = Path(output)
    if path.is_dir():
        raise UserError(f"cannot write the change log {path}: it is a folder; give a file path")
    if before_open is not None:
        try:
            before_open(path)
        except OSError as exc:
            raise UserError(f"cannot read the change log {path}: {exc.strerror}") from None
    created = not path.exists()
    try:
        fh = open(path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as exc:
        raise UserError(f"cannot write the change log {path}: {exc.strerror}") from None
    try:
        with fh:
            yield fh
    except BaseException:
        # A run that failed before its first event leaves no empty log behind.
        if created:
            with suppress(OSError):
                if path.stat().st_size == 0:
                    path.unlink()
        raise


def flush(out: TextIO, fsync: bool) -> None:
    """Flush ``out``, and with ``fsync`` sync a file to disk."""
    out.flush()
    if fsync and out is not sys.stdout:
        # A pipe or an in-memory buffer has nothing to sync.
        with suppress(OSError, io.UnsupportedOperation, ValueError):
            os.fsync(out.fileno())
