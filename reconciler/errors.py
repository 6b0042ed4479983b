"""Error types. A user error carries a message for the terminal; the CLI prints it, no traceback.

The org errors form a small taxonomy that the retry policy and the applier act on, so the
decision "retry, re-read, re-login or stop" is made from the type, never from message text.
"""

from __future__ import annotations

from dataclasses import dataclass

from .display import printable


class ReconcilerError(Exception):
    """Any failure the user can act on: printed as `Error: <message>`, exit 1."""


@dataclass(frozen=True)
class Issue:
    """One problem in the desired state, located so an editor can jump to it."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        """One line, whatever the YAML holds: file names, keys (app names included) and values
        quoted in the message are the YAML author's text, and a newline or carriage return in
        them must not print a line of its own (a forged `Plan:` line, or a `::error` workflow
        command a CI runner would obey). Escaped as the `github` annotations escape them."""
        where = f"{printable(self.file)}:{self.line}" if self.line else printable(self.file)
        message = printable(self.message)
        return f"{where}: {printable(self.key)}: {message}" if self.key else f"{where}: {message}"


class DesiredStateError(ReconcilerError):
    """The YAML is invalid. All issues are collected so one run shows every mistake."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"invalid desired state ({len(issues)} problem(s)):\n{lines}")


class OrgError(ReconcilerError):
    """The org refused or failed a call. Messages are scrubbed of secrets before they get here."""

    def __init__(self, message: str, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class ReadRefused(OrgError):
    """The org would not return a metadata type (e.g. consumer-secret access is off)."""


class IncompleteResponse(OrgError):
    """A reply was malformed, truncated, oversized, redirected, or lacked a listed component.

    Never retried silently into a smaller answer: plan, apply and audit stop rather than
    report on a partial view of the org."""


class TransientOrgError(OrgError):
    """Worth retrying: connection error, timeout, HTTP 502/503/504, UNABLE_TO_LOCK_ROW, ..."""


class OutcomeUnknown(TransientOrgError):
    """A write was sent but its answer was lost: the org may or may not hold it.

    Retrying blindly is safe only because every write is a read-modify-write of the same
    values; the applier re-reads first and decides `applied`, retry once, or `unknown`."""


class RequestLimitExceeded(OrgError):
    """The org's daily API request limit is used up: retrying cannot help, so stop at once."""


class SessionExpired(OrgError):
    """INVALID_SESSION_ID and no way (or no second chance) to log in again."""


class PlanFileError(ReconcilerError):
    """A saved plan is unreadable, of another format version, or stale."""
