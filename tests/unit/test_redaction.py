"""Secrets are masked by value and by shape, including in log records."""

from __future__ import annotations

import logging

from reconciler.model import Component
from reconciler.redaction import RedactingFilter, register_secret, scrub


def test_known_value_and_xml_shapes_are_masked():
    register_secret("s3cr3t-value-123456")
    text = "x s3cr3t-value-123456 <ns0:consumerKey>abc</ns0:consumerKey> Bearer 00D!tok"
    out = scrub(text)
    assert "s3cr3t-value-123456" not in out
    assert "<ns0:consumerKey>***</ns0:consumerKey>" in out
    assert "Bearer ***" in out


def test_log_records_are_scrubbed_with_their_arguments():
    register_secret("another-secret-987654")
    record = logging.LogRecord(
        "t", logging.DEBUG, "f", 1, "got %s", ("another-secret-987654",), None
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == "got ***"


def test_component_repr_hides_secrets():
    comp = Component("T", "n", {"consumerSecret": "plain-secret-value", "label": "L"})
    assert "plain-secret-value" not in repr(comp) and "L" in repr(comp)


def test_salesforce_access_tokens_are_masked_by_shape():
    """Issue 16 item 5: a token nobody registered (relayed by sf) is masked by its shape: a 15-
    or 18-character org id, "!", the body. Record ids and org ids alone stay readable."""
    body = "AQ4AQFa8xZ2vN0b9nD8m.KqzP3tYwR7sXkLmN_oP1qR2sT3"
    for org_id in ("00D5g000004Fxyz", "00D5g000004FxyzEAC"):
        out = scrub(f"token {org_id}!{body}, expired")
        assert out == "token ***, expired", out
    assert scrub("org 00D000000000001EAA, user 005000000000001AAA") == (
        "org 00D000000000001EAA, user 005000000000001AAA"
    )
