"""Issue 16 item 6: a raw control character XML 1.0 cannot carry, inside a text value of a
readMetadata reply.

Salesforce's own Java client strips such characters, so a real org can hold them (typed into
Setup long ago); the emulator sends them raw, as such an org would. The reply's structure is
intact, so plan, audit and export read it and show the value escaped; apply refuses only the
component holding such a value (writing it back would change it), naming component and field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import COMPONENTS, POLICIES, SETTINGS, report_block, run

ESC = "\x1b"
PORTAL_SETTINGS, PORTAL_POLICIES = COMPONENTS["Partner_Portal"]
YAML = """\
version: 1
baseline: []
apps:
  Partner_Portal:
    policies:
      session_timeout_minutes: 60
  Mobile_Field_Service:
    policies:
      ip_relaxation: enforce
"""


def with_escapes(doc: dict[str, Any]) -> None:
    """An unmanaged label and a managed callback URL of Partner_Portal carry a raw ESC."""
    doc["metadata"][POLICIES][PORTAL_POLICIES]["label"] = f"Partner{ESC}Portal policy"
    settings = doc["metadata"][SETTINGS][PORTAL_SETTINGS]
    settings["callbackUrl"] = f"https://partners.acme.example/cb{ESC}[31m"


def assert_read_whole(result) -> None:
    assert "Traceback" not in result.output
    assert "not well-formed" not in result.output
    assert "truncated" not in result.output
    assert ESC not in result.output


@pytest.mark.parametrize("command", ["plan", "audit"])
def test_plan_and_audit_read_the_reply_and_show_the_value_escaped(org_file, desired, command):
    clean = run(command, "-o", org_file(name="clean.json").target, "-d", desired(YAML))
    org = org_file(with_escapes)
    result = run(command, "-o", org.target, "-d", desired(YAML))
    assert_read_whole(result)
    assert result.exit_code == clean.exit_code, result.output
    if command == "plan":
        assert "Partner_Portal" in result.stdout


def test_plan_shows_a_managed_value_with_the_character_escaped(org_file, desired):
    org = org_file(with_escapes)
    yaml = YAML.replace(
        "  Mobile_Field_Service:",
        "    settings:\n      callback_url: https://partners.acme.example/cb\n"
        "  Mobile_Field_Service:",
    )
    result = run("plan", "-o", org.target, "-d", desired(yaml))
    assert_read_whole(result)
    assert '"https://partners.acme.example/cb\\x1b[31m"' in result.stdout, result.stdout


def test_export_reads_the_reply_and_keeps_the_value(org_file):
    org = org_file(with_escapes)
    result = run("export", "-o", org.target)
    assert_read_whole(result)
    assert result.exit_code == 0, result.output
    assert "https://partners.acme.example/cb\\e[31m" in result.stdout, result.stdout


def test_apply_refuses_only_the_component_holding_such_a_value(org_file, desired, tmp_path):
    org = org_file(with_escapes)
    before = org.load()["metadata"][POLICIES][PORTAL_POLICIES]
    evidence = tmp_path / "ev"
    result = run(
        "apply",
        "-o",
        org.target,
        "-d",
        desired(YAML),
        "--auto-approve",
        "--evidence-dir",
        evidence,
    )
    assert_read_whole(result)
    assert result.exit_code == 1, result.output
    portal = report_block(result.stdout, "Partner_Portal")
    assert portal[0] == "Partner_Portal: failed", portal
    [why] = [m for m in portal if PORTAL_POLICIES in m]
    assert "label (holds U+001B)" in why, why
    assert "XML 1.0" in why, why
    assert report_block(result.stdout, "Mobile_Field_Service")[0] == "Mobile_Field_Service: applied"
    after = org.load()["metadata"][POLICIES]
    assert after[PORTAL_POLICIES] == before  # not written: the label keeps its character
    [record] = [json.loads(p.read_text()) for p in evidence.glob("*.json")]
    assert ESC not in json.dumps(record, ensure_ascii=False)
