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


class Progress:
    """`progress(operation, done, total)` for the org adapter: one line on stderr, redrawn in
    place with a carriage return and erased with blanks when an operation finishes.

    The adapter calls it from its worker threads, hence the lock."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._width = 0
        self._last = 0.0

    def __call__(self, operation: str, done: int, total: int) -> None:
        with self._lock:
            now = time.monotonic()
            if 1 < done < total and now - self._last < REDRAW_EVERY:
                return
            self._last = now
            line = f"{operation}: {done}/{total} batch{'es' if total != 1 else ''}"
            self._draw(line)
            if done >= total:
                self._draw("")

    def _draw(self, line: str) -> None:
        pad = " " * max(0, self._width - len(line))
        try:
            self.stream.write(f"\r{line}{pad}" + ("\r" if not line else ""))
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal must not fail the run
            return
        self._width = len(line)


def progress_for(stream: TextIO | None = None) -> Progress | None:
    """A progress callback when stderr is a terminal and --quiet is off; else None."""
    stream = stream if stream is not None else sys.stderr
    if SETTINGS.quiet or not _isatty(stream):
        return None
    return Progress(stream)


def attach_progress(org: Any) -> None:
    """Give an org adapter that has a `progress` hook a callback, where one is wanted."""
    if hasattr(org, "progress"):
        org.progress = progress_for()
