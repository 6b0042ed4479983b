"""`plan --out FILE` then `apply FILE`: only the plan that the desired state and the org give
now is ever applied. Stale, foreign and hand-edited plans are refused with every difference
listed, nothing written; the desired state must be the one the plan was made from."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from .conftest import SHIPPED_DESIRED, Org, assert_clean_error, policies_of, run, settings_of

OTHER_ORG = "00D000000000002EAA"
REFUSED = "the saved plan is stale or was altered; nothing was written"


@pytest.fixture
def desired_dir(tmp_path: Path) -> Path:
    """A copy of the shipped desired state plus an empty second file, so files can change."""
    folder = tmp_path / "desired"
    folder.mkdir()
    shutil.copy(SHIPPED_DESIRED / "apps.yaml", folder / "apps.yaml")
    (folder / "extra.yaml").write_text("version: 1\napps: {}\n", encoding="utf-8")
    return folder


def _save_plan(org: Org, tmp_path: Path, desired: Path = SHIPPED_DESIRED, *scope: str) -> Path:
    plan_file = tmp_path / "p.json"
    result = run("plan", "-o", org.target, "-d", desired, "--out", plan_file, *scope)
    assert result.exit_code == 0, result.output
    assert f"Saved the plan to {plan_file}" in result.stderr
    return plan_file


def _edit(plan_file: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(plan_file.read_text())
    fn(doc)
    plan_file.write_text(json.dumps(doc, indent=2))


def _app(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in doc["apps"] if a["name"] == name)


def _change(app: str, path: str, before: Any, after: Any) -> dict[str, Any]:
    side, field = path.split(".", 1)
    return {
        "app": app,
        "component": side,
        "field": field,
        "before": before,
        "after": after,
        "enables_flow": after is True,
        "control": None,
    }


def _refused(org: Org, result: Result, *needles: str) -> None:
    """Exit 1, clean message with every needle, and the org file untouched."""
    assert_clean_error(result, REFUSED, *needles)
    assert "Re-run `reconciler plan`" in result.stderr


def _apply_refused(org: Org, plan_file: Path, desired: Path, *needles: str) -> None:
    before = org.bytes()
    result = run("apply", plan_file, "-o", org.target, "-d", desired)
    _refused(org, result, *needles)
    assert org.bytes() == before, "a refused plan must not write anything"


# --- the happy paths ---------------------------------------------------------------------


def test_saved_plan_is_applied_exactly_without_asking(org, tmp_path):
    plan_file = _save_plan(org, tmp_path)
    n_changes = len(json.loads(plan_file.read_text())["changes"])
    assert n_changes >= 7
    # No --auto-approve, and CliRunner's stdin is not a terminal: a saved plan needs neither.
    result = run("apply", plan_file, "-o", org.target, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    assert f"Checking saved plan {plan_file} ({n_changes} field change(s))" in result.stdout
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


def test_json_output_is_the_plan_file_and_apply_accepts_it(org, tmp_path, monkeypatch):
    """docs/commands.md: `--format json` is the saved-plan format; the desired state defaults to
    desired/ for apply as it does for plan, and a path spelled differently is the same state."""
    plan_file = tmp_path / "p.json"
    made = run(
        "plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--format", "json", "--out", plan_file
    )
    assert made.exit_code == 0, made.output
    assert made.stdout == plan_file.read_text()
    doc = json.loads(made.stdout)
    assert list(doc["desired_file_digests"]) == ["apps.yaml"]
    assert doc["scope"] == {"apps": [], "exclude": []}
    printed = tmp_path / "printed.json"
    printed.write_text(made.stdout)
    monkeypatch.chdir(SHIPPED_DESIRED.parent)  # so the default desired/ is the shipped one
    result = run("apply", printed, "-o", org.target)
    assert result.exit_code == 0, result.output
    assert "Apply complete: 2 applied" in result.stdout


def test_saved_plan_keeps_its_scope(org, tmp_path):
    """A plan made with --app re-plans with the same --app: other declared drift stays."""
    plan_file = _save_plan(org, tmp_path, SHIPPED_DESIRED, "--app", "Legacy_Importer")
    assert json.loads(plan_file.read_text())["scope"] == {
        "apps": ["Legacy_Importer"],
        "exclude": [],
    }
    before = org.load()
    result = run("apply", plan_file, "-o", org.target, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    after = org.load()
    assert settings_of(after, "Legacy_Importer")["isClientCredentialsFlowEnabled"] is False
    assert policies_of(after, "Data_Warehouse_ETL") == policies_of(before, "Data_Warehouse_ETL")
    assert settings_of(after, "Data_Warehouse_ETL") == settings_of(before, "Data_Warehouse_ETL")


def test_narrowing_a_saved_plan_is_refused(org, tmp_path):
    plan_file = _save_plan(org, tmp_path)
    result = run("apply", plan_file, "-o", org.target, "--app", "Legacy_Importer")
    assert_clean_error(result, "--app/--exclude cannot narrow a saved plan")


# --- hand-edited plan files --------------------------------------------------------------


def test_extra_change_on_an_undeclared_field_is_refused(org, tmp_path):
    plan_file = _save_plan(org, tmp_path)

    def add(doc: dict[str, Any]) -> None:
        # A careful forger also records the live value as observed, so the file is consistent.
        doc["changes"].append(_change("Billing_Sync", "policies.session_level", "standard", "low"))
        _app(doc, "Billing_Sync")["observed"]["policies.session_level"] = "standard"

    _edit(plan_file, add)
    _apply_refused(
        org,
        plan_file,
        SHIPPED_DESIRED,
        'Billing_Sync: policies.session_level: the plan file says "standard" -> "low" but '
        "planning now gives no change",
    )


def test_run_as_switched_to_an_admin_is_refused(org, tmp_path):
    plan_file = _save_plan(org, tmp_path)
    _edit(
        plan_file,
        lambda doc: doc["changes"].append(
            _change(
                "Billing_Sync",
                "policies.run_as",
                "billing.integration@acme.example",
                "admin@acme.example",
            )
        ),
    )
    _apply_refused(
        org,
        plan_file,
        SHIPPED_DESIRED,
        'Billing_Sync: policies.run_as: the plan file says "billing.integration@acme.example" '
        '-> "admin@acme.example" but planning now gives no change',
    )


def test_client_credentials_turned_on_without_exception_is_refused(org, tmp_path):
    plan_file = _save_plan(org, tmp_path)

    def enable(doc: dict[str, Any]) -> None:
        doc["changes"] += [
            _change("Mobile_Field_Service", "settings.client_credentials", False, True),
            _change("Mobile_Field_Service", "policies.client_credentials", False, True),
            _change("Mobile_Field_Service", "policies.run_as", None, "admin@acme.example"),
        ]

    _edit(plan_file, enable)
    _apply_refused(
        org,
        plan_file,
        SHIPPED_DESIRED,
        "Mobile_Field_Service: settings.client_credentials: the plan file says false -> true "
        "but planning now gives no change",
        "Mobile_Field_Service: policies.client_credentials: the plan file says false -> true",
        'Mobile_Field_Service: policies.run_as: the plan file says (unset) -> "admin@acme.example"',
    )


def test_removed_change_is_refused(org, tmp_path):
    plan_file = _save_plan(org, tmp_path)

    def drop(doc: dict[str, Any]) -> None:
        doc["changes"] = [c for c in doc["changes"] if c["field"] != "ip_relaxation"]

    _edit(plan_file, drop)
    _apply_refused(
        org,
        plan_file,
        SHIPPED_DESIRED,
        "Data_Warehouse_ETL: policies.ip_relaxation: the plan file says no change but planning "
        'now gives "bypass" -> "enforce"',
    )


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("before", "enforce", '"enforce" -> "enforce"'),
        ("after", "bypass_2factor", '"bypass" -> "bypass_2factor"'),
    ],
    ids=["before", "after"],
)
def test_edited_change_value_is_refused(org, tmp_path, key, value, shown):
    plan_file = _save_plan(org, tmp_path)

    def edit(doc: dict[str, Any]) -> None:
        next(c for c in doc["changes"] if c["field"] == "ip_relaxation")[key] = value

    _edit(plan_file, edit)
    _apply_refused(
        org,
        plan_file,
        SHIPPED_DESIRED,
        f"Data_Warehouse_ETL: policies.ip_relaxation: the plan file says {shown} but planning "
        'now gives "bypass" -> "enforce"',
    )


def test_edited_observed_value_is_refused(org, tmp_path):
    """Only `observed` is edited, on a declared field with no planned change: the changes
    still match, so this catches a check that compares changes but not observed values."""
    plan_file = _save_plan(org, tmp_path)
    _edit(
        plan_file,
        lambda doc: _app(doc, "Billing_Sync")["observed"].update({"settings.pkce_required": False}),
    )
    _apply_refused(
        org,
        plan_file,
        SHIPPED_DESIRED,
        "Billing_Sync: settings.pkce_required was false when planned, now true",
    )


# --- the desired state moved -------------------------------------------------------------


def test_desired_file_modified_after_planning_is_refused(org, tmp_path, desired_dir):
    plan_file = _save_plan(org, tmp_path, desired_dir)
    apps = desired_dir / "apps.yaml"
    # A comment only: the plan itself would not change, but it is no longer what was reviewed.
    apps.write_text(apps.read_text() + "# edited after review\n")
    _apply_refused(
        org,
        plan_file,
        desired_dir,
        "the desired state changed since it was made",
        "apps.yaml: modified since the plan was made",
    )


def test_desired_file_added_after_planning_is_refused(org, tmp_path, desired_dir):
    plan_file = _save_plan(org, tmp_path, desired_dir)
    (desired_dir / "more.yaml").write_text("version: 1\napps: {}\n")
    _apply_refused(org, plan_file, desired_dir, "more.yaml: added since the plan was made")


def test_desired_file_removed_after_planning_is_refused(org, tmp_path, desired_dir):
    plan_file = _save_plan(org, tmp_path, desired_dir)
    (desired_dir / "extra.yaml").unlink()
    _apply_refused(org, plan_file, desired_dir, "extra.yaml: removed since the plan was made")


def test_unchanged_desired_state_under_another_path_spelling_applies(org, tmp_path, desired_dir):
    plan_file = _save_plan(org, tmp_path, desired_dir)
    result = run("apply", plan_file, "-o", org.target, "-d", f"{desired_dir}/./")
    assert result.exit_code == 0, result.output


# --- the org moved -----------------------------------------------------------------------


def test_org_change_on_a_planned_field_is_refused(org, tmp_path):
    plan_file = _save_plan(org, tmp_path)
    org.mutate(
        lambda d: policies_of(d, "Data_Warehouse_ETL").update(
            ipRelaxationPolicyType="Bypass_2factor"
        )
    )
    _apply_refused(
        org,
        plan_file,
        SHIPPED_DESIRED,
        'Data_Warehouse_ETL: policies.ip_relaxation was "bypass" when planned, '
        'now "bypass_2factor"',
    )


def test_org_change_on_a_declared_field_without_planned_change_is_refused(org, tmp_path):
    plan_file = _save_plan(org, tmp_path)
    assert not [
        c for c in json.loads(plan_file.read_text())["changes"] if c["app"] == "Billing_Sync"
    ]
    org.mutate(lambda d: settings_of(d, "Billing_Sync").update(isPkceRequired=False))
    _apply_refused(
        org,
        plan_file,
        SHIPPED_DESIRED,
        "Billing_Sync: settings.pkce_required was true when planned, now false",
    )


def _move_to_other_org(doc: dict[str, Any]) -> None:
    # The reconciler learns the org id from `SELECT Id FROM Organization`; the emulator answers
    # that from the Organization row, and login from org.id: change both, as a real org would.
    doc["org"]["id"] = OTHER_ORG
    doc["sobjects"]["Organization"][0]["Id"] = OTHER_ORG


def test_saved_plan_for_another_org_is_refused(org, tmp_path):
    plan_file = _save_plan(org, tmp_path)
    org.mutate(_move_to_other_org)
    _apply_refused(org, plan_file, SHIPPED_DESIRED, "00D000000000001EAA", OTHER_ORG)


# --- fields that can never be in a plan --------------------------------------------------


@pytest.mark.parametrize(
    ("where", "name"),
    [
        ("changes", "consumerSecret"),
        ("changes", "consumer_key"),
        ("changes", "shouldRotateConsumerSecret"),
        ("changes", "rotate_consumer_key"),
        ("observed", "certificate"),
    ],
)
def test_secret_field_in_plan_file_is_a_clean_error(org, tmp_path, where, name):
    plan_file = _save_plan(org, tmp_path)
    marker = "SECRETVALUE-do-not-print"

    def plant(doc: dict[str, Any]) -> None:
        if where == "changes":
            doc["changes"].append(_change("Billing_Sync", f"settings.{name}", None, marker))
        else:
            _app(doc, "Billing_Sync")["observed"][f"settings.{name}"] = marker

    _edit(plan_file, plant)
    before = org.bytes()
    result = run("apply", plan_file, "-o", org.target, "-d", SHIPPED_DESIRED)
    assert_clean_error(
        result, str(plan_file), "app Billing_Sync", f"settings.{name}", "is a secret"
    )
    assert marker not in result.output
    assert org.bytes() == before


@pytest.mark.parametrize("path", ["policies.session_timeout", "oauth.client_credentials"])
def test_unknown_field_in_plan_file_is_a_clean_error(org, tmp_path, path):
    plan_file = _save_plan(org, tmp_path)
    _edit(plan_file, lambda doc: doc["changes"].append(_change("Partner_Portal", path, None, 5)))
    before = org.bytes()
    result = run("apply", plan_file, "-o", org.target, "-d", SHIPPED_DESIRED)
    assert_clean_error(
        result, str(plan_file), "app Partner_Portal", path, "is not a field this reconciler manages"
    )
    assert org.bytes() == before


def test_plan_file_without_desired_digests_is_refused(org, tmp_path):
    """A file from before digests were recorded cannot be checked, so it is not applied."""
    plan_file = _save_plan(org, tmp_path)
    _edit(plan_file, lambda doc: doc.pop("desired_file_digests"))
    before = org.bytes()
    result = run("apply", plan_file, "-o", org.target, "-d", SHIPPED_DESIRED)
    assert_clean_error(result, str(plan_file), "re-run plan")
    assert org.bytes() == before
