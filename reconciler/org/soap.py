"""Metadata API SOAP envelopes: built with lxml, answers parsed strictly.

Why not zeep (which this project used before): zeep parses replies with lxml's recovering
parser when `strict=False`, so a truncated or garbled readMetadata reply was silently
"repaired" into fewer records and audit under-reported; its full object deserialisation was
also a third of plan's CPU. Here a reply is parsed with recovery off, entity resolution and
network access off, and every shape the code relies on is checked, so a reply is used whole or
refused with an error that names the call (wire doc §4-§8 for the shapes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from lxml import etree

from ..display import one_line
from ..errors import (
    IncompleteResponse,
    OrgError,
    OutcomeUnknown,
    ReadRefused,
    RequestLimitExceeded,
    SessionExpired,
    TransientOrgError,
)
from ..redaction import scrub
from .interface import OUTCOME_UNKNOWN, TRANSIENT_CODES

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MD_NS = "http://soap.sforce.com/2006/04/metadata"
_NSMAP = {"soapenv": SOAP_ENV, "xsi": XSI, "md": MD_NS}
_REFUSED = frozenset({"INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY"})

#: Strict: no recovery, no DTD entities, no network, no huge text nodes. A reply that declares
#: a DOCTYPE at all is refused after parsing (parse_reply).
_PARSER = etree.XMLParser(
    recover=False, resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
)


#: Raw C0 controls XML 1.0 cannot carry (tab, LF and CR it can). Salesforce's own Java client
#: strips them, so an org can hold them in a text value (typed into Setup long ago); in UTF-8
#: each is one byte that never occurs inside a multi-byte sequence.
_ILLEGAL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: Before the strict parse each such byte becomes one character of Supplementary Private Use
#: Area-A (U+F0000 + the byte): legal in text, never in a name or markup, so the structure is
#: still checked whole (no recovery: a broken reply is refused as before).
_MARK_BASE = 0xF0000
_MARK_PREFIX = chr(_MARK_BASE).encode("utf-8")[:3]  # shared by the 32 marks' UTF-8 forms
_UNMARK = {_MARK_BASE + b: chr(b) for b in range(0x20)}
#: Set on the answer element of a reply that held marks: only those need unmark().
MARKED = "{urn:reconciler}marked"
_UTF8_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']utf-?8["']""", re.IGNORECASE)


def unmark(value: Any) -> Any:
    """A value read from a MARKED reply with the org's original characters put back; they stay
    in memory only (every view escapes them, and the applier refuses to write them back)."""
    if isinstance(value, str):
        return value.translate(_UNMARK)
    if isinstance(value, dict):
        return {k: unmark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unmark(v) for v in value]
    return value


def _marked(body: bytes) -> bytes | None:
    """`body` with each illegal control byte replaced by its mark; None if it has none, or if
    it cannot be marked safely (not UTF-8, or it already holds a mark's character)."""
    if _ILLEGAL.search(body) is None or _MARK_PREFIX in body:
        return None
    head = body[:200]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None  # UTF-16: its zero bytes are not controls
    declaration = head[: head.find(b"?>") + 1] if head.startswith(b"<?xml") else b""
    if b"encoding" in declaration and not _UTF8_DECL.match(declaration):
        return None  # another encoding: the marks' UTF-8 bytes would read as other text
    return _ILLEGAL.sub(lambda m: chr(_MARK_BASE + m.group()[0]).encode("utf-8"), body)


def md(tag: str) -> str:
    return f"{{{MD_NS}}}{tag}"


