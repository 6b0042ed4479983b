"""The process-wide "stop after the call in flight" flag: set by the CLI's signal handlers,
read by the applier between calls. A module of its own so the CLI can install its handlers
without importing the applier (and the org stack) before a command needs them."""

from __future__ import annotations

import threading


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
