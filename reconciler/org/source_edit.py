"""Byte-exact edits of one source-format metadata file (`*-meta.xml`).

A team reviews `apply -o source:PATH` as a git diff, so the diff must show the planned elements
and nothing else: not a re-indented file, not a reordered element, not a rewritten XML
declaration or line ending. lxml cannot promise that when it serialises a tree, so the file is
never re-serialised. Instead a small scanner finds the byte spans of the root's child elements,
lxml confirms the scanner saw the same children (a file the scanner misreads is refused, never
guessed at), and only the spans of the planned elements are replaced. A missing element is
inserted where `sf project retrieve` puts it: children in alphabetical order (the WSDL order of
these types after fullName, eca doc §13a), with the indentation and line ending of its
neighbour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

_WS = b" \t\r\n"
_NAME_END = re.compile(rb"[\s/>]")


class SourceEditError(Exception):
    """The file cannot be edited safely in place; nothing was written."""


@dataclass(frozen=True)
class Child:
    """One child element of the root, as byte offsets into the file."""

    qname: bytes  # the tag as spelt in the file (with its prefix, if any)
    start: int  # offset of its '<'
    end: int  # offset just past its end tag (or its '/>')
    inner: tuple[int, int] | None  # its content; None when self-closing
    lead: int  # where the whitespace before it begins

    @property
    def name(self) -> str:
        return self.qname.rpartition(b":")[2].decode("ascii", "replace")


@dataclass(frozen=True)
class Layout:
    root_qname: bytes
    content: tuple[int, int]  # between the root's start tag and its end tag
    children: list[Child]

    @property
    def prefix(self) -> bytes:
        head, colon, _ = self.root_qname.rpartition(b":")
        return head + colon


def _skip(data: bytes, pos: int, closer: bytes, what: str) -> int:
    end = data.find(closer, pos)
    if end < 0:
        raise SourceEditError(f"an unterminated {what}")
    return end + len(closer)


def _tag_end(data: bytes, pos: int) -> int:
    """Offset just past the '>' of the tag starting at `pos`, quotes respected."""
    quote = 0
    for i in range(pos + 1, len(data)):
        c = data[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in b"\"'":
            quote = c
        elif c == ord(">"):
            return i + 1
    raise SourceEditError("an unterminated tag")


def _qname(data: bytes, pos: int) -> bytes:
    m = _NAME_END.search(data, pos + 1)
    return data[pos + 1 : m.start() if m else len(data)]


def scan(data: bytes) -> Layout:
    """The root and its children's byte spans; raises SourceEditError on anything unexpected."""
    pos = 0
    while True:  # prolog: declaration, comments, processing instructions, doctype
        pos = data.find(b"<", pos)
        if pos < 0:
            raise SourceEditError("no root element")
        if data.startswith(b"<?", pos):
            pos = _skip(data, pos, b"?>", "processing instruction")
        elif data.startswith(b"<!--", pos):
            pos = _skip(data, pos, b"-->", "comment")
        elif data.startswith(b"<!", pos):
            pos = _tag_end(data, pos)
        else:
            break
    root_qname = _qname(data, pos)
    pos = _tag_end(data, pos)
    if data[pos - 2 : pos] == b"/>":
        raise SourceEditError("the root element is empty (self-closing)")
    content_start = prev_end = pos
    depth = 0
    children: list[Child] = []
    open_start = open_inner = 0
    open_qname = b""
    while True:
        pos = data.find(b"<", pos)
        if pos < 0:
            raise SourceEditError("the root element is not closed")
        if data.startswith(b"<!--", pos):
            pos = _skip(data, pos, b"-->", "comment")
        elif data.startswith(b"<![CDATA[", pos):
            pos = _skip(data, pos, b"]]>", "CDATA section")
        elif data.startswith(b"<?", pos):
            pos = _skip(data, pos, b"?>", "processing instruction")
        elif data.startswith(b"</", pos):
            end = _tag_end(data, pos)
            if depth == 0:
                return Layout(root_qname, (content_start, pos), children)
            depth -= 1
            if depth == 0:
                children.append(
                    Child(
                        open_qname,
                        open_start,
                        end,
                        (open_inner, pos),
                        _lead(data, open_start, prev_end),
                    )
                )
            pos = end
        else:
            end = _tag_end(data, pos)
            closed = data[end - 2 : end] == b"/>"
            if depth == 0:
                open_start, open_inner, open_qname = pos, end, _qname(data, pos)
                if closed:
                    children.append(Child(open_qname, pos, end, None, _lead(data, pos, prev_end)))
            if not closed:
                depth += 1
            pos = end
        if depth == 0:
            prev_end = pos


def _lead(data: bytes, start: int, floor: int) -> int:
    i = start
    while i > floor and data[i - 1] in _WS:
        i -= 1
    return i


def text_of(value: object) -> str:
    """A scalar field value as the Metadata API spells it in XML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise SourceEditError(f"a {type(value).__name__} value cannot be written in place")


def _encoded(text: str, encoding: str) -> bytes:
    return escape(text).encode(encoding, "xmlcharrefreplace")


def set_element(data: bytes, name: str, value: object, encoding: str = "utf-8") -> bytes:
    """`data` with the root's child `name` holding `value`; inserted in order if missing."""
    layout = scan(data)
    text = _encoded(text_of(value), encoding)
    same = [c for c in layout.children if c.name == name]
    if len(same) > 1:
        raise SourceEditError(f"<{name}> appears {len(same)} times")
    if same:
        child = same[0]
        if child.inner is None:
            element = b"<" + child.qname + b">" + text + b"</" + child.qname + b">"
            return data[: child.start] + element + data[child.end :]
        a, b = child.inner
        if b"<" in data[a:b]:
            raise SourceEditError(f"<{name}> holds elements or comments, not a plain value")
        return data[:a] + text + data[b:]
    qname = layout.prefix + name.encode("ascii")
    element = b"<" + qname + b">" + text + b"</" + qname + b">"
    after = next((c for c in layout.children if c.name > name), None)
    if after is not None:
        return data[: after.start] + element + data[after.lead : after.start] + data[after.start :]
    if layout.children:
        last = layout.children[-1]
        return data[: last.end] + data[last.lead : last.start] + element + data[last.end :]
    a, b = layout.content
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    return data[:a] + newline + b"    " + element + newline + data[b:]


def remove_element(data: bytes, name: str) -> bytes:
    """`data` without the root's child `name` (and the whitespace that led to it)."""
    same = [c for c in scan(data).children if c.name == name]
    if len(same) != 1:
        raise SourceEditError(f"<{name}> appears {len(same)} times")
    return data[: same[0].lead] + data[same[0].end :]
