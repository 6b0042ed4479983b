"""Terminal manners: colour only for a person at a terminal, progress only where it is seen.

A pipeline reads the same output a person does, so anything meant only for the eye must
disappear when nobody is watching: colour needs stdout to be a terminal and neither NO_COLOR
(https://no-color.org) nor --no-color; the progress line needs stderr to be a terminal and no
--quiet. Progress is drawn with a carriage return and blanks, never an escape sequence, so
NO_COLOR output holds no escape codes at all.

The settings are per process (one command line per run); `configure` is called by the CLI's
top-level group on every invocation, so in-process test runs do not leak into each other.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import click

if TYPE_CHECKING:
    from .render.text_view import Paint

# The renderers (and through them the plan file and desired-state modules) are imported only
# where a plan is painted: the CLI configures these manners on every run, `--help` and
# `validate` included, and those never render a plan.

#: Role (as text_view names it) -> click.style arguments.
STYLES: dict[str, dict[str, Any]] = {
    "update": {"fg": "yellow"},
    "enable": {"fg": "red", "bold": True},
    "critical": {"fg": "red", "bold": True},
    "high": {"fg": "red", "bold": True},
    "medium": {"fg": "yellow"},
    "low": {"fg": "green"},
    "unknown": {"fg": "magenta"},
    "raises": {"fg": "red"},
    "lowers": {"fg": "green"},
}


@dataclass
class Manners:
    no_color: bool = False
    quiet: bool = False


SETTINGS = Manners()


def configure(*, no_color: bool = False, quiet: bool = False) -> None:
    SETTINGS.no_color = no_color
    SETTINGS.quiet = quiet
    _CURRENT.clear()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream is not a terminal
        return False


def colour_enabled(stream: TextIO | None = None) -> bool:
    """True only for a terminal, with neither NO_COLOR (any non-empty value) nor --no-color.

    no-color.org: "when present and not an empty string (regardless of its value)"."""
    if SETTINGS.no_color or os.environ.get("NO_COLOR"):
        return False
    return _isatty(stream if stream is not None else sys.stdout)


def painter(enabled: bool) -> Paint:
    """A paint function for text_view: ANSI styles by role, or the text unchanged."""
    from .render.text_view import plain

    if not enabled:
        return plain

    def paint(role: str, text: str) -> str:
        style = STYLES.get(role)
        return click.style(text, **style) if style else text

    return paint


@contextlib.contextmanager
def painting(enabled: bool | None = None) -> Iterator[None]:
    """Render inside this block with colour when stdout deserves it (or as `enabled` says:
    False for text that goes to a file)."""
    from .render.text_view import PAINT

    token = PAINT.set(painter(colour_enabled() if enabled is None else enabled))
    try:
        yield
    finally:
        PAINT.reset(token)


def info(message: str) -> None:
    """A note for the person at the terminal (stderr); --quiet drops it."""
    if not SETTINGS.quiet:
        click.echo(message, err=True)


# -- progress ------------------------------------------------------------------------------

#: Redraw no more often than this (seconds); the first and the last step always draw.
REDRAW_EVERY = 0.1
#: How often a wait with no count of its own (login, listing, look-ups) redraws its clock.
TICK_EVERY = 0.5


class Progress:
    """One line on stderr, redrawn in place with a carriage return and erased with blanks:

    - `progress(operation, done, total)` from the org adapter: apps done of the total, and
      the time since the command started;
    - `waiting(what)` around a wait with no count (logging in, listing, look-ups): what it
      waits for and for how long, redrawn every TICK_EVERY seconds while no count is shown.

    The adapter calls it from its worker threads, hence the lock."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._width = 0
        self._last = 0.0
        self._started = time.monotonic()
        self._waiting: tuple[str, float] | None = None

    def _elapsed(self, since: float | None = None) -> str:
        return f"{time.monotonic() - (self._started if since is None else since):.1f} s"

    def __call__(self, operation: str, done: int, total: int) -> None:
        with self._lock:
            now = time.monotonic()
            if 1 < done < total and now - self._last < REDRAW_EVERY:
                return
            self._last = now
            unit = "app" if total == 1 else "apps"
            self._draw(f"{operation}: {done}/{total} {unit}, {self._elapsed()}")
            if done >= total:
                self._draw("")

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        stop = threading.Event()
        with self._lock:
            self._waiting = (what, time.monotonic())
            self._draw_waiting()
        ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
            with self._lock:
                self._waiting = None
                self._draw("")

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(TICK_EVERY):
            with self._lock:
                if time.monotonic() - self._last >= TICK_EVERY:  # no count is being shown
                    self._draw_waiting()

    def _draw_waiting(self) -> None:
        if self._waiting is not None:
            what, since = self._waiting
            self._draw(f"{what}... {self._elapsed(since)}")

    def _draw(self, line: str) -> None:
        pad = " " * max(0, self._width - len(line))
        try:
            self.stream.write(f"\r{line}{pad}" + ("\r" if not line else ""))
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal must not fail the run
            return
        self._width = len(line)


_CURRENT: list[Progress | None] = []


def progress_for(stream: TextIO | None = None) -> Progress | None:
    """A progress line when stderr is a terminal and --quiet is off; else None."""
    stream = stream if stream is not None else sys.stderr
    if SETTINGS.quiet or not _isatty(stream):
        return None
    return Progress(stream)


def _progress() -> Progress | None:
    """This run's one progress line (login, reads, look-ups and writes share it)."""
    if not _CURRENT:
        _CURRENT.append(progress_for())
    return _CURRENT[0]


def waiting(what: str) -> contextlib.AbstractContextManager[None]:
    """Show `what` is awaited, with a clock, on the progress line (if there is one)."""
    progress = _progress()
    return progress.waiting(what) if progress is not None else contextlib.nullcontext()


def attach_progress(org: Any) -> None:
    """Give an org adapter that has a `progress` hook a callback, where one is wanted."""
    if hasattr(org, "progress"):
        org.progress = _progress()
