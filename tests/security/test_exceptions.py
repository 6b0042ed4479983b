"""Exceptions: valid ones are accepted and shown; expired, incomplete, soon-expiring and
unneeded ones are errors or warnings as the issue asks. Declared violations fail offline."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from .conftest import EXPIRED, SOON, TODAY, VALID, exception_yaml, line_of, run

ETL_006 = (
    "version: 1\nbaseline: [ECA-OAUTH-006]\nunlisted: ignore\n{extra}apps:\n"
    "  Data_Warehouse_ETL:\n{exc}"
)


def etl_with_006_exception(expires: str = VALID, extra: str = "", **kw) -> str:
    return ETL_006.format(extra=extra, exc=exception_yaml("ECA-OAUTH-006", expires, **kw))


# --- valid exceptions -------------------------------------------------------------------------


def test_valid_exception_accepted_in_plan_and_audit(org, write_yaml):
    desired = write_yaml(etl_with_006_exception())
    plan = run("plan", "-o", org.target, "-d", desired)
    assert plan.exit_code == 0, plan.output
    out = plan.stdout
    assert "policies.ip_relaxation" not in out.split("Exceptions in force:")[0].split("Summary")[1]
    section = out.split("Exceptions in force:\n", 1)[1].split("\n\n", 1)[0]
    assert section.strip() == (
        f"Data_Warehouse_ETL: ECA-OAUTH-006 (policies.ip_relaxation) accepted until {VALID}, "
        "owner team@acme.example, SEC-1: needed by the nightly job"
    )
    assert "1 exception in force" in out.splitlines()[2]
    assert "Baseline violations left in place" not in out
    assert "Warning" not in plan.stderr

    audit = run("audit", "-o", org.target, "-d", desired)
    assert audit.exit_code == 0, audit.output
    assert "Summary: compliant;" in audit.stdout
    assert "0 violations, 1 exception in force" in audit.stdout
    assert "Exceptions in force:" in audit.stdout
    assert f"accepted until {VALID}" in audit.stdout


def test_exception_for_one_control_does_not_cover_another(org, write_yaml):
    """An exception for 006 must not hide a 004 violation of the same app."""
    desired = write_yaml(
        etl_with_006_exception().replace("[ECA-OAUTH-006]", "[ECA-OAUTH-004, ECA-OAUTH-006]")
    )
    audit = run("audit", "-o", org.target, "-d", desired, "--format", "json")
    assert audit.exit_code == 3, audit.output
    by_control = {f["control"]: f["accepted"] for f in json.loads(audit.stdout)["findings"]}
    assert by_control == {"ECA-OAUTH-004": False, "ECA-OAUTH-006": True}


def test_declared_violation_with_exception_validates(write_yaml):
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-002]\napps:\n  Mobile_Field_Service:\n"
        "    settings:\n      device: true\n" + exception_yaml("ECA-OAUTH-002", ticket=None)
    )
    result = run("validate", "-d", desired)
    assert result.exit_code == 0, result.output
    assert "Valid: 1 app(s)" in result.stdout
    assert result.stderr == ""


# --- expired and incomplete -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "plan", "audit"])
def test_expired_exception_fails_naming_file_and_line(command, org, write_yaml):
    desired = write_yaml(etl_with_006_exception(EXPIRED))
    line = line_of(desired, "- control: ECA-OAUTH-006")
    args = [command, "-d", desired] + ([] if command == "validate" else ["-o", org.target])
    before = org.bytes()
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert f"{desired}:{line}:" in result.stderr
    assert f"exception for ECA-OAUTH-006 expired on {EXPIRED}" in result.stderr
    assert "Traceback" not in result.output
    assert org.bytes() == before


@pytest.mark.parametrize(
    "missing, kw",
    [
        ("justification", {"justification": None}),
        ("justification", {"justification": '"   "'}),
        ("owner", {"owner": None}),
        ("owner", {"owner": '""'}),
        ("expires", {"expires": None}),
        ("expires", {"expires": "next year"}),
    ],
)
def test_incomplete_exception_fails(missing, kw, write_yaml):
    desired = write_yaml(etl_with_006_exception(**({"expires": VALID} | kw)))
    result = run("validate", "-d", desired)
    assert result.exit_code == 1, result.output
    assert f"apps.Data_Warehouse_ETL.exceptions[0].{missing}: required" in result.stderr
    assert "Traceback" not in result.output


def test_incomplete_exception_fails_plan_too(org, write_yaml):
    desired = write_yaml(etl_with_006_exception(owner=None))
    result = run("plan", "-o", org.target, "-d", desired)
    assert result.exit_code == 1, result.output
    assert "exceptions[0].owner: required" in result.stderr
    assert result.stdout == ""


# --- expiring soon ----------------------------------------------------------------------------


def test_expiring_soon_warns_but_passes(org, write_yaml):
    desired = write_yaml(etl_with_006_exception(SOON))
    line = line_of(desired, "- control: ECA-OAUTH-006")
    warning = f"exception for ECA-OAUTH-006 expires in 10 day(s) ({SOON}); owner team@acme.example"

    result = run("validate", "-d", desired)
    assert result.exit_code == 0, result.output
    assert f"Warning: {desired}:{line}:" in result.stderr
    assert warning in result.stderr

    plan = run("plan", "-o", org.target, "-d", desired, "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    warnings = plan.stdout.split("Warnings:\n", 1)[1]
    assert warning in warnings
    assert "Exceptions in force:" in plan.stdout


def _days(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


@pytest.mark.parametrize(
    "setting, days_left, warned",
    [
        (None, 30, True),
        (None, 31, False),
        (5, 10, False),
        (10, 10, True),
        (60, 45, True),
        (0, 1, False),
        (0, 0, True),
    ],
)
def test_exception_warning_days_is_configurable(setting, days_left, warned, write_yaml):
    extra = "" if setting is None else f"exception_warning_days: {setting}\n"
    desired = write_yaml(etl_with_006_exception(_days(days_left), extra=extra))
    result = run("validate", "-d", desired)
    assert result.exit_code == 0, result.output
    assert (f"expires in {days_left} day(s)" in result.stderr) is warned, result.stderr


@pytest.mark.parametrize("bad", ["-1", "soon", "true", "[30]"])
def test_exception_warning_days_must_be_a_whole_number(bad, write_yaml):
    desired = write_yaml(etl_with_006_exception(extra=f"exception_warning_days: {bad}\n"))
    result = run("validate", "-d", desired)
    assert result.exit_code == 1, result.output
    assert "exception_warning_days: invalid value" in result.stderr


# --- unneeded exceptions ----------------------------------------------------------------------


def test_exception_for_control_outside_baseline_warns(write_yaml):
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-001]\napps:\n  Data_Warehouse_ETL:\n"
        "    policies:\n      session_level: standard\n" + exception_yaml("ECA-OAUTH-006")
    )
    result = run("validate", "-d", desired)
    assert result.exit_code == 0, result.output
    line = line_of(desired, "- control:")
    assert f"{desired}:{line}:" in result.stderr
    assert "exception for ECA-OAUTH-006 is not needed: that control is not in the baseline" in (
        result.stderr
    )


def test_exception_unneeded_when_declared_values_comply(write_yaml):
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-006]\napps:\n  Data_Warehouse_ETL:\n"
        "    policies:\n      ip_relaxation: enforce\n" + exception_yaml("ECA-OAUTH-006")
    )
    result = run("validate", "-d", desired)
    assert result.exit_code == 0, result.output
    assert "exception for ECA-OAUTH-006 is not needed: the declared values comply" in (
        result.stderr
    )


def test_exception_unneeded_when_org_app_complies_anyway(org, write_yaml):
    """Billing_Sync already enforces IP restrictions in the org."""
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-006]\nunlisted: ignore\napps:\n  Billing_Sync:\n"
        "    policies:\n      session_level: standard\n" + exception_yaml("ECA-OAUTH-006")
    )
    validate = run("validate", "-d", desired)
    assert validate.exit_code == 0 and validate.stderr == "", validate.output  # needs the org
    plan = run("plan", "-o", org.target, "-d", desired)
    assert plan.exit_code == 0, plan.output
    assert (
        "Billing_Sync: exception for ECA-OAUTH-006 is not needed: the app would comply anyway"
        in plan.stdout.split("Warnings:\n", 1)[1]
    )
    assert "Exceptions in force:" not in plan.stdout


def test_exception_unneeded_when_app_not_in_org(org, write_yaml):
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-006]\nunlisted: ignore\napps:\n  Ghost_App:\n"
        "    policies:\n      session_level: standard\n" + exception_yaml("ECA-OAUTH-006")
    )
    plan = run("plan", "-o", org.target, "-d", desired)
    assert plan.exit_code == 1, plan.output  # a missing app is an error in its own right
    assert (
        "Ghost_App: exception for ECA-OAUTH-006 is not needed: the app does not exist"
        in plan.stdout
    )
    assert "Ghost_App: not found in the org" in plan.stdout


# --- declared violations without an exception -------------------------------------------------

DECLARED_VIOLATIONS = {
    "ECA-OAUTH-001": ("settings", "client_credentials: true", "client_credentials"),
    "ECA-OAUTH-002": ("settings", "device: true", "device"),
    "ECA-OAUTH-003": ("policies", "token_exchange: true", "token_exchange"),
    "ECA-OAUTH-004": ("policies", "refresh_token: {policy: infinite}", "refresh_token"),
    "ECA-OAUTH-005": ("policies", "permitted_users: all_self_authorized", "permitted_users"),
    "ECA-OAUTH-006": ("policies", "ip_relaxation: bypass", "ip_relaxation"),
}


def declared_violation(control: str, exc: str = "") -> str:
    side, field, _ = DECLARED_VIOLATIONS[control]
    run_as = (
        "    policies:\n      run_as: admin@acme.example\n" if control == "ECA-OAUTH-001" else ""
    )
    return (
        f"version: 1\nbaseline: [{control}]\napps:\n  Mobile_Field_Service:\n"
        f"    {side}:\n      {field}\n" + run_as + exc
    )


@pytest.mark.parametrize("control", sorted(DECLARED_VIOLATIONS))
def test_declared_violation_fails_validate_offline(control, write_yaml, tmp_path):
    desired = write_yaml(declared_violation(control))
    key = DECLARED_VIOLATIONS[control][2]
    line = line_of(desired, f"{key}:", after=f"{DECLARED_VIOLATIONS[control][0]}:")
    # validate takes no org at all; the state file below does not even exist.
    result = run("validate", "-d", desired)
    assert result.exit_code == 1, result.output
    assert f"{desired}:{line}:" in result.stderr, result.stderr
    assert f"violates {control}" in result.stderr
    assert "add an exception" in result.stderr

    plan = run("plan", "-o", f"emulator:{tmp_path / 'never-created.json'}", "-d", desired)
    assert plan.exit_code == 1, plan.output
    assert f"violates {control}" in plan.stderr
    assert not (tmp_path / "never-created.json").exists()


@pytest.mark.parametrize("control", sorted(DECLARED_VIOLATIONS))
def test_declared_violation_with_valid_exception_passes(control, write_yaml):
    desired = write_yaml(declared_violation(control, exception_yaml(control)))
    result = run("validate", "-d", desired)
    assert result.exit_code == 0, result.output
    assert "violates" not in result.stderr


def test_declared_violation_blocks_plan_against_org(org, write_yaml):
    desired = write_yaml(declared_violation("ECA-OAUTH-006"))
    before = org.bytes()
    result = run("plan", "-o", org.target, "-d", desired)
    assert result.exit_code == 1, result.output
    assert "violates ECA-OAUTH-006 (IP restrictions not bypassed)" in result.stderr
    assert org.bytes() == before


def test_impossible_expiry_date_is_a_located_error(write_yaml):
    desired = write_yaml(etl_with_006_exception("2027-02-30"))
    result = run("validate", "-d", desired)
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.stderr
    assert f"{desired}:{line_of(desired, 'expires:')}:" in result.stderr
