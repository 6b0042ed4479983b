"""Each control ECA-OAUTH-001..006 end to end: audit reports the violating org value under the
right ruleId, plan removes it (marked with the control) when the app is listed without the
field declared, apply fixes it, and a re-audit is clean."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import run

#: control -> (app violating it in the demo org, {path: value plan must set})
CASES = {
    "ECA-OAUTH-001": (
        "Data_Warehouse_ETL",
        {"settings.client_credentials": False, "policies.client_credentials": False},
    ),
    "ECA-OAUTH-002": ("Mobile_Field_Service", {"settings.device": False}),
    "ECA-OAUTH-003": (
        "Partner_Portal",
        {"settings.token_exchange": False, "policies.token_exchange": False},
    ),
    "ECA-OAUTH-004": (
        "Data_Warehouse_ETL",
        {
            "policies.refresh_token.policy": "specific_inactivity",
            "policies.refresh_token.period": 90,
            "policies.refresh_token.unit": "days",
        },
    ),
    "ECA-OAUTH-005": ("Marketing_Events", {"policies.permitted_users": "admin_approved"}),
    "ECA-OAUTH-006": ("Data_Warehouse_ETL", {"policies.ip_relaxation": "enforce"}),
}
#: control -> paths the violation is reported on
VIOLATED = {
    "ECA-OAUTH-001": {"settings.client_credentials", "policies.client_credentials"},
    "ECA-OAUTH-002": {"settings.device"},
    "ECA-OAUTH-003": {"settings.token_exchange", "policies.token_exchange"},
    "ECA-OAUTH-004": {"policies.refresh_token.policy"},
    "ECA-OAUTH-005": {"policies.permitted_users"},
    "ECA-OAUTH-006": {"policies.ip_relaxation"},
}


def listed_without_fields(control: str, app: str) -> str:
    return f"version: 1\nbaseline: [{control}]\nunlisted: ignore\napps:\n  {app}: {{}}\n"


@pytest.mark.parametrize("control", sorted(CASES))
def test_control_audited_and_planned_away(control, org, write_yaml, tmp_path):
    app, expected = CASES[control]
    desired = write_yaml(listed_without_fields(control, app))

    audit = run("audit", "-o", org.target, "-d", desired, "--format", "json")
    assert audit.exit_code == 3, audit.output
    doc = json.loads(audit.stdout)
    mine = [f for f in doc["findings"] if f["app"] == app and f["control"] == control]
    assert {f["path"] for f in mine} == VIOLATED[control]
    assert all(not f["accepted"] and f["listed"] for f in mine)
    assert {f["control"] for f in doc["findings"]} == {control}

    saved = tmp_path / "plan.json"
    before = org.bytes()
    text = run("plan", "-o", org.target, "-d", desired, "--out", saved)
    assert text.exit_code == 0, text.output
    assert org.bytes() == before, "plan must not write"
    for path, after in expected.items():
        line = next(
            (ln for ln in text.stdout.splitlines() if ln.strip().startswith(f"~ {path}:")), None
        )
        assert line is not None, (path, text.stdout)
        assert line.rstrip().endswith(f"# baseline {control}"), line
        shown = json.dumps(after) if not isinstance(after, bool) else str(after).lower()
        assert re.search(rf"-> {re.escape(shown)}\s", line), line

    changes = json.loads(saved.read_text())["changes"]
    got = {f"{c['component']}.{c['field']}": (c["after"], c["control"]) for c in changes}
    assert got == {path: (after, control) for path, after in expected.items()}


ALL_SIX = ", ".join(sorted(CASES))


def test_all_six_applied_then_compliant(org, write_yaml):
    """Every control at once: apply fixes each app, the state file holds the remedies, and a
    re-audit and re-plan are clean."""
    apps = sorted({app for app, _ in CASES.values()})
    body = "".join(f"  {a}: {{}}\n" for a in apps)
    desired = write_yaml(f"version: 1\nbaseline: [{ALL_SIX}]\nunlisted: ignore\napps:\n{body}")
    # Most of the demo org's 10 apps change: past the default safety threshold on purpose.
    result = run(
        "apply", "-o", org.target, "-d", desired, "--auto-approve", "--max-changes", "100%"
    )
    assert result.exit_code == 0, result.output
    assert "Apply complete" in result.stdout
    for control in CASES:
        assert f"# baseline {control}" in result.stdout, control
    etl_s, etl_p = org.settings("Data_Warehouse_ETL"), org.policies("Data_Warehouse_ETL")
    assert etl_s["isClientCredentialsFlowEnabled"] is False
    assert etl_p["isClientCredentialsFlowEnabled"] is False
    assert etl_p["ipRelaxationPolicyType"] == "Enforce"
    assert etl_p["refreshTokenPolicyType"] == "SpecificInactivity"
    assert etl_p["refreshTokenValidityPeriod"] == 90
    assert etl_p["refreshTokenValidityUnit"] == "Days"
    assert etl_p["permittedUsersPolicyType"] == "AdminApprovedPreAuthorized"
    assert org.settings("Mobile_Field_Service")["isDeviceFlowEnabled"] is False
    assert org.settings("Partner_Portal")["isTokenExchangeEnabled"] is False
    assert org.policies("Partner_Portal")["isTokenExchangeFlowEnabled"] is False
    assert (
        org.policies("Marketing_Events")["permittedUsersPolicyType"] == "AdminApprovedPreAuthorized"
    )

    again = run("audit", "-o", org.target, "-d", desired, "--format", "json")
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert doc["compliant"] is True and doc["findings"] == []


def test_controls_outside_the_baseline_are_left_alone(org, write_yaml):
    """Baseline [001] only: device, token exchange, permitted users and IP are not touched."""
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-001]\nunlisted: ignore\napps:\n"
        "  Mobile_Field_Service: {}\n  Partner_Portal: {}\n  Marketing_Events: {}\n"
    )
    plan = run("plan", "-o", org.target, "-d", desired, "--format", "json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert doc["changes"] == []
    assert all(a["findings"] == [] for a in doc["apps"])


def test_declared_compliant_value_is_kept_not_replaced_by_remedy(org, write_yaml, tmp_path):
    """004 enforcing would set specific_inactivity/90 days; a declared compliant choice wins."""
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-004]\nunlisted: ignore\napps:\n"
        "  Data_Warehouse_ETL:\n    policies:\n"
        "      refresh_token: {policy: specific_lifetime, period: 12, unit: hours}\n"
    )
    saved = tmp_path / "plan.json"
    text = run("plan", "-o", org.target, "-d", desired, "--out", saved)
    assert text.exit_code == 0, text.output
    got = {c["field"]: (c["after"], c["control"]) for c in json.loads(saved.read_text())["changes"]}
    assert got == {
        "refresh_token.policy": ("specific_lifetime", None),
        "refresh_token.period": (12, None),
        "refresh_token.unit": ("hours", None),
    }
    assert "refresh_token.policy" in text.stdout
    assert "# baseline" not in text.stdout


def test_partly_declared_remedy_fills_only_the_undeclared_fields(org, write_yaml):
    """The app declares settings.client_credentials: false; 001 adds only the policies side."""
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-001]\nunlisted: ignore\napps:\n"
        "  Data_Warehouse_ETL:\n    settings:\n      client_credentials: false\n"
    )
    plan = run("plan", "-o", org.target, "-d", desired, "--format", "json")
    assert plan.exit_code == 0, plan.output
    got = {
        f"{c['component']}.{c['field']}": c["control"] for c in json.loads(plan.stdout)["changes"]
    }
    assert got == {
        "settings.client_credentials": None,
        "policies.client_credentials": "ECA-OAUTH-001",
    }
