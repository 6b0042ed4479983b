"""The desired-state types, apart from the code that loads them.

Both the loader (desired_state.py) and the baseline engine (baseline.py) need these types, and
the loader runs the engine's offline checks. Keeping the types here lets the imports run one
way only: desired_state -> baseline -> desired_model, with no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from . import fields as F
from .controls import DEFAULT_BASELINE
from .errors import Issue


@dataclass(frozen=True)
class ExceptionEntry:
    """A justified, expiring exemption of one app from one control."""

    control: str
    justification: str
    owner: str
    expires: date
    ticket: str | None
    file: str
    line: int

    def evidence(self) -> dict[str, Any]:
        """What a finding, a plan file and an evidence record say about this exception."""
        return {
            "justification": self.justification,
            "owner": self.owner,
            "ticket": self.ticket,
            "expires": self.expires.isoformat(),
        }


@dataclass
class BaselineConfig:
    """Which controls apply, and what to do with org apps the YAML does not list."""

    controls: tuple[str, ...]
    unlisted: str = "report"
    exception_warning_days: int = 30
    #: Where `baseline:` was declared (for error messages and SARIF), if it was.
    file: str | None = None
    line: int = 0


@dataclass
class DesiredApp:
    """What one app must look like: only the declared fields, keyed by field path."""

    name: str
    file: str
    line: int
    values: dict[str, Any] = field(default_factory=dict)
    #: field path -> line where it was declared (or the defaults line it came from).
    lines: dict[str, int] = field(default_factory=dict)
    exceptions: list[ExceptionEntry] = field(default_factory=list)
    #: False for a stand-in built for an org app that the YAML does not list.
    listed: bool = True
    #: field path -> file it came from, where that is not `file` (an overlay layer, `-d` given
    #: more than once, set it); `where()` pairs it with the line.
    path_files: dict[str, str] = field(default_factory=dict)
    #: Field paths whose value came from a `defaults:` block, not from the app's own keys (after
    #: overlays: a default never replaces an app's own value). A blanket default was written
    #: without knowing which apps are in use, so planning holds a default that would break an
    #: integration in use, as it holds a baseline remedy (planning.hold_breaking).
    from_defaults: set[str] = field(default_factory=set)

    def where(self, path: str) -> tuple[str, int]:
        """(file, line) that declared `path`: errors and SARIF must point at the layer that won."""
        return self.path_files.get(path, self.file), self.lines.get(path, self.line)

    def exception_for(self, control: str) -> ExceptionEntry | None:
        return next((e for e in self.exceptions if e.control == control), None)

    def declares(self, side: F.Side) -> bool:
        return any(path.startswith(side + ".") for path in self.values)


@dataclass
class DesiredState:
    apps: dict[str, DesiredApp]
    files: list[str]
    #: sha256 over the files' bytes, recorded in plans so a reviewer can tie a plan to a commit.
    digest: str
    baseline: BaselineConfig = field(default_factory=lambda: BaselineConfig(DEFAULT_BASELINE))
    #: Non-blocking findings (exceptions expiring soon or no longer needed).
    warnings: list[Issue] = field(default_factory=list)
    #: File name relative to the desired root -> sha256 of its bytes (saved plans name the
    #: files that changed since).
    file_digests: dict[str, str] = field(default_factory=dict)
