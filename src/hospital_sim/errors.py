"""The exception hierarchy.

User errors carry the fix in their message; the CLI prints that one line and exits 2.
"""

from __future__ import annotations


class HospitalSimError(Exception):
    """Base of every error raised by hospital-sim."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UserError(HospitalSimError):
    """Bad input from the user: a setting, a flag, a file. Exit code 2."""

    exit_code = 2


class ConfigError(UserError):
    """A setting has a value that is not accepted."""


class ConnectionFailed(UserError):
    """The database server could not be reached or refused us."""


class ServerMisconfigured(UserError):
    """The server is reachable but lacks something we need (wal_level, a privilege...)."""


class EmbeddedServerError(HospitalSimError):
    """The embedded PostgreSQL could not be initialised, started or stopped."""

    exit_code = 2
