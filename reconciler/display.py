"""How outside text and field values read in human output; shared by every human view.

Everything the org says (app names, usernames, profile and permission set names, enum values,
error messages) and everything the YAML says (exception owners, tickets, justifications) is
data, not layout. Printed raw, a newline in a profile name forges a `Plan:` line, and an ESC
sequence rewrites lines already on the terminal. `printable` is the one place that turns such
text into something that can only ever be one visible run of characters on one line.
"""

from __future__ import annotations

from typing import Any

#: Characters that can re-order or hide text on screen (Unicode bidi and line controls):
#: ALM, LRM, RLM, LINE/PARAGRAPH SEPARATOR (line breaks to many editors and to
#: str.splitlines), LRE..RLO, LRI..PDI. Shown as \uXXXX.
_FORMAT_CONTROLS = [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F)]
_FORMAT_CONTROLS += range(0x2066, 0x206A)

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\x1b"}


def _escape_table() -> dict[int, str]:
    table: dict[int, str] = {ord("\\"): "\\\\"}  # doubled, so no escape below can be forged
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]:  # C0, DEL, C1
        table[code] = _NAMED.get(chr(code), f"\\x{code:02x}")
    for code in _FORMAT_CONTROLS:
        table[code] = f"\\u{code:04x}"
    return table


_ESCAPES = _escape_table()


def printable(text: Any) -> str:
    """Outside text as one inert line: control and bidi characters become visible escapes.

    The result never contains a control character, so it cannot start a line, move the cursor
    or flip text direction; backslash is doubled, so `\\n` in the output always means the org
    sent a newline, never that it sent a backslash and an `n`.
    """
    return str(text).translate(_ESCAPES)


def show(value: Any) -> str:
    """A field value as plans print it: strings quoted (inner quotes escaped), lists bracketed."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(printable(item) for item in value) + "]"
    if isinstance(value, str):
        return '"' + printable(value).replace('"', '\\"') + '"'
    return printable(value)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


#: Risk factors arrive marked "+ " (raises the risk), "- " (lowers it) or "? " (unknown). In a
#: plan, `+`/`-` read as Terraform's create/destroy, so every human view says it in words.
FACTOR_MARKS = {
    "+ ": ("raises", "[raises]"),
    "- ": ("lowers", "[lowers]"),
    "? ": ("unknown", "[unknown]"),
}


def factor_parts(factor: str) -> tuple[str, str, str]:
    """(role, mark in words, the rest) of a risk factor; role and mark empty when unmarked."""
    role, mark = FACTOR_MARKS.get(factor[:2], ("", ""))
    return (role, mark, factor[2:]) if mark else ("", "", factor)


def cut(text: str, limit: int) -> str:
    """Text cut to `limit` characters with an ellipsis: an error message never embeds a large
    value, whether it came from the YAML or from the org."""
    return text if len(text) <= limit else text[:limit] + "…"


def one_line(text: str, limit: int) -> str:
    """The org's (or a library's) wording on one line, runs of white space folded, then cut."""
    return cut(" ".join(text.split()), limit)
