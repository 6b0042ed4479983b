"""How an injected fault looks on the wire: an answer that replaces the call, or damage to the
real answer.

Kept apart from the matching (faults.py) so that each shape can be checked on its own: a
client's error handling is only as good as the realism of the failures it was tested against.
Error shapes follow the reference (wire doc §8 SOAP faults, §9 REST JSON error lists).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from reconciler.emulator import soap_xml as sx

PARTNER_FAULT_NS = "urn:fault.partner.soap.sforce.com"
REDIRECT_PATH = "/followed-redirect"
DEFAULT_OVERSIZE = 52_428_800  # 50 MiB
JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "text/xml; charset=utf-8"
REST_OPS = ("query", "token")
LIMIT_MESSAGE = "TotalRequests Limit exceeded."


@dataclass
class Answer:
    """One HTTP response, before it is sent."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def replacement(rule: dict[str, Any], op: str, port: int) -> Answer | None:
    """The answer sent instead of processing the call, or None if the call must run."""
    kind = rule["kind"]
    rest = op in REST_OPS
    if kind == "http_error":
        return Answer(
            int(rule.get("status", 503)),
            str(rule.get("body", "")).encode("utf-8"),
            str(rule.get("content_type", "text/html")),
        )
    if kind == "redirect":
        location = f"https://localhost:{port}{REDIRECT_PATH}"
        return Answer(307, b"", "text/plain", {"Location": location})
    if kind == "invalid_session":
        if rest:
            return _rest(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return _soap(
            op, "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
        )
    if kind == "request_limit":
        if rest:
            return _rest(403, "REQUEST_LIMIT_EXCEEDED", LIMIT_MESSAGE)
        # The exact SOAP fault for an exhausted API limit is UNVERIFIED (wire doc §8).
        return _soap(op, "REQUEST_LIMIT_EXCEEDED", LIMIT_MESSAGE)
    if kind == "rest_error":
        return _rest(
            int(rule.get("status", 400)),
            str(rule.get("errorCode", "UNKNOWN_EXCEPTION")),
            str(rule.get("message", "injected error")),
        )
    if kind == "soap_fault":
        return _soap(
            op,
            str(rule.get("code", "UNKNOWN_EXCEPTION")),
            str(rule.get("message", "injected fault")),
        )
    return None


def _rest(status: int, code: str, message: str) -> Answer:
    payload = [{"message": message, "errorCode": code}]
    return Answer(status, json.dumps(payload).encode("utf-8"), JSON_TYPE)


def _soap(op: str, code: str, message: str) -> Answer:
    ns = PARTNER_FAULT_NS if op == "login" else sx.MD_NS
    return Answer(500, sx.fault_envelope(code, message, ns).encode("utf-8"), XML_TYPE)


def damage(rule: dict[str, Any], answer: Answer) -> Answer:
    """Apply truncate / malformed / doctype / oversize to the real answer; other kinds leave
    it alone."""
    kind = rule["kind"]
    body = answer.body
    if kind == "truncate":
        body = truncate(body)
    elif kind == "malformed":
        body = garble(body)
    elif kind == "doctype":
        body = with_entity(body)
    elif kind == "oversize":
        body = pad(body, int(rule.get("bytes", DEFAULT_OVERSIZE)))
    else:
        return answer
    return Answer(answer.status, body, answer.content_type, dict(answer.headers))


def truncate(body: bytes) -> bytes:
    """The first half: a short, syntactically broken document (no transport error)."""
    return body[: len(body) // 2]


_LABEL_TEXT = re.compile(rb"(<(?:[\w.-]+:)?label>)[^<]*(</)")


def with_entity(body: bytes) -> bytes:
    """A DOCTYPE declaring an internal entity, and the first `label` replaced by a reference
    to it: a hostile reply (SOAP forbids a DTD in a message). A client that accepts it reads
    the label as whatever the entity stands for, here nothing."""
    start = body.index(b"?>") + 2 if body.startswith(b"<?xml") else 0
    dtd = b'<!DOCTYPE Envelope [<!ENTITY xxe "">]>'
    return body[:start] + dtd + _LABEL_TEXT.sub(rb"\1&xxe;\2", body[start:], count=1)


_CLOSING_TAG = re.compile(rb"</([\w:.-]+)>")


def garble(body: bytes) -> bytes:
    """Rename the first closing tag (XML) so it no longer matches its start tag, or, for a JSON
    body, turn its last closing bracket into '>'. Either way the length and most of the content
    stay plausible while no parser can accept it."""
    m = _CLOSING_TAG.search(body)
    if m is not None:
        return body[: m.start(1)] + m.group(1) + b"_garbled" + body[m.end(1) :]
    end = max(body.rfind(b"}"), body.rfind(b"]"))
    if end < 0:
        return body + b"<"
    return body[:end] + b">" + body[end + 1 :]


def pad(body: bytes, size: int) -> bytes:
    """Trailing whitespace (legal after an XML root or a JSON value) until past `size` bytes."""
    return body + b" " * (max(0, size - len(body)) + 1)
