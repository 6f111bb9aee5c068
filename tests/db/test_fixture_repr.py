"""A failing test shows the database fixtures it touched, never the server's password."""

from __future__ import annotations

import pytest
from psycopg import conninfo

from tests.db.cdc_support import CdcDb
from tests.db.support import FreshDb

pytestmark = pytest.mark.db


def _password(db: FreshDb) -> str:
    password = conninfo.conninfo_to_dict(db.dsn).get("password")
    if not password:
        pytest.skip("the server under test takes logins without a password")
    return str(password)


def _report(value: object) -> str:
    """What pytest prints for a failed ``assert value is None``."""
    with pytest.raises(AssertionError) as failure:
        assert value is None
    return str(failure.value)


def test_a_failed_assertion_on_fresh_db_hides_the_password(fresh_db: FreshDb) -> None:
    password = _password(fresh_db)
    report = _report(fresh_db)
    assert fresh_db.name in report
    # Booleans only: a failure here must not print the password either.
    leaked = [password in text for text in (report, repr(fresh_db), str(fresh_db))]
    assert leaked == [False, False, False], "the password is shown"


def test_a_failed_assertion_on_a_cdc_database_hides_the_password(cdc: CdcDb) -> None:
    password = _password(cdc.db)
    report = _report(cdc)
    assert cdc.slot in report
    leaked = password in report
    assert not leaked, "the password is shown"
