"""parse_reply's handling of characters XML 1.0 cannot carry (issue 16 item 6).

The e2e suite shows plan, audit, export and apply against a reply holding a raw ESC; these pin
the edges of the marking: only UTF-8 replies are marked, a reply that already holds a mark's
character is not (its meaning would be ambiguous), broken structure is still refused, and a
character the parser refuses is named as such, never as a possible truncation.
"""

from __future__ import annotations

import pytest

from reconciler.errors import IncompleteResponse
from reconciler.model import unwritable_fields
from reconciler.org import soap

ENV = (
    '<soapenv:Envelope xmlns:soapenv="{env}" xmlns="{md}">'
    "<soapenv:Body><readMetadataResponse><result><records>{inner}</records></result>"
    "</readMetadataResponse></soapenv:Body></soapenv:Envelope>"
)


def reply(inner: str, declaration: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    return (declaration + ENV.format(env=soap.SOAP_ENV, md=soap.MD_NS, inner=inner)).encode()


def label(answer) -> str:
    return answer.find(f".//{soap.md('records')}").text


def test_a_raw_control_character_is_read_and_marked():
    answer = soap.parse_reply(200, "text/xml", reply("a\x1bb\x01c"), "readMetadata")
    assert answer.get(soap.MARKED) == "1"
    assert soap.unmark(label(answer)) == "a\x1bb\x01c"
    assert soap.unmark({"x": ["a\U000f001b"], "n": 1}) == {"x": ["a\x1b"], "n": 1}


def test_a_clean_reply_is_not_marked():
    answer = soap.parse_reply(200, "text/xml", reply("a\tb\nc"), "readMetadata")
    assert answer.get(soap.MARKED) is None
    assert label(answer) == "a\tb\nc"


@pytest.mark.parametrize(
    "body",
    [
        # already holds a mark's character: marking would be ambiguous
        reply("\U000f001b and \x1b"),
        # declared in another encoding: a mark's UTF-8 bytes would read as other text
        reply("\x1b", '<?xml version="1.0" encoding="ISO-8859-1"?>'),
        # a character reference to a control character (not a raw byte)
        reply("&#27;"),
    ],
)
def test_a_character_that_cannot_be_marked_is_refused_as_a_character(body):
    with pytest.raises(IncompleteResponse) as caught:
        soap.parse_reply(200, "text/xml", body, "readMetadata")
    message = str(caught.value)
    assert "character XML 1.0 cannot carry" in message
    assert "truncated" not in message
    assert message.startswith("readMetadata: ")


def test_broken_structure_is_still_refused_whole():
    body = reply("a\x1b")[:-20]
    with pytest.raises(IncompleteResponse, match="not well-formed XML.*truncated"):
        soap.parse_reply(200, "text/xml", body, "readMetadata")


def test_a_control_character_in_markup_is_not_repaired():
    body = (
        reply("x").replace(b"<records>", b"<rec\x1bords>").replace(b"</records>", b"</rec\x1bords>")
    )
    with pytest.raises(IncompleteResponse):
        soap.parse_reply(200, "text/xml", body, "readMetadata")


def test_unwritable_fields_names_nested_and_listed_values():
    fields = {
        "label": "a\x1b",
        "ok": "tab\tok",
        "customAttributes": [{"key": "k", "formula": "f\x07"}],
        "many": ["x", "y\ufffe"],
    }
    assert unwritable_fields(fields) == {
        "label": "\x1b",
        "customAttributes.formula": "\x07",
        "many": "\ufffe",
    }
