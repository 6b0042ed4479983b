"""Who can bypass Connected App approval (issue 18): holders of "Use Any API Client" and
"Approve Uninstalled Connected Apps", found by label in the PermissionSet describe (their API
names are UNVERIFIED), reported under ECA-APPROVAL-001. Real CLI, HTTPS emulator."""

from __future__ import annotations

import json

from .conftest import run

DESIRED = "version: 1\nbaseline: [ECA-APPROVAL-001]\nunlisted: ignore\napps: {}\n"


def test_a_non_admin_holder_is_a_high_finding_and_admins_are_notes(org, write_yaml):
    desired = write_yaml(DESIRED)
    result = run("audit", "-o", org.target, "-d", desired, "--format", "json")
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    assert [(f["app"], f["control"], f["path"], f["value"]) for f in doc["findings"]] == [
        (
            "User:support.agent@acme.example",
            "ECA-APPROVAL-001",
            "permission.Use Any API Client",
            "permission set Any_API_Client",
        )
    ]
    notes = "\n".join(doc["notes"])
    for admin in ("admin@acme.example", "etl.admin@acme.example"):
        assert f"administrator {admin} holds Approve Uninstalled Connected Apps" in notes
        assert f"administrator {admin} holds Use Any API Client" in notes

    text = run("audit", "-o", org.target, "-d", desired)
    assert "support.agent@acme.example" in text.stdout and "ECA-APPROVAL-001" in text.stdout
    sarif = json.loads(run("audit", "-o", org.target, "-d", desired, "--format", "sarif").stdout)
    rule = next(
        r for r in sarif["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "ECA-APPROVAL-001"
    )
    assert float(rule["properties"]["security-severity"]) >= 7.0  # high
    assert any(r["ruleId"] == "ECA-APPROVAL-001" for r in sarif["runs"][0]["results"])


def test_a_refused_describe_is_a_warning_not_a_clean_bill(make_org, write_yaml):
    def refuse(doc):
        doc["org"]["faults"] = [
            {
                "op": "describe",
                "kind": "rest_error",
                "status": 403,
                "errorCode": "INSUFFICIENT_ACCESS",
                "message": "Insufficient Privileges",
                "times": None,
            }
        ]

    org = make_org(refuse)
    result = run("audit", "-o", org.target, "-d", write_yaml(DESIRED), "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["findings"] == []
    assert any("ECA-APPROVAL-001 look-up failed" in w for w in doc["warnings"]), doc["warnings"]


def test_not_asked_unless_selected(org):
    doc = json.loads(run("audit", "-o", org.target, "--format", "json").stdout)
    assert not [f for f in doc["findings"] if f["control"] == "ECA-APPROVAL-001"]
    assert not [n for n in doc["notes"] if "ECA-APPROVAL-001" in n]


def test_a_forged_username_is_escaped_in_every_view(make_org, write_yaml):
    def forge(doc):
        for user in doc["sobjects"]["User"]:
            if user["Username"] == "support.agent@acme.example":
                user["Username"] = "sam\x1b[2J\nFAKE LINE@acme.example"

    org = make_org(forge)
    desired = write_yaml(DESIRED)
    for fmt in ("text", "sarif", "json"):
        out = run("audit", "-o", org.target, "-d", desired, "--format", fmt).stdout
        assert "\x1b" not in out, fmt
        assert "\nFAKE LINE" not in out, fmt
        assert "FAKE LINE" in out, fmt  # the holder is reported, escaped


def test_the_describe_is_sent_only_when_the_control_is_selected(org, write_yaml):
    """No request the run does not need: without ECA-APPROVAL-001 no describe is sent; with
    it, exactly one."""
    from reconciler.emulator.server import EmulatorServer
    from reconciler.operations import audit_org, load_desired
    from reconciler.org.connect import emulator_org

    class Counting:
        def __init__(self, inner):
            self.inner, self.described = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def describe(self, sobject):
            self.described += 1
            return self.inner.describe(sobject)

    with EmulatorServer(org.path) as server:
        plain = Counting(emulator_org(server))
        audit_org(plain, None)
        selected = Counting(emulator_org(server))
        audit_org(selected, load_desired(write_yaml(DESIRED)))
    assert (plain.described, selected.described) == (0, 1)
