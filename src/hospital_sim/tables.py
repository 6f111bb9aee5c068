"""The names every layer agrees on: the 7 hospital tables, parents before children.

Pure data, importable by the generator (which never touches a database) and by the
schema, seed, stream and CDC layers alike.
"""

from __future__ import annotations

from typing import Any

TABLES: tuple[str, ...] = (
    "convenios",
    "medicos",
    "pacientes",
    "pacientes_convenios",
    "consultas",
    "exames",
    "internacoes",
)

Row = tuple[Any, ...]
"""One row of a hospital table, its values in the table's column order."""
