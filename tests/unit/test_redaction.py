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
