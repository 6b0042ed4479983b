"""`unlisted: enforce | report | ignore`: org apps the YAML does not list."""

from __future__ import annotations

import json

import pytest

from .conftest import ALL_APPS, exception_yaml, run

#: Unlisted apps (with only Billing_Sync listed) that break ECA-OAUTH-001 in the demo org.
#: The demo org's Connected Apps with client credentials on (issue 18) are unlisted violators
#: like the ECAs; the checks below that name a side are about ECAs (ECA_VIOLATORS).
CONNECTED_VIOLATORS = ["ConnectedApp:Legacy_CRM_Sync", "ConnectedApp:Warehouse_Loader"]
CC_VIOLATORS = [
    "Data_Warehouse_ETL",
    "Ledger_Export",
    "Legacy_Importer",
    "Old_Payroll_Feed",
    "Support_Exporter",
]
UNLISTED = [a for a in ALL_APPS if a != "Billing_Sync"]


def only_billing(mode: str | None) -> str:
    line = "" if mode is None else f"unlisted: {mode}\n"
    return (
        f"version: 1\nbaseline: [ECA-OAUTH-001]\n{line}apps:\n  Billing_Sync:\n"
        + exception_yaml("ECA-OAUTH-001")
    )


def test_enforce_plans_and_applies_fixes_to_unlisted_apps(org, write_yaml, tmp_path):
    desired = write_yaml(only_billing("enforce"))
    saved = tmp_path / "plan.json"
    plan = run("plan", "-o", org.target, "-d", desired, "--detailed-exitcode", "--out", saved)
    assert plan.exit_code == 2, plan.output
    out = plan.stdout
    for app in CC_VIOLATORS:
        assert (
            f"# {app} will be updated in place (not listed in the desired state; "
            "baseline enforced)" in out
        ), app
    assert "Billing_Sync will be updated" not in out
    changes = json.loads(saved.read_text())["changes"]
    assert {c["app"] for c in changes} == set(CC_VIOLATORS + CONNECTED_VIOLATORS)
    assert all(c["control"] == "ECA-OAUTH-001" and c["after"] is False for c in changes)
    assert "Baseline violations left in place" not in out

    # Every violator of the demo org's 10 apps: past the default safety threshold on purpose.
    applied = run(
        "apply", "-o", org.target, "-d", desired, "--auto-approve", "--max-changes", "100%"
    )
    assert applied.exit_code == 0, applied.output
    for app in CC_VIOLATORS:
        assert org.settings(app)["isClientCredentialsFlowEnabled"] is False, app
        assert org.policies(app)["isClientCredentialsFlowEnabled"] is False, app
    for key in CONNECTED_VIOLATORS:
        stored = org.load()["metadata"]["ConnectedApp"][key.split(":", 1)[1]]
        assert stored["oauthConfig"]["isClientCredentialEnabled"] is False, key
    assert org.settings("Billing_Sync")["isClientCredentialsFlowEnabled"] is True
    assert org.policies("Billing_Sync")["isClientCredentialsFlowEnabled"] is True

    audit = run("audit", "-o", org.target, "-d", desired, "--format", "json")
    assert audit.exit_code == 0, audit.output
    doc = json.loads(audit.stdout)
    connected = ["ConnectedApp:Field_Survey_Mobile", *CONNECTED_VIOLATORS]
    assert doc["apps_checked"] == sorted(ALL_APPS + connected)
    assert [f["app"] for f in doc["findings"]] == ["Billing_Sync", "Billing_Sync"]


def test_report_lists_violations_changes_nothing(org, write_yaml, tmp_path):
    desired = write_yaml(only_billing("report"))
    saved = tmp_path / "plan.json"
    before = org.bytes()
    plan = run("plan", "-o", org.target, "-d", desired, "--detailed-exitcode", "--out", saved)
    assert plan.exit_code == 0, plan.output
    out = plan.stdout
    section = out.split("Baseline violations left in place", 1)[1].split("\n\n", 1)[0]
    for app in CC_VIOLATORS:
        assert f"  {app}: ECA-OAUTH-001 settings.client_credentials is true" in section, app
    assert "Legacy_Importer: ECA-OAUTH-001 policies" not in section  # that side is off
    assert "will be updated" not in out
    assert out.rstrip().endswith("No changes.")
    doc = json.loads(saved.read_text())
    assert doc["changes"] == []
    assert doc["summary"]["unlisted_apps"] == len(CC_VIOLATORS + CONNECTED_VIOLATORS)
    assert doc["summary"]["violations"] == 9 + len(CONNECTED_VIOLATORS)
    assert org.bytes() == before

    applied = run("apply", "-o", org.target, "-d", desired, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert org.bytes() == before, "report mode must write nothing"


def test_report_does_not_change_exit_code_of_declared_changes(org, write_yaml):
    """With a declared change, --detailed-exitcode is 2 because of it, not of unlisted apps."""
    desired = write_yaml(
        only_billing("report").replace(
            "  Billing_Sync:\n", "  Billing_Sync:\n    policies:\n      session_level: low\n"
        )
    )
    plan = run("plan", "-o", org.target, "-d", desired, "--format", "json", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    doc = json.loads(plan.stdout)
    assert [(c["app"], c["field"]) for c in doc["changes"]] == [("Billing_Sync", "session_level")]


def test_report_audit_flags_unlisted_apps(org, write_yaml):
    desired = write_yaml(only_billing("report"))
    audit = run("audit", "-o", org.target, "-d", desired)
    assert audit.exit_code == 3, audit.output
    assert (
        "Support_Exporter: ECA-OAUTH-001 Client credentials flow disabled: "
        "settings.client_credentials is true (not listed in the desired state)" in audit.stdout
    )


def test_ignore_never_mentions_unlisted_apps(org, write_yaml, tmp_path):
    desired = write_yaml(only_billing("ignore"))
    saved = tmp_path / "plan.json"
    plan = run("plan", "-o", org.target, "-d", desired, "--detailed-exitcode", "--out", saved)
    assert plan.exit_code == 0, plan.output
    audit = run("audit", "-o", org.target, "-d", desired, "--format", "json")
    assert audit.exit_code == 0, audit.output
    for text in (plan.stdout, saved.read_text(), audit.stdout):
        for app in UNLISTED:
            assert app not in text, app
    assert json.loads(audit.stdout)["apps_checked"] == ["Billing_Sync"]


def test_defaults_without_baseline_keys(write_yaml):
    desired = write_yaml("version: 1\napps:\n  Billing_Sync: {}\n")
    result = run("validate", "-d", desired)
    assert result.exit_code == 0, result.output
    assert "baseline ECA-OAUTH-001, unlisted apps: report." in result.stdout


@pytest.mark.parametrize("bad", ["fix", "true", "[enforce]"])
def test_unlisted_mode_is_validated(bad, write_yaml):
    desired = write_yaml(f"version: 1\nunlisted: {bad}\napps:\n  Billing_Sync: {{}}\n")
    result = run("validate", "-d", desired)
    assert result.exit_code == 1, result.output
    assert "unlisted: invalid value" in result.stderr
    assert "enforce | report | ignore" in result.stderr