def envelope(session_id: str, operation: str) -> tuple[etree._Element, etree._Element]:
    """A request envelope with the SessionHeader; returns (root, the operation element)."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=_NSMAP)
    header = etree.SubElement(root, f"{{{SOAP_ENV}}}Header")
    session = etree.SubElement(header, md("SessionHeader"))
    etree.SubElement(session, md("sessionId")).text = session_id
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
    return root, etree.SubElement(body, md(operation))


def add_text(parent: etree._Element, tag: str, values: Iterable[str]) -> None:
    for value in values:
        etree.SubElement(parent, md(tag)).text = value


def serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def parse_reply(
    status: int, content_type: str, body: bytes, call: str, *, write: bool = False
) -> etree._Element:
    """The operation's response element, or the error the reply stands for.

    HTTP 500 with a SOAP fault is a call-level error (wire doc §8); 502/503/504 are transient;
    anything else that is not a 200 SOAP envelope is refused, without echoing the body (an
    HTML error page is not ours to print).

    For a write (`write`), only a well-formed SOAP fault proves the org did not carry the call
    out: any other failed answer (a proxy's HTML page with HTTP 500, a 502/503/504, a reply
    that does not parse) arrived after the request left, so the save may have happened. Such a
    reply is OutcomeUnknown, which the applier settles by re-reading, as it does a lost answer.
    """
    try:
        return _parse_reply(status, content_type, body, call, write=write)
    except (IncompleteResponse, _NotAFault) as exc:
        if not write:
            raise
        raise OutcomeUnknown(
            f"{exc}; the request was sent, so the org may or may not have applied it",
            OUTCOME_UNKNOWN,
        ) from None


class _NotAFault(OrgError):
    """A failed answer that is not a SOAP fault (an HTTP error page, a non-200 envelope)."""


def _parse_reply(
    status: int, content_type: str, body: bytes, call: str, *, write: bool
) -> etree._Element:
    if status in (502, 503, 504) and not (write and _looks_like_xml(content_type, body)):
        if write:
            raise _NotAFault(
                f"{call}: the org answered HTTP {status} ({_describe(content_type, body)})"
            )
        raise TransientOrgError(
            f"{call}: the org answered HTTP {status} ({_describe(content_type, body)})",
            "SERVER_UNAVAILABLE",
        )
    if "xml" not in content_type.lower() and status != 200:
        raise _NotAFault(
            f"{call}: the org answered HTTP {status} ({_describe(content_type, body)})"
        )
    marked = None
    try:
        try:
            root = etree.fromstring(body, _PARSER)
        except etree.XMLSyntaxError:
            # Only a reply the strict parser refuses is searched for such characters, so a
            # clean reply costs nothing more; a marked one is parsed again, just as strictly.
            marked = _marked(body)
            if marked is None:
                raise
            root = etree.fromstring(marked, _PARSER)
    except etree.XMLSyntaxError as exc:
        reason = one_line(str(exc), 200)
        if ("Char" in reason and "invalid" in reason) or "out of allowed range" in reason:
            raise IncompleteResponse(
                f"{call}: the org's reply holds a character XML 1.0 cannot carry ({reason}). "
                "Nothing from it was used."
            ) from None
        raise IncompleteResponse(
            f"{call}: the org's reply is not well-formed XML ({reason}); "
            "it may have been truncated. Nothing from it was used."
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        # SOAP 1.1 forbids a DTD in a message; its entities would be read as something the org
        # never held (resolve_entities=False reads `&xxe;` as empty). Refused whole.
        raise IncompleteResponse(
            f"{call}: the org's reply carries a DOCTYPE, which a SOAP message must not "
            "(entities could change what is read). Nothing from it was used."
        )
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise IncompleteResponse(f"{call}: the org's reply is not a SOAP envelope")
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    if body_el is None or len(body_el) != 1:
        raise IncompleteResponse(f"{call}: the org's reply has no single SOAP Body element")
    answer = body_el[0]
    if answer.tag == f"{{{SOAP_ENV}}}Fault":
        raise fault_error(answer, call)
    if status != 200:
        raise _NotAFault(f"{call}: the org answered HTTP {status} without a SOAP fault")
    if answer.tag != md(f"{call}Response"):
        raise IncompleteResponse(
            f"{call}: expected {call}Response in the reply, "
            f"got {one_line(etree.QName(answer).localname, 200)}"
        )
    if marked is not None:
        answer.set(MARKED, "1")
    return answer


def _looks_like_xml(content_type: str, body: bytes) -> bool:
    """Worth parsing as a possible SOAP fault (a write's 502/503/504 must be told apart)."""
    return "xml" in content_type.lower() or body.lstrip()[:1] == b"<"


def fault_error(fault: etree._Element, call: str) -> OrgError:
    """A SOAP fault as the matching error type; `faultcode` is `sf:<CODE>` (wire doc §8)."""
    code = (fault.findtext("faultcode") or "").rpartition(":")[2].strip() or "FAULT"
    # Scrubbed before it is cut, so a secret can never survive as an unmatched fragment.
    message = one_line(scrub(fault.findtext("faultstring") or code), 500)
    text = f"{call} failed: {message}"
    if code == "INVALID_SESSION_ID":
        return SessionExpired(text, code)
    if code == "REQUEST_LIMIT_EXCEEDED":
        return RequestLimitExceeded(
            f"{call}: the org's API request limit is used up ({message}). Nothing more will be "
            "sent; retrying cannot help until the limit resets (see Setup > Company Information).",
            code,
        )
    if code in TRANSIENT_CODES:
        return TransientOrgError(text, code)
    if code in _REFUSED:
        return ReadRefused(text, code)
    return OrgError(text, code)


def is_nil(element: etree._Element) -> bool:
    return element.get(f"{{{XSI}}}nil") in ("true", "1")


def xsi_type(element: etree._Element) -> str | None:
    """The local name of an element's xsi:type QName, resolved through its namespaces."""
    value = element.get(f"{{{XSI}}}type")
    if value is None:
        return None
    prefix, _, local = value.rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    if namespace != MD_NS:
        return None
    return str(local)


def _describe(content_type: str, body: bytes) -> str:
    kind = content_type.split(";")[0].strip() or "no content type"
    return f"{kind}, {len(body)} bytes"
