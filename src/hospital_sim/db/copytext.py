"""Rows to COPY text, a whole block at a time, column by column.

psycopg's ``Copy.write_row`` dumps every value of every row through Python calls; for
the seed's plain types (int, str, date, datetime, None) one ``str`` per value, mapped
over a column, and two joins per block give the same server-side rows several times
faster.
"""

from __future__ import annotations

from collections.abc import Sequence

from hospital_sim.tables import Row

NULL = "\\N"
_SPECIAL = ("\\", "\t", "\n", "\r")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _column(values: Sequence[object]) -> list[str]:
    texts = list(map(str, values))
    joined = "".join(texts)
    if any(c in joined for c in _SPECIAL):
        texts = [t.translate(_ESCAPES) for t in texts]
    if None in values:
        texts = [NULL if v is None else t for v, t in zip(values, texts, strict=True)]
    return texts


def copy_text(rows: Sequence[Row]) -> bytes:
    """The COPY FROM STDIN text format (tab-separated, ``\\N`` for NULL) of ``rows``.

    Values are written with ``str``: ints, strings, ``date`` and naive ``datetime``
    (``YYYY-MM-DD HH:MM:SS[.ffffff]``) read back as the same values.
    """
    if not rows:
        return b""
    columns = [_column(col) for col in zip(*rows, strict=True)]
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode()
