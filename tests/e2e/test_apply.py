"""Done-when 2, 4, 5, 6 and `apply --app`: applying against the emulator, read-modify-write,
ordering of the two sides, failure reporting, confirmation."""

from __future__ import annotations

import re

from reconciler import fields as F

from .conftest import (
    COMPONENTS,
    POLICIES,
    SETTINGS,
    SHIPPED_DESIRED,
    assert_clean_error,
    policies_of,
    run,
    run_in_pty,
    settings_of,
)


def _app_block(stdout: str, app: str) -> list[str]:
    """The report lines of one app: `  APP: status` and its indented messages."""
    lines = stdout.splitlines()
    start = lines.index(next(line for line in lines if re.match(rf"^  {app}: \w", line)))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("      "):
            break
        block.append(line.strip())
    return block


def test_apply_auto_approve_then_plan_has_no_changes(org):
    result = run("apply", "-o", org.target, "-d", SHIPPED_DESIRED, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert re.search(r"^  Data_Warehouse_ETL: applied$", result.stdout, re.M)
    assert re.search(r"^  Legacy_Importer: applied$", result.stdout, re.M)
    assert "Apply complete: 2 applied, 0 failed, 0 not attempted." in result.stdout
    doc = org.load()
    assert settings_of(doc, "Legacy_Importer")["isClientCredentialsFlowEnabled"] is False
    assert policies_of(doc, "Data_Warehouse_ETL")["ipRelaxationPolicyType"] == "Enforce"
    assert policies_of(doc, "Data_Warehouse_ETL")["refreshTokenValidityPeriod"] == 90
    again = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines()[-1] == "No changes."


def test_apply_without_approval_on_non_tty_stdin_writes_nothing(org):
    before = org.bytes()
    result = run("apply", "-o", org.target, "-d", SHIPPED_DESIRED, input="yes\n")
    assert_clean_error(result, "refusing to apply without confirmation", "--auto-approve")
    assert org.bytes() == before


def test_apply_prompt_on_a_real_tty_yes_applies(org, tmp_path):
    code, out = run_in_pty(
        ["apply", "-o", org.target, "-d", str(SHIPPED_DESIRED)], "yes", cwd=tmp_path
    )
    assert "Do you want to perform these actions? Only 'yes' will be accepted:" in out
    assert code == 0, out
    assert "Apply complete: 2 applied" in out
    assert settings_of(org.load(), "Legacy_Importer")["isClientCredentialsFlowEnabled"] is False


def test_apply_prompt_on_a_real_tty_no_writes_nothing(org, tmp_path):
    before = org.bytes()
    code, out = run_in_pty(
        ["apply", "-o", org.target, "-d", str(SHIPPED_DESIRED)], "no", cwd=tmp_path
    )
    assert "Only 'yes' will be accepted:" in out
    assert code == 1, out
    assert "apply cancelled; nothing was written" in out
    assert "Traceback" not in out
    assert org.bytes() == before


def _undeclared(fields: dict, declared: set[str]) -> dict:
    """Fields minus the declared ones; strings compared trimmed (the org trims on save)."""
    return {
        k: v.strip() if isinstance(v, str) else v for k, v in fields.items() if k not in declared
    }


RMW_YAML = """\
version: 1
baseline: []  # the mechanism under test, without baseline remedies
apps:
  Billing_Sync:
    settings:
      refresh_token_rotation: true
    policies:
      session_level: high_assurance
  Mobile_Field_Service:
    policies:
      ip_relaxation: enforce
  Reporting_JWT:
    settings:
      jwt_access_tokens: true
  Partner_Portal:
    policies:
      session_timeout_minutes: 60
  Data_Warehouse_ETL:
    settings:
      client_credentials: false
    policies:
      client_credentials: false
"""

#: (app, side) -> wire fields RMW_YAML declares.
RMW_DECLARED = {
    ("Billing_Sync", "settings"): {"isRefreshTokenRotationEnabled"},
    ("Billing_Sync", "policies"): {"requiredSessionLevel"},
    ("Mobile_Field_Service", "policies"): {"ipRelaxationPolicyType"},
    ("Reporting_JWT", "settings"): {"isNamedUserJwtEnabled"},
    ("Partner_Portal", "policies"): {"sessionTimeoutInMinutes"},
    ("Data_Warehouse_ETL", "settings"): {"isClientCredentialsFlowEnabled"},
    ("Data_Warehouse_ETL", "policies"): {"isClientCredentialsFlowEnabled"},
}


def test_apply_is_read_modify_write_and_keeps_undeclared_fields(org, desired):
    path = desired(RMW_YAML)
    before = org.load()
    # 5 of the demo org's 10 apps: above the default safety threshold (30%), so raised here.
    result = run("apply", "-o", org.target, "-d", path, "--auto-approve", "--max-changes", "5")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 5 applied, 0 failed, 0 not attempted." in result.stdout
    after = org.load()

    # The declared fields did change (so the comparison below is about a real write).
    assert settings_of(after, "Billing_Sync")["isRefreshTokenRotationEnabled"] is True
    assert policies_of(after, "Billing_Sync")["requiredSessionLevel"] == "HIGH_ASSURANCE"
    assert policies_of(after, "Mobile_Field_Service")["ipRelaxationPolicyType"] == "Enforce"
    assert settings_of(after, "Reporting_JWT")["isNamedUserJwtEnabled"] is True
    assert policies_of(after, "Partner_Portal")["sessionTimeoutInMinutes"] == 60
    assert policies_of(after, "Data_Warehouse_ETL")["isClientCredentialsFlowEnabled"] is False
    for app, (glbl, plcy) in COMPONENTS.items():
        for side, type_name, name in (("settings", SETTINGS, glbl), ("policies", POLICIES, plcy)):
            declared = RMW_DECLARED.get((app, side), set())
            old = _undeclared(before["metadata"][type_name][name], declared)
            new = _undeclared(after["metadata"][type_name][name], declared)
            assert new == old, f"{name}: undeclared fields changed"
    # Spelled out: the things a naive full-replace update would lose.
    for app in COMPONENTS:
        for key in ("consumerKey", "consumerSecret", "label"):
            assert settings_of(after, app)[key] == settings_of(before, app)[key]
    # The org trims string values on every save (emulator models Metadata API behaviour), so
    # the PEM's trailing newline is not the reconciler's to keep.
    assert (
        settings_of(after, "Reporting_JWT")["certificate"].strip()
        == settings_of(before, "Reporting_JWT")["certificate"].strip()
    )
    assert "BEGIN CERTIFICATE" in settings_of(after, "Reporting_JWT")["certificate"]
    assert policies_of(after, "Billing_Sync")["customAttributes"] == [
        {"formula": "$User.Department", "key": "department"}
    ]
    assert (
        policies_of(after, "Mobile_Field_Service")["startUrl"]
        == "https://fieldservice.acme.example/start"
    )
    assert policies_of(after, "Data_Warehouse_ETL")["clientCredentialsFlowUser"] == (
        "etl.admin@acme.example"
    )
    assert policies_of(after, "Partner_Portal")["policyAction"] == "RaiseSessionLevel"
    # Other metadata types are never written.
    for type_name in (
        "ExternalClientApplication",
        "ExtlClntAppOauthSettings",
        "ExtlClntAppConfigurablePolicies",
    ):
        assert after["metadata"][type_name] == before["metadata"][type_name]


ORDER_YAML = """\
version: 1
baseline: []  # the mechanism under test, without baseline remedies
apps:
  Mobile_Field_Service:
    settings:
      client_credentials: true
    policies:
      client_credentials: true
      run_as: billing.integration@acme.example
  Data_Warehouse_ETL:
    settings:
      client_credentials: false
    policies:
      client_credentials: false
"""


def test_enabling_writes_settings_first_disabling_writes_policies_first(org, desired):
    path = desired(ORDER_YAML)
    result = run("apply", "-o", org.target, "-d", path, "--auto-approve")
    assert result.exit_code == 0, result.output
    enabling = _app_block(result.stdout, "Mobile_Field_Service")
    disabling = _app_block(result.stdout, "Data_Warehouse_ETL")
    assert enabling == [
        "  Mobile_Field_Service: applied",
        "settings: updated Mobile_Field_Service_glbloauth",
        "policies: updated Mobile_Field_Service_oauthPlcy",
    ]
    assert disabling == [
        "  Data_Warehouse_ETL: applied",
        "policies: updated Data_Warehouse_ETL_oauth_defaultPolicy",
        "settings: updated Data_Warehouse_ETLGlblOAuth",
    ]
    # The org's own clock agrees (ISO timestamps compare as strings; same-ms ties allowed).
    info = org.load()["metadata_info"]

    def stamp(type_name: str, app: str, i: int) -> str:
        return info[type_name][COMPONENTS[app][i]]["lastModifiedDate"]

    assert stamp(SETTINGS, "Mobile_Field_Service", 0) <= stamp(POLICIES, "Mobile_Field_Service", 1)
    assert stamp(POLICIES, "Data_Warehouse_ETL", 1) <= stamp(SETTINGS, "Data_Warehouse_ETL", 0)
    doc = org.load()
    assert settings_of(doc, "Mobile_Field_Service")["isClientCredentialsFlowEnabled"] is True
    assert policies_of(doc, "Mobile_Field_Service")["clientCredentialsFlowUser"] == (
        "billing.integration@acme.example"
    )
    assert settings_of(doc, "Data_Warehouse_ETL")["isClientCredentialsFlowEnabled"] is False


FAIL_YAML = """\
version: 1
baseline: []  # the mechanism under test, without baseline remedies
apps:
  Mobile_Field_Service:
    settings:
      client_credentials: true
    policies:
      client_credentials: true
      run_as: billing.integration@acme.example
  Partner_Portal:
    policies:
      session_timeout_minutes: 30
  Reporting_JWT:
    settings:
      jwt_access_tokens: true
    policies:
      ip_relaxation: bypass
"""


def test_failure_is_reported_per_app_and_the_other_side_is_left_alone(org_file, desired):
    def inject(doc):
        doc["org"]["fail_updates"] = {
            # Mobile_Field_Service enables client credentials: settings is its first step.
            COMPONENTS["Mobile_Field_Service"][0]: {
                "statusCode": "UNKNOWN_EXCEPTION",
                "message": "An unexpected error occurred. Please include this ErrorId: 42-x",
            },
            COMPONENTS["Partner_Portal"][1]: {
                "statusCode": "FIELD_INTEGRITY_EXCEPTION",
                "message": "Session timeout is locked by policy",
            },
        }

    org = org_file(mutate=inject)
    before = org.load()
    path = desired(FAIL_YAML)
    result = run("apply", "-o", org.target, "-d", path, "--auto-approve")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    mobile = _app_block(result.stdout, "Mobile_Field_Service")
    assert mobile[0] == "  Mobile_Field_Service: failed"
    assert any(
        "UNKNOWN_EXCEPTION" in m and "Please include this ErrorId: 42-x" in m for m in mobile[1:]
    ), mobile
    assert not any(m.startswith("policies: updated") for m in mobile[1:]), mobile
    partner = _app_block(result.stdout, "Partner_Portal")
    assert partner[0] == "  Partner_Portal: failed"
    assert any(
        "FIELD_INTEGRITY_EXCEPTION" in m and "Session timeout is locked by policy" in m
        for m in partner[1:]
    ), partner
    assert _app_block(result.stdout, "Reporting_JWT")[0] == "  Reporting_JWT: applied"
    assert "Apply incomplete: 1 applied, 2 failed" in result.stdout

    after = org.load()
    # The failed first step left both of Mobile_Field_Service's components untouched.
    assert settings_of(after, "Mobile_Field_Service") == settings_of(before, "Mobile_Field_Service")
    assert policies_of(after, "Mobile_Field_Service") == policies_of(before, "Mobile_Field_Service")
    assert policies_of(after, "Partner_Portal") == policies_of(before, "Partner_Portal")
    assert settings_of(after, "Reporting_JWT")["isNamedUserJwtEnabled"] is True
    assert policies_of(after, "Reporting_JWT")["ipRelaxationPolicyType"] == "Bypass"


def test_enabling_client_credentials_with_inactive_run_as_fails(org, desired):
    path = desired(
        """\
version: 1
baseline: []
apps:
  Mobile_Field_Service:
    policies:
      client_credentials: true
      run_as: former.integration@acme.example
  Partner_Portal:
    policies:
      session_timeout_minutes: 45
"""
    )
    before = org.load()
    result = run("apply", "-o", org.target, "-d", path, "--auto-approve")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    mobile = _app_block(result.stdout, "Mobile_Field_Service")
    assert mobile[0] == "  Mobile_Field_Service: failed"
    assert any(
        "Enter a valid execution user for the OAuth client credentials flow." in m
        for m in mobile[1:]
    ), mobile
    assert _app_block(result.stdout, "Partner_Portal")[0] == "  Partner_Portal: applied"
    after = org.load()
    assert policies_of(after, "Mobile_Field_Service") == policies_of(before, "Mobile_Field_Service")
    assert policies_of(after, "Partner_Portal")["sessionTimeoutInMinutes"] == 45


def test_apply_with_app_only_touches_that_app(org):
    before = org.load()
    result = run(
        "apply",
        "-o",
        org.target,
        "-d",
        SHIPPED_DESIRED,
        "--app",
        "Legacy_Importer",
        "--auto-approve",
    )
    assert result.exit_code == 0, result.output
    assert "Legacy_Importer: applied" in result.stdout
    assert "Data_Warehouse_ETL" not in result.stdout
    assert "Apply complete: 1 applied, 0 failed, 0 not attempted." in result.stdout
    after = org.load()
    assert settings_of(after, "Legacy_Importer")["isClientCredentialsFlowEnabled"] is False
    for type_name in after["metadata"]:
        for name, fields in after["metadata"][type_name].items():
            if name in COMPONENTS["Legacy_Importer"]:
                continue
            assert fields == before["metadata"][type_name][name], name
            assert (
                after["metadata_info"][type_name][name] == before["metadata_info"][type_name][name]
            ), name


def test_catalogue_sanity_for_this_suite():
    """The wire names used above are the catalogue's (guards the RMW test's declared sets)."""
    wires = {spec.path: spec.wire for spec in F.CATALOGUE}
    assert wires["settings.jwt_access_tokens"] == "isNamedUserJwtEnabled"
    assert wires["policies.session_timeout_minutes"] == "sessionTimeoutInMinutes"
    assert wires["policies.session_level"] == "requiredSessionLevel"
