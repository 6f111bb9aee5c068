"""Verify a captured change log against the rows the source database holds."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from hospital_sim.cdc.verify.compare import VerifyReport, compare
from hospital_sim.cdc.verify.events import ChangeLogParser
from hospital_sim.cdc.verify.replay import Replayer

__all__ = ["verify_changelog"]

Rows = Mapping[str, Iterable[Mapping[str, Any]]]


def verify_changelog(
    lines: Iterable[str],
    expected: Rows,
    baseline: Rows | None = None,
    *,
    sample_size: int = 10,
    optional: Collection[str] = (),
) -> VerifyReport:
    """Replay the change log ``lines`` on ``baseline`` and compare with ``expected``.

    ``expected`` and ``baseline`` map table names to rows of canonical values (int, str,
    date, naive UTC datetime, None), as psycopg returns them or
    :func:`~hospital_sim.cdc.verify.psql_csv.load_expected_csv_dir` reads them. Without a
    baseline the replay starts from empty tables, so the log must hold a snapshot.
    Tables in ``optional`` are compared only when the log has events for them.
    Raises :class:`~hospital_sim.cdc.verify.events.ChangeLogError` for an unusable line.
    """
    parser = ChangeLogParser()
    replayer = Replayer(baseline, sample_size=sample_size)
    replayer.apply_all(parser.parse(lines))
    return compare(
        replayer.result(),
        expected,
        parse_stats=parser.stats,
        sample_size=sample_size,
        optional=optional,
    )
