"""Done-when 7: `export` round-trips: its YAML validates and plans to `No changes.`"""

from __future__ import annotations

import yaml

from .conftest import COMPONENTS, policies_of, run


def test_export_round_trip_validates_and_plans_no_changes(org, desired):
    before = org.bytes()
    exported = run("export", "-o", org.target)
    assert exported.exit_code == 0, exported.output
    assert org.bytes() == before, "export is read-only"
    text = exported.stdout
    assert text.startswith("# Exported by `reconciler export` from org 00D000000000001EAA.")
    doc = yaml.safe_load(text)
    assert doc["version"] == 1
    assert sorted(doc["apps"]) == sorted(COMPONENTS)  # every app of the org
    # run_as only where the flow is on; never next to client_credentials: false.
    for name, body in doc["apps"].items():
        policies = body.get("policies", {})
        if policies.get("client_credentials") is not True:
            assert "run_as" not in policies, name
    assert doc["apps"]["Billing_Sync"]["policies"]["run_as"] == "billing.integration@acme.example"
    assert doc["apps"]["Partner_Portal"]["settings"]["callback_url"] == [
        "https://partners.acme.example/oauth/callback",
        "https://partners-staging.acme.example/oauth/callback",
    ]

    path = desired(text, name="exported.yaml")
    valid = run("validate", "-d", path)
    assert valid.exit_code == 0, valid.output
    assert valid.stdout.startswith(f"Valid: {len(doc['apps'])} app(s) in 1 file(s)")
    plan = run("plan", "-o", org.target, "-d", path, "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.strip().splitlines()[-1] == "No changes."


def test_export_omits_run_as_where_flow_is_off_even_if_org_has_one(org_file, desired):
    """Data_Warehouse_ETL with the flow off but a leftover run-as user in the org."""

    def flow_off(doc):
        policies_of(doc, "Data_Warehouse_ETL")["isClientCredentialsFlowEnabled"] = False
        assert policies_of(doc, "Data_Warehouse_ETL")["clientCredentialsFlowUser"]

    org = org_file(mutate=flow_off)
    exported = run("export", "-o", org.target)
    assert exported.exit_code == 0, exported.output
    etl = yaml.safe_load(exported.stdout)["apps"]["Data_Warehouse_ETL"]["policies"]
    assert etl["client_credentials"] is False
    assert "run_as" not in etl
    assert "etl.admin@acme.example" not in exported.stdout
    path = desired(exported.stdout, name="exported.yaml")
    assert run("validate", "-d", path).exit_code == 0
    plan = run("plan", "-o", org.target, "-d", path, "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output


def test_export_app_option_limits_output(org):
    result = run("export", "-o", org.target, "--app", "Reporting_JWT", "--app", "Legacy_Importer")
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.stdout)
    assert sorted(doc["apps"]) == ["Legacy_Importer", "Reporting_JWT"]
    assert "Billing_Sync" not in result.stdout
    assert doc["apps"]["Reporting_JWT"]["policies"]["permission_sets"] == [
        "Billing_Integration",
        "Data_Export_All",
    ]
