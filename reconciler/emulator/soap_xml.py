"""Small SOAP helpers: prefix-aware parsing and response/fault envelopes."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MD_NS = "http://soap.sforce.com/2006/04/metadata"


class SoapFault(Exception):
    """A call-level error sent as an HTTP 500 SOAP fault with faultcode sf:<code>."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def parse(body: bytes) -> tuple[ET.Element, dict[ET.Element, dict[str, str]]]:
    """Parse XML and remember the in-scope prefix map of every element.

    ElementTree drops prefixes, but xsi:type values are QNames ("ns0:Type") that must be
    resolved through the declarations in scope at that element.
    """
    scopes: dict[ET.Element, dict[str, str]] = {}
    stack: list[dict[str, str]] = [{}]
    pending: dict[str, str] = {}
    root: ET.Element | None = None
    for event, item in ET.iterparse(io.BytesIO(body), events=("start-ns", "start", "end")):
        if event == "start-ns":
            prefix, uri = item
            pending[prefix] = uri
        elif event == "start":
            scope = {**stack[-1], **pending}
            pending = {}
            stack.append(scope)
            scopes[item] = scope
            if root is None:
                root = item
        else:
            stack.pop()
    if root is None:
        raise ET.ParseError("empty document")
    return root, scopes


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def ns_of(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def child(elem: ET.Element | None, name: str) -> ET.Element | None:
    """First child with this local name, whatever its namespace."""
    if elem is None:
        return None
    for c in elem:
        if local(c.tag) == name:
            return c
    return None


def children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if local(c.tag) == name]


def text(elem: ET.Element | None) -> str | None:
    return None if elem is None else (elem.text or "").strip()


def el(name: str, value: str | None, attrs: str = "") -> str:
    """One element as text; None → nothing."""
    if value is None:
        return ""
    return f"<{name}{attrs}>{escape(value)}</{name}>"


def attr(name: str, value: str) -> str:
    return f" {name}={quoteattr(value)}"


def md_envelope(inner: str) -> str:
    """Metadata response: metadata namespace as the default namespace (wire doc §4)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{MD_NS}" xmlns:xsi="{XSI}">'
        f"<soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    )


def fault_envelope(code: str, message: str, sf_ns: str = MD_NS) -> str:
    """Call-level fault, faultstring '<CODE>: <message>' (wire doc §8)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:sf="{sf_ns}">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{escape(code)}</faultcode>"
        f"<faultstring>{escape(f'{code}: {message}')}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
