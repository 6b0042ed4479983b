"""Output for machines in a pipeline: GitHub workflow annotations and JSON error objects.

A GitHub runner reads `::error file=F,line=L::message` lines from a step's output and pins the
message to that line of the pull request. The runner decodes `%25 %0D %0A` in the message and
also `%3A %2C` in properties (actions/toolkit `command.ts` escapeData/escapeProperty), so text
from the YAML is escaped that way, or a key containing `,line=1::` could move the annotation or
a newline could start a second, forged command. It goes through `printable` first, so control
characters (ESC, bidi overrides) are already visible escapes.

A pipeline that asked for `--format json` parses stdout; an error printed as prose there would
break its parser. So an error is one JSON object on stdout, and nothing else is.
"""

from __future__ import annotations

import json
from typing import Any

from ..display import printable
from ..errors import DesiredStateError, Issue
from ..redaction import scrub

_DATA = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_PROPERTY = {**_DATA, ":": "%3A", ",": "%2C"}


def _escape(text: str, table: dict[str, str]) -> str:
    return "".join(table.get(c, c) for c in text)


def annotation(
    level: str, message: str, file: str | None = None, line: int | None = None, title: str = ""
) -> str:
    """One workflow command: `::error file=...,line=...,title=...::message`."""
    props = []
    if file:
        props.append(f"file={_escape(printable(file), _PROPERTY)}")
    if file and line:
        props.append(f"line={int(line)}")
    if title:
        props.append(f"title={_escape(printable(title), _PROPERTY)}")
    head = f"::{level} {','.join(props)}::" if props else f"::{level}::"
    return head + _escape(printable(scrub(message)), _DATA)


def issue_annotation(level: str, issue: Issue) -> str:
    return annotation(level, issue.message, issue.file, issue.line, issue.key)


def error_annotations(exc: Exception) -> list[str]:
    """One `::error` per desired-state issue; any other error as one file-less `::error`."""
    if isinstance(exc, DesiredStateError):
        return [issue_annotation("error", issue) for issue in exc.issues]
    return [annotation("error", str(exc))]


def issue_dict(issue: Issue) -> dict[str, Any]:
    return {
        "file": issue.file,
        "line": issue.line,
        "key": scrub(issue.key),
        "message": scrub(issue.message),
    }


def error_document(exc: Exception | str) -> str:
    """`{"error": {"message": ..., "issues": [...]}}`, scrubbed of secrets, ASCII-only (so
    no control or bidi character reaches a terminal that shows it)."""
    issues: list[dict[str, Any]] = []
    if isinstance(exc, DesiredStateError):
        issues = [issue_dict(issue) for issue in exc.issues]
        message = str(exc).split("\n", 1)[0].rstrip(":")
    else:
        message = str(exc)
    doc = {"error": {"message": scrub(message), "issues": issues}}
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def error_annotations_text(exc: Exception) -> str:
    """`error_annotations` as the lines a workflow log reads."""
    return "".join(line + "\n" for line in error_annotations(exc))
