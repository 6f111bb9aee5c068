"""How a worker's fatal error reads in the stream's summary and log."""

from __future__ import annotations

import psycopg
import pytest

from hospital_sim.stream.crews import describe
from hospital_sim.stream.pacing import RatePacing


def test_a_defect_names_the_source_line_that_raised_it() -> None:
    with pytest.raises(ValueError) as caught:
        RatePacing(rate=0, start=0.0)
    line = describe(caught.value)
    assert line.startswith("ValueError: rate must be > 0, not 0 (at hospital_sim/stream/pacing.py:")
    assert line.endswith(")") and line.rsplit(":", 1)[1].rstrip(")").isdigit()


def test_an_error_with_no_message_still_says_where() -> None:
    def broken() -> None:
        raise AssertionError

    with pytest.raises(AssertionError) as caught:
        broken()
    assert describe(caught.value) == (
        f"AssertionError (at test_worker_failure.py:{broken.__code__.co_firstlineno + 1})"
    )


def test_a_database_error_is_its_own_message() -> None:
    error = psycopg.errors.ForeignKeyViolation("insert or update violates a foreign key")
    assert describe(error) == "ForeignKeyViolation: insert or update violates a foreign key"
