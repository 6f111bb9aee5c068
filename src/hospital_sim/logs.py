"""Logging setup: console (rich on a terminal, JSON or plain otherwise) and a rotating file."""

from __future__ import annotations

import datetime as dt
import errno
import io
import json
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Literal

from hospital_sim.errors import ConfigError

LogFormat = Literal["text", "json"]

# Bounded disk use, also during error storms: 5 files of 10 MiB.
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
FILE_MODE = 0o640  # logs name hosts, roles and data: not for every local user


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            # UTC with milliseconds: whole seconds cannot order a burst of records.
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            payload["exc_type"] = record.exc_info[0].__name__
        return json.dumps(payload, ensure_ascii=False)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are readable by their owner and group only (0640)."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        return io.TextIOWrapper(io.FileIO(fd, "a"), encoding=self.encoding, errors=self.errors)


def _file_handler(file: Path) -> logging.Handler:
    """The rotating file handler, or a one-line error naming the setting and the fix."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        if file.is_dir():
            raise IsADirectoryError(errno.EISDIR, "it is a directory")
        if file.is_file() and file.stat().st_mode & 0o007:
            file.chmod(FILE_MODE)  # written by an older version, world-readable
        return PrivateRotatingFileHandler(
            file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"HOSPITAL_SIM_LOG_FILE={file} cannot be written: {reason}; "
            "set HOSPITAL_SIM_LOG_FILE to a file path in a writable folder"
        ) from None


def configure(level: str = "INFO", *, fmt: LogFormat = "text", file: Path | None = None) -> None:
    """Configure the root logger once per process (reconfiguring replaces handlers)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    console: logging.Handler
    if fmt == "json":
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        from rich.logging import RichHandler

        console = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
        console.setFormatter(logging.Formatter("%(message)s"))
    else:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(console)
    if file is not None:
        rotating = _file_handler(file)
        rotating.setFormatter(
            JsonFormatter()
            if fmt == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        root.addHandler(rotating)
    # psycopg logs connection details at DEBUG; keep them out of user logs.
    logging.getLogger("psycopg").setLevel(max(logging.INFO, root.level))
