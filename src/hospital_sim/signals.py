"""SIGINT/SIGTERM as a polite request to stop, for the long-running commands."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signals(on_signal: Callable[[str], None]) -> Iterator[None]:
    """Call ``on_signal(name)`` ('SIGINT'/'SIGTERM') instead of dying, then restore handlers.

    Python only delivers signals to the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        on_signal(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
