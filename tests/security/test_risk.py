"""Run-as risk grading: each risk case of the demo org, the ordering of the plan (riskiest
first, Summary before details), and offline grading of the individual factors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler.model import Component, LiveApp, RunAsUser
from reconciler.risk import assess, grade, run_as_candidates
from reconciler.risk_lookup import LookupFailure, RiskLookups

from .conftest import Org, demo_doc, exception_yaml, run

CC_APPS = ["Billing_Sync", "Data_Warehouse_ETL", "Ledger_Export", "Old_Payroll_Feed"]
CC_APPS += ["Support_Exporter"]
#: A declared change for three apps, so their detail blocks show up in the plan.
SESSION = {
    "Billing_Sync": "high_assurance",
    "Ledger_Export": "high_assurance",  # both hold STANDARD, as retrieved policies do
    "Support_Exporter": "high_assurance",
}


def risk_yaml() -> str:
    out = "version: 1\nbaseline: [ECA-OAUTH-001]\nunlisted: ignore\napps:\n"
    for app in CC_APPS:
        out += f"  {app}:\n"
        if app in SESSION:
            out += f"    policies:\n      session_level: {SESSION[app]}\n"
        out += exception_yaml("ECA-OAUTH-001")
    return out


class Scenario:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.org = Org(root / "org.json")
        self.org.save(demo_doc())
        self.desired = root / "apps.yaml"
        self.desired.write_text(risk_yaml(), encoding="utf-8")
        self.saved = root / "plan.json"
        self.plan = run("plan", "-o", self.org.target, "-d", self.desired, "--out", self.saved)
        self.doc = json.loads(self.saved.read_text())
        self.audit = run("audit", "-o", self.org.target, "-d", self.desired)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    return Scenario(tmp_path_factory.mktemp("risk"))


def block(text: str, app: str) -> str:
    """The risk block of one app: its `[LEVEL] app:` line and the factor lines under it."""
    m = re.search(
        rf"^  \[(HIGH|MEDIUM|LOW)\] {app}: .*\n((?:      \[(?:raises|lowers)\] .*\n)*)", text, re.M
    )
    assert m, (app, text)
    return m.group(0)


def test_plan_runs_clean(scenario):
    assert scenario.plan.exit_code == 0, scenario.plan.output
    assert scenario.audit.exit_code == 0, scenario.audit.output  # all accepted


@pytest.mark.parametrize("source", ["plan", "audit"])
def test_admin_via_profile_is_high(scenario, source):
    text = getattr(scenario, source).stdout
    b = block(text, "Data_Warehouse_ETL")
    assert b.startswith("  [HIGH] Data_Warehouse_ETL: run as etl.admin@acme.example (active, UI, ")
    assert "profile System Administrator)" in b.splitlines()[0]
    assert "Modify All Data (profile System Administrator)" in b
    assert "[raises] IP restrictions are relaxed (bypass)" in b
    assert "[raises] relies on a shared consumer secret (no certificate)" in b


@pytest.mark.parametrize("source", ["plan", "audit"])
def test_admin_via_permission_set_is_high(scenario, source):
    b = block(getattr(scenario, source).stdout, "Support_Exporter")
    assert b.startswith("  [HIGH] Support_Exporter: run as support.agent@acme.example (active, UI")
    assert "Modify All Data (permission set Data_Export_All)" in b
    assert "(profile" not in b.split("has", 1)[1].splitlines()[0]  # Standard User grants none
    assert "[raises] run-as user support.agent@acme.example is not API Only" in b
    assert "[lowers] IP restrictions enforced (enforce_relax_refresh)" in b


def test_api_only_without_admin_is_a_lowering_factor(scenario):
    billing = block(scenario.plan.stdout, "Billing_Sync")
    assert billing.startswith("  [MEDIUM] Billing_Sync: run as billing.integration@acme.example")
    assert "(active, API Only, profile Integration API Only)" in billing
    assert (
        "[lowers] run-as user billing.integration@acme.example is API Only without admin" in billing
    )
    assert "not API Only" not in billing
    assert "[raises] relies on a shared consumer secret (no certificate)" in billing


def test_inactive_run_as_user_is_flagged(scenario):
    b = block(scenario.plan.stdout, "Old_Payroll_Feed")
    assert b.startswith("  [MEDIUM] Old_Payroll_Feed: run as former.integration@acme.example")
    assert "(INACTIVE, API Only" in b
    assert "[raises] run-as user former.integration@acme.example is inactive" in b
    assert "[lowers] a certificate is registered (JWT bearer possible)" in b


def test_certificate_ip_enforced_api_only_is_low(scenario):
    b = block(scenario.plan.stdout, "Ledger_Export")
    assert b.startswith("  [LOW] Ledger_Export:")
    assert "[lowers] IP restrictions enforced (enforce)" in b
    assert "[lowers] a certificate is registered (JWT bearer possible)" in b
    assert "[raises]" not in b


def test_json_risk_matches_text(scenario):
    risks = {a["name"]: a["risk"] for a in scenario.doc["apps"]}
    assert {n: r["level"] for n, r in risks.items()} == {
        "Billing_Sync": "medium",
        "Data_Warehouse_ETL": "high",
        "Ledger_Export": "low",
        "Old_Payroll_Feed": "medium",
        "Support_Exporter": "high",
    }
    etl = risks["Data_Warehouse_ETL"]
    assert etl["ip_enforced"] is False and etl["certificate"] is False
    assert etl["run_as"]["api_only"] is False and etl["run_as"]["active"] is True
    assert risks["Ledger_Export"]["certificate"] is True
    assert risks["Ledger_Export"]["ip_enforced"] is True
    assert risks["Old_Payroll_Feed"]["run_as"]["active"] is False
    assert any(
        "permission set Data_Export_All" in p for p in risks["Support_Exporter"]["run_as"]["powers"]
    )
    assert scenario.doc["summary"]["high_risk_apps"] == 2


@pytest.mark.parametrize("source", ["plan", "audit"])
def test_risk_list_is_ordered_high_to_low(scenario, source):
    levels = re.findall(r"^  \[(HIGH|MEDIUM|LOW)\] (\w+):", getattr(scenario, source).stdout, re.M)
    ranks = [{"HIGH": 0, "MEDIUM": 1, "LOW": 2}[lvl] for lvl, _ in levels]
    assert ranks == sorted(ranks), levels
    assert [n for _, n in levels] == [
        "Data_Warehouse_ETL",
        "Support_Exporter",
        "Billing_Sync",
        "Old_Payroll_Feed",
        "Ledger_Export",
    ]


def test_plan_details_riskiest_first_and_summary_first(scenario):
    out = scenario.plan.stdout
    lines = out.splitlines()
    summary = next(i for i, ln in enumerate(lines) if ln.startswith("Summary:"))
    risk = next(i for i, ln in enumerate(lines) if ln.startswith("Client credentials stay"))
    details = [i for i, ln in enumerate(lines) if ln.startswith("  ~ app ")]
    assert summary < risk < details[0]
    assert lines[summary] == (
        "Summary: 3 apps to change (3 fields); 2 high-risk apps with client credentials on; "
        "5 exceptions in force."
    )
    order = [lines[i].split()[2] for i in details]
    # Alphabetical would be Billing, Ledger, Support: risk puts the high one first.
    assert order == ["Support_Exporter", "Billing_Sync", "Ledger_Export"]
    assert lines[-1] == "Plan: 3 apps to change, 3 fields to change."


def test_audit_summary_before_details(scenario):
    lines = scenario.audit.stdout.splitlines()
    assert lines[2].startswith("Summary: compliant; 5 apps checked against ECA-OAUTH-001")
    assert lines.index("Client credentials enabled (highest risk first):") > 2


def test_risk_follows_org_changes(make_org, tmp_path):
    """Mutate the org: Ledger_Export loses its certificate and bypasses IP -> high;
    the ETL run-as user moves to the API-only profile -> no admin powers any more."""

    def mutate(doc):
        doc["metadata"]["ExtlClntAppGlobalOauthSettings"]["Ledger_Export_glbloauth"].pop(
            "certificate"
        )
        pol = doc["metadata"]["ExtlClntAppOauthConfigurablePolicies"]["Ledger_Export_oauthPlcy"]
        pol["ipRelaxationPolicyType"] = "Bypass"
        profiles = {p["Name"]: p["Id"] for p in doc["sobjects"]["Profile"]}
        owned = {
            p["ProfileId"]: p["Id"] for p in doc["sobjects"]["PermissionSet"] if p["ProfileId"]
        }
        for user in doc["sobjects"]["User"]:
            if user["Username"] == "etl.admin@acme.example":
                old = user["ProfileId"]
                user["ProfileId"] = profiles["Integration API Only"]
                for psa in doc["sobjects"]["PermissionSetAssignment"]:
                    if psa["AssigneeId"] == user["Id"] and psa["PermissionSetId"] == owned[old]:
                        psa["PermissionSetId"] = owned[user["ProfileId"]]

    org = make_org(mutate)
    desired = tmp_path / "apps.yaml"
    desired.write_text(risk_yaml(), encoding="utf-8")
    audit = run("audit", "-o", org.target, "-d", desired)
    assert audit.exit_code == 0, audit.output
    ledger = block(audit.stdout, "Ledger_Export")
    assert ledger.startswith("  [HIGH] Ledger_Export:")
    assert "[raises] IP restrictions are relaxed (bypass)" in ledger
    assert "[raises] relies on a shared consumer secret (no certificate)" in ledger
    etl = block(audit.stdout, "Data_Warehouse_ETL")
    assert "Modify All Data" not in etl
    assert "(active, API Only, profile Integration API Only)" in etl


# --- offline grading --------------------------------------------------------------------------


def live(certificate: bool) -> LiveApp:
    fields = {"certificate": "PEM"} if certificate else {}
    return LiveApp("App", settings=Component("ExtlClntAppGlobalOauthSettings", "App_g", fields))


ON = {"settings.client_credentials": True, "policies.client_credentials": True}
API_USER = RunAsUser("api@x", found=True, active=True, api_only=True, profile="API")


def test_grade_low_needs_every_mitigation():
    values = ON | {"policies.ip_relaxation": "enforce"}
    assert grade(values, live(True), API_USER).level == "low"
    assert grade(values, live(False), API_USER).level == "medium"  # shared secret
    assert grade(ON | {"policies.ip_relaxation": "bypass"}, live(True), API_USER).level == "medium"
    inactive = RunAsUser("api@x", found=True, active=False, api_only=True, profile="API")
    assert grade(values, live(True), inactive).level == "medium"
    ui = RunAsUser("ui@x", found=True, active=True, api_only=False, profile="Std")
    assert grade(values, live(True), ui).level == "medium"


def test_grade_admin_is_high_even_with_mitigations():
    admin = RunAsUser(
        "a@x", found=True, active=True, api_only=True, profile="P",
        powers=["Modify All Data (permission set X)"],
    )  # fmt: skip
    risk = grade(ON | {"policies.ip_relaxation": "enforce"}, live(True), admin)
    assert risk.level == "high"
    assert risk.factors[0] == "+ run-as user a@x has Modify All Data (permission set X)"


@pytest.mark.parametrize("ip", ["bypass", "bypass_2factor"])
def test_grade_ip_relaxed_and_shared_secret_is_high(ip):
    risk = grade(ON | {"policies.ip_relaxation": ip}, live(False), API_USER)
    assert risk.level == "high"
    assert risk.ip_enforced is False
    assert f"+ IP restrictions are relaxed ({ip})" in risk.factors


def test_grade_missing_or_unknown_run_as_user():
    assert "+ no run-as user is set" in grade(ON, live(True), None).factors
    ghost = RunAsUser("ghost@x", found=False)
    assert "+ run-as user ghost@x does not exist" in grade(ON, live(True), ghost).factors


def test_grade_half_enabled_is_medium_even_for_admin():
    admin = RunAsUser("a@x", found=True, active=True, api_only=False, powers=["Modify All Data"])
    half = {"settings.client_credentials": True, "policies.client_credentials": False}
    risk = grade(half | {"policies.ip_relaxation": "bypass"}, live(False), admin)
    assert risk.level == "medium"
    assert "- only one side is enabled: no token can be minted until both are" in risk.factors


# --- grading with refused lookups (risk_lookup.py records them, risk.py grades) -------------

PSA_REFUSED = LookupFailure(
    "PermissionSetAssignment", "query failed (HTTP 403): INSUFFICIENT_ACCESS: no View Setup"
)
USER_REFUSED = LookupFailure("User", "query failed (HTTP 403): INSUFFICIENT_ACCESS: no")


def test_refused_lookup_makes_an_otherwise_low_app_unknown():
    values = ON | {"policies.ip_relaxation": "enforce"}
    assert grade(values, live(True), API_USER).level == "low"
    risk = grade(values, live(True), API_USER, [PSA_REFUSED])
    assert risk.level == "unknown"  # an assigned set could hold Modify All Data
    assert risk.factors[0] == (
        "? run-as user api@x: assigned permission sets unknown (query on "
        "PermissionSetAssignment: query failed (HTTP 403): INSUFFICIENT_ACCESS: no View Setup)"
    )
    assert not any("without admin permissions" in f for f in risk.factors)


def test_refused_lookup_keeps_a_level_it_cannot_change():
    admin_by_profile = RunAsUser(
        "a@x", found=True, active=True, api_only=True, profile="Admin",
        powers=["Modify All Data (profile Admin)"],
    )  # fmt: skip
    enforced = ON | {"policies.ip_relaxation": "enforce"}
    assert grade(enforced, live(True), admin_by_profile, [PSA_REFUSED]).level == "high"
    # User query refused: nothing known about the user, but bypass over a shared secret is high.
    nobody = RunAsUser("u@x", found=None)
    bypass = grade(ON | {"policies.ip_relaxation": "bypass"}, live(False), nobody, [USER_REFUSED])
    assert bypass.level == "high"
    assert not any("does not exist" in f for f in bypass.factors)
    assert bypass.factors[0].startswith("? run-as user u@x: existence, status and profile unknown")
    assert grade(enforced, live(True), nobody, [USER_REFUSED]).level == "unknown"
    half = {"settings.client_credentials": True, "policies.client_credentials": False}
    assert grade(half, live(False), nobody, [USER_REFUSED]).level == "medium"


def test_unknown_api_only_is_not_reported_as_ui_login():
    partial = RunAsUser("p@x", found=True, active=True, api_only=None, profile="Std")
    risk = grade(ON | {"policies.ip_relaxation": "enforce"}, live(True), partial, [PSA_REFUSED])
    assert not any("not API Only" in f for f in risk.factors)
    assert risk.level == "unknown"


def test_assess_warns_once_per_refused_query_with_the_apps_it_left_unknown():
    lookups = RiskLookups(
        requested=frozenset({"api@x"}),
        users={"api@x": API_USER},
        failures=[PSA_REFUSED],
        gaps={"api@x": [PSA_REFUSED]},
    )
    run_as = {"policies.run_as": "api@x", "policies.ip_relaxation": "enforce"}
    targets = {
        "Low_If_Known": (ON | run_as, live(True)),
        "Also_Unknown": (ON | run_as, live(True)),
        "Half": ({"settings.client_credentials": True} | run_as, live(True)),
        "Off": ({"policies.run_as": "api@x"}, live(True)),
    }
    risks, warnings = assess(targets, lookups)
    assert {n: r.level for n, r in risks.items()} == {
        "Also_Unknown": "unknown",
        "Half": "medium",
        "Low_If_Known": "unknown",
    }
    assert warnings == [
        "risk lookup failed: query on PermissionSetAssignment: query failed (HTTP 403): "
        "INSUFFICIENT_ACCESS: no View Setup; risk of 2 app(s) is unknown"
    ]
    complete = RiskLookups(requested=frozenset({"api@x"}), users={"api@x": API_USER})
    risks, warnings = assess(targets, complete)
    assert warnings == [] and risks["Low_If_Known"].level == "low"


def _policies(cc: bool, run_as: str) -> LiveApp:
    fields = {"isClientCredentialsFlowEnabled": cc, "clientCredentialsFlowUser": run_as}
    return LiveApp("App", policies=Component("ExtlClntAppOauthConfigurablePolicies", "P", fields))


def test_run_as_candidates_cover_every_user_the_plan_could_grade():
    live_apps = {
        "On": _policies(True, "live.on@x"),  # stays on unless declared off: live user counts
        "Turned_On": _policies(False, "live.kept@x"),  # declared on, run_as not declared
        "Off": _policies(False, "live.off@x"),  # off and not declared on: not looked up
    }
    declared = {
        "On": {"policies.run_as": "declared.on@x"},
        "Turned_On": {"policies.client_credentials": True},
        "Unlisted_Elsewhere": {"settings.client_credentials": True, "policies.run_as": "new@x"},
    }
    assert run_as_candidates(live_apps, declared) == {
        "live.on@x",
        "declared.on@x",
        "live.kept@x",
        "new@x",
    }
