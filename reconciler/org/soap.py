"""Metadata API SOAP envelopes: built with lxml, answers parsed strictly.

Why not zeep (which this project used before): zeep parses replies with lxml's recovering
parser when `strict=False`, so a truncated or garbled readMetadata reply was silently
"repaired" into fewer records and audit under-reported; its full object deserialisation was
also a third of plan's CPU. Here a reply is parsed with recovery off, entity resolution and
network access off, and every shape the code relies on is checked, so a reply is used whole or
refused with an error that names the call (wire doc §4-§8 for the shapes).
"""

from __future__ import annotations

from collections.abc import Iterable

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
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


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
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise IncompleteResponse(
            f"{call}: the org's reply is not well-formed XML ({one_line(str(exc), 200)}); "
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
    return local


def _describe(content_type: str, body: bytes) -> str:
    kind = content_type.split(";")[0].strip() or "no content type"
    return f"{kind}, {len(body)} bytes"
