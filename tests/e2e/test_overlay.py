"""`-d` given more than once: layers (desired/base + desired/<org>) merged key by key.

Driven through the CLI against the emulator: what the org is asked to become is read from the
plan's JSON, so a broken merge shows up as a different plan, not only as a different object.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import SHIPPED_DESIRED, assert_clean_error
from tests.support import run

BASE = (SHIPPED_DESIRED / "apps.yaml").read_text(encoding="utf-8")


def _layers(tmp_path: Path, prod: str, *, name: str = "apps.yaml") -> tuple[Path, Path]:
    base = tmp_path / "desired" / "base"
    org = tmp_path / "desired" / "prod"
    base.mkdir(parents=True)
    org.mkdir(parents=True)
    (base / "apps.yaml").write_text(BASE, encoding="utf-8")
    (org / name).write_text(prod, encoding="utf-8")
    return base, org


def _changes(result) -> dict[tuple[str, str], tuple[object, object]]:
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    return {
        (c["app"], f"{c['component']}.{c['field']}"): (c["before"], c["after"])
        for c in doc["changes"]
    }


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_later_layer_overrides_a_field_and_keeps_the_rest(tmp_path, org):
    # Base: Data_Warehouse_ETL gets ip_relaxation enforce (drift from bypass) and a 90-day
    # refresh token. The org layer overrides only the period: the other fields stay planned.
    base, prod = _layers(
        tmp_path,
        "version: 1\napps:\n  Data_Warehouse_ETL:\n    policies:\n"
        "      refresh_token: {period: 7}\n",
    )
    alone = _changes(run("plan", "-o", org.target, "-d", base, "--format", "json"))
    layered = _changes(run("plan", "-o", org.target, "-d", base, "-d", prod, "--format", "json"))
    key = ("Data_Warehouse_ETL", "policies.refresh_token.period")
    assert alone[key] == (None, 90)
    assert layered[key] == (None, 7)
    # Merged field by field: the base's other changes for the same app are still planned.
    for other in (
        "policies.ip_relaxation",
        "policies.refresh_token.policy",
        "policies.refresh_token.unit",
    ):
        assert layered[("Data_Warehouse_ETL", other)] == alone[("Data_Warehouse_ETL", other)]
    assert {k for k in layered if k != key} == {k for k in alone if k != key}


def test_an_app_from_base_merges_with_new_fields_from_the_org_layer(tmp_path, org):
    # Legacy_Importer in base declares settings.pkce_required; the org layer adds device.
    base, prod = _layers(
        tmp_path, "version: 1\napps:\n  Legacy_Importer:\n    settings:\n      device: true\n"
    )
    layered = _changes(run("plan", "-o", org.target, "-d", base, "-d", prod, "--format", "json"))
    assert layered[("Legacy_Importer", "settings.device")] == (False, True)
    # From the base (its defaults: client credentials off on the developer side).
    assert layered[("Legacy_Importer", "settings.client_credentials")] == (True, False)


def test_order_matters_the_later_layer_wins(tmp_path, org):
    base, prod = _layers(
        tmp_path,
        "version: 1\napps:\n  Data_Warehouse_ETL:\n    policies:\n"
        "      refresh_token: {period: 7}\n",
    )
    reversed_ = _changes(run("plan", "-o", org.target, "-d", prod, "-d", base, "--format", "json"))
    assert reversed_[("Data_Warehouse_ETL", "policies.refresh_token.period")] == (None, 90)


def test_a_later_files_defaults_do_not_override_an_apps_own_key(tmp_path, org):
    # Billing_Sync declares client credentials on (with an exception) in the base; the org
    # layer's defaults say off. Defaults fill gaps only: Billing_Sync keeps its own value.
    base, prod = _layers(
        tmp_path,
        "version: 1\ndefaults:\n  settings: {client_credentials: false}\n"
        "apps:\n  Billing_Sync:\n    policies:\n      session_level: standard\n",
    )
    result = run("plan", "-o", org.target, "-d", base, "-d", prod, "--format", "json")
    layered = _changes(result)
    assert ("Billing_Sync", "settings.client_credentials") not in layered
    doc = json.loads(result.stdout)
    (billing,) = [a for a in doc["apps"] if a["name"] == "Billing_Sync"]
    assert billing["risk"] is not None  # client credentials still on: ranked


def test_baseline_settings_override_key_by_key(tmp_path, org):
    # The base says `unlisted: report`; the org layer says enforce: unlisted apps are changed.
    base, prod = _layers(tmp_path, "version: 1\nunlisted: enforce\napps: {}\n")
    alone = _changes(run("plan", "-o", org.target, "-d", base, "--format", "json"))
    layered = _changes(run("plan", "-o", org.target, "-d", base, "-d", prod, "--format", "json"))
    listed = {app for app, _ in alone}
    assert {app for app, _ in layered} - listed, "enforce should plan changes for unlisted apps"
    validate = run("validate", "-d", base, "-d", prod)
    assert validate.exit_code == 0, validate.output
    # The base's controls stay: only `unlisted` was overridden.
    assert "baseline ECA-OAUTH-001, ECA-OAUTH-004, ECA-OAUTH-006, unlisted apps: enforce" in (
        validate.stdout
    )


def test_same_app_twice_in_one_layer_names_both_files_and_lines(tmp_path):
    base, prod = _layers(
        tmp_path, "version: 1\napps:\n  Legacy_Importer:\n    settings: {device: true}\n"
    )
    second = prod / "more.yaml"
    second.write_text(
        "version: 1\n\napps:\n  Legacy_Importer:\n    settings: {device: false}\n", "utf-8"
    )
    result = run("validate", "-d", base, "-d", prod)
    assert_clean_error(
        result,
        f"{second}:4: apps.Legacy_Importer",
        f"also in {prod / 'apps.yaml'}:3",
    )


def test_baseline_twice_in_one_layer_names_both_files(tmp_path):
    base, prod = _layers(tmp_path, "version: 1\nunlisted: enforce\napps: {}\n")
    second = prod / "zz.yaml"
    second.write_text("version: 1\napps: {}\nunlisted: ignore\n", "utf-8")
    result = run("validate", "-d", base, "-d", prod)
    assert_clean_error(result, f"{second}:", f"also in {prod / 'apps.yaml'}:")


def test_same_app_in_two_layers_is_not_an_error(tmp_path):
    base, prod = _layers(
        tmp_path, "version: 1\napps:\n  Legacy_Importer:\n    settings: {device: true}\n"
    )
    result = run("validate", "-d", base, "-d", prod)
    assert result.exit_code == 0, result.output
    assert "in 2 file(s)" in result.stdout


def test_an_error_points_at_the_layer_that_declared_the_field(tmp_path):
    # ECA-OAUTH-006 is in the base's baseline; the org layer relaxes IP on an app without an
    # exception: the error must name the org file and its line, not the base's.
    base, prod = _layers(
        tmp_path,
        "version: 1\napps:\n  Mobile_Field_Service:\n    policies:\n      ip_relaxation: bypass\n",
    )
    result = run("validate", "-d", base, "-d", prod)
    line = _line(prod / "apps.yaml", "ip_relaxation")
    assert_clean_error(
        result, f"{prod / 'apps.yaml'}:{line}: apps.Mobile_Field_Service.policies.ip_relaxation"
    )


def test_a_cross_field_rule_spans_layers(tmp_path):
    # Base: Billing_Sync runs as billing.integration with client credentials on. The org layer
    # turns the admin side off: run_as (from the base file, at its line) is now an error.
    base, prod = _layers(
        tmp_path,
        "version: 1\napps:\n  Billing_Sync:\n    policies: {client_credentials: false}\n",
    )
    result = run("validate", "-d", base, "-d", prod)
    line = _line(base / "apps.yaml", "run_as: billing.integration")
    assert_clean_error(
        result,
        f"{base / 'apps.yaml'}:{line}: apps.Billing_Sync.policies.run_as",
        "run_as is set while policies.client_credentials is false",
    )


def test_the_same_folder_twice_is_refused(tmp_path):
    base, _ = _layers(tmp_path, "version: 1\napps: {}\n")
    assert_clean_error(run("validate", "-d", base, "-d", base), "given twice as -d")


def test_saved_plan_records_every_layer_and_notices_a_change_in_the_base(tmp_path, org):
    base, prod = _layers(
        tmp_path, "version: 1\napps:\n  Legacy_Importer:\n    settings: {device: true}\n"
    )
    plan_file = tmp_path / "plan.json"
    made = run("plan", "-o", org.target, "-d", base, "-d", prod, "--out", plan_file)
    assert made.exit_code == 0, made.output
    doc = json.loads(plan_file.read_text())
    base_name = f"{Path(str(base)).as_posix()}/apps.yaml"
    prod_name = f"{Path(str(prod)).as_posix()}/apps.yaml"
    assert list(doc["desired_file_digests"]) == [base_name, prod_name]
    # The same two layers in the other order are another desired state.
    swapped = run("validate", "-d", prod, "-d", base)
    assert swapped.exit_code == 0, swapped.output
    from reconciler.desired_state import load_desired

    assert load_desired([prod, base]).digest != doc["desired_digest"]
    assert load_desired([base, prod]).digest == doc["desired_digest"]
    # A change in the base layer only: applying the saved plan is refused, naming that file.
    base_file = base / "apps.yaml"
    base_file.write_text(base_file.read_text() + "\n# touched\n", encoding="utf-8")
    before = org.bytes()
    result = run("apply", plan_file, "-o", org.target, "-d", base, "-d", prod)
    assert result.exit_code == 1, result.output
    assert f"{base_name}: modified since the plan was made" in result.output
    assert org.bytes() == before


def test_saved_plan_applies_with_the_same_layers(tmp_path, org):
    base, prod = _layers(
        tmp_path, "version: 1\napps:\n  Legacy_Importer:\n    settings: {device: true}\n"
    )
    plan_file = tmp_path / "plan.json"
    made = run("plan", "-o", org.target, "-d", base, "-d", prod, "--out", plan_file)
    assert made.exit_code == 0, made.output
    result = run(
        "apply", plan_file, "-o", org.target, "-d", base, "-d", prod, "--max-changes", "100%"
    )
    assert result.exit_code == 0, result.output
    assert org.settings("Legacy_Importer")["isDeviceFlowEnabled"] is True
