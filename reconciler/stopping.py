"""The process-wide "stop after the call in flight" flag: set by the CLI's signal handlers,
read by the applier between calls. A module of its own so the CLI can install its handlers
without importing the applier (and the org stack) before a command needs them."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any


class StopRequest:
    """A process-wide "stop after the call in flight" flag, set by the CLI's signal handlers.

    `active` is true only while an apply is writing: before that nothing has been written, so
    a signal may abort at once; while writing, the first signal is a polite request checked
    between calls, and only a second one abandons the call in flight.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.active = False
        self.signum: int | None = None

    def is_set(self) -> bool:
        return self.event.is_set()


STOP = StopRequest()


def exit_code(signum: int | None) -> int:
    """130 for SIGINT (and a bare KeyboardInterrupt), 128+N for another signal N."""
    return 128 + (signum or signal.SIGINT)


@contextlib.contextmanager
def handling_signals(stop: StopRequest = STOP) -> Iterator[None]:
    """SIGINT/SIGTERM for a command that writes (like Terraform), for the block's duration.

    Before the first write a signal aborts at once (KeyboardInterrupt): nothing was written.
    While writing, the first signal asks the applier to stop after the call in flight (its
    outcome is recorded); a second abandons that call. Either way the caller still gets its
    report. Signals only reach the main thread: elsewhere this does nothing.
    """

    def on_signal(signum: int, frame: Any) -> None:
        if stop.active and not stop.event.is_set():
            stop.signum = signum
            stop.event.set()
            os.write(
                2,
                b"\nStopping after the call in flight; the report follows. Signal again to "
                b"abandon that call (its outcome is then unknown).\n",
            )
            return
        stop.signum = stop.signum or signum
        raise KeyboardInterrupt

    stop.event.clear()
    stop.signum = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
