"""Done-when 3: `plan --out FILE` then `apply FILE`; stale and foreign plans are refused."""

from __future__ import annotations

import json

from .conftest import SHIPPED_DESIRED, assert_clean_error, policies_of, run, settings_of

OTHER_ORG = "00D000000000002EAA"


def _save_plan(org, tmp_path):
    plan_file = tmp_path / "p.json"
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--out", plan_file)
    assert result.exit_code == 0, result.output
    assert f"Saved the plan to {plan_file}" in result.stderr
    doc = json.loads(plan_file.read_text())
    assert doc["format_version"] == "1" and len(doc["changes"]) >= 7
    return plan_file, len(doc["changes"])


def test_saved_plan_is_applied_exactly_without_asking(org, tmp_path):
    plan_file, n_changes = _save_plan(org, tmp_path)
    # No --auto-approve, and CliRunner's stdin is not a terminal: a saved plan needs neither.
    result = run("apply", plan_file, "-o", org.target)
    assert result.exit_code == 0, result.output
    assert f"Applying saved plan {plan_file} ({n_changes} field change(s))." in result.stdout
    assert "Data_Warehouse_ETL: applied" in result.stdout
    assert "Legacy_Importer: applied" in result.stdout
    assert "Apply complete: 2 applied, 0 failed, 0 not attempted." in result.stdout
    doc = org.load()
    etl = policies_of(doc, "Data_Warehouse_ETL")
    assert etl["isClientCredentialsFlowEnabled"] is False
    assert etl["ipRelaxationPolicyType"] == "Enforce"
    assert (etl["refreshTokenPolicyType"], etl["refreshTokenValidityPeriod"]) == (
        "SpecificLifetime",
        90,
    )
    assert etl["refreshTokenValidityUnit"] == "Days"
    assert settings_of(doc, "Data_Warehouse_ETL")["isClientCredentialsFlowEnabled"] is False
    assert settings_of(doc, "Legacy_Importer")["isClientCredentialsFlowEnabled"] is False
    again = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes." in again.stdout


def test_saved_plan_applies_only_what_it_recorded(org, tmp_path):
    """A saved plan is applied exactly: changes outside it are not made even if declared now."""
    plan_file = tmp_path / "p.json"
    made = run(
        "plan",
        "-o",
        org.target,
        "-d",
        SHIPPED_DESIRED,
        "--app",
        "Legacy_Importer",
        "--out",
        plan_file,
    )
    assert made.exit_code == 0, made.output
    before = org.load()
    result = run("apply", plan_file, "-o", org.target, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    after = org.load()
    assert settings_of(after, "Legacy_Importer")["isClientCredentialsFlowEnabled"] is False
    assert policies_of(after, "Data_Warehouse_ETL") == policies_of(before, "Data_Warehouse_ETL")
    assert settings_of(after, "Data_Warehouse_ETL") == settings_of(before, "Data_Warehouse_ETL")


def test_stale_saved_plan_is_refused_naming_app_and_field(org, tmp_path):
    plan_file, n_changes = _save_plan(org, tmp_path)
    # Someone changes a field the plan observed, after the plan was made.
    org.mutate(
        lambda d: policies_of(d, "Data_Warehouse_ETL").update(
            ipRelaxationPolicyType="Bypass_2factor"
        )
    )
    changed = org.bytes()
    result = run("apply", plan_file, "-o", org.target)
    assert_clean_error(
        result,
        "stale",
        "nothing was written",
        "Data_Warehouse_ETL: policies.ip_relaxation",
        '"bypass" when planned, now "bypass_2factor"',
    )
    assert org.bytes() == changed, "a stale plan must not write anything"


def _move_to_other_org(doc):
    # The reconciler learns the org id from `SELECT Id FROM Organization`; the emulator answers
    # that from the Organization row, and login from org.id: change both, as a real org would.
    doc["org"]["id"] = OTHER_ORG
    doc["sobjects"]["Organization"][0]["Id"] = OTHER_ORG


def test_saved_plan_for_another_org_is_refused(org, tmp_path):
    plan_file, n_changes = _save_plan(org, tmp_path)
    org.mutate(_move_to_other_org)
    changed = org.bytes()
    result = run("apply", plan_file, "-o", org.target)
    assert_clean_error(result, "00D000000000001EAA", OTHER_ORG, "nothing was written")
    assert org.bytes() == changed
