"""Done-when 9: an org with "consumer secret access via the Metadata API" turned off.

The emulator models both possible behaviours: `fault` (the settings type is refused) and `omit`
(it is returned without consumerKey/consumerSecret).
"""

from __future__ import annotations

import pytest

from .conftest import (
    SHIPPED_DESIRED,
    assert_clean_error,
    assert_shipped_summary,
    policies_of,
    run,
    settings_of,
)

POLICIES_ONLY = """\
version: 1
baseline: []  # the mechanism under test, without baseline remedies
apps:
  Data_Warehouse_ETL:
    policies:
      ip_relaxation: enforce
  Billing_Sync:
    policies:
      ip_relaxation: enforce
"""


def _secrets_off(behaviour):
    def mutate(doc):
        doc["org"]["consumer_secret_api_access"] = False
        doc["org"]["secret_access_off_behaviour"] = behaviour

    return mutate


@pytest.fixture
def fault_org(org_file):
    return org_file(mutate=_secrets_off("fault"))


@pytest.fixture
def omit_org(org_file):
    return org_file(mutate=_secrets_off("omit"))


def test_fault_policies_only_yaml_plans_and_notes_unreadable_settings(fault_org, desired):
    path = desired(POLICIES_ONLY)
    result = run("plan", "-o", fault_org.target, "-d", path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Data_Warehouse_ETL: the settings side cannot be read from this org" in out
    assert "Billing_Sync: the settings side cannot be read from this org" in out
    assert '~ policies.ip_relaxation: "bypass" -> "enforce"' in out
    assert out.strip().splitlines()[-1] == "Plan: 1 app to change, 1 field to change."


def test_fault_policies_only_yaml_applies_policies(fault_org, desired):
    path = desired(POLICIES_ONLY)
    before = fault_org.load()
    result = run("apply", "-o", fault_org.target, "-d", path, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Data_Warehouse_ETL: applied" in result.stdout
    after = fault_org.load()
    assert policies_of(after, "Data_Warehouse_ETL")["ipRelaxationPolicyType"] == "Enforce"
    assert settings_of(after, "Data_Warehouse_ETL") == settings_of(before, "Data_Warehouse_ETL")


def test_fault_yaml_declaring_settings_is_an_error_but_policies_still_planned(fault_org):
    before = fault_org.bytes()
    result = run("plan", "-o", fault_org.target, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    out = result.stdout
    assert "Errors:" in out
    assert "Legacy_Importer: the settings side cannot be read from this org" in out
    assert "remove `settings:` for this app" in out
    # Policies are still read and planned.
    assert "~ policies.client_credentials: true -> false" in out
    assert "settings.client_credentials" not in out
    assert fault_org.bytes() == before
    applied = run("apply", "-o", fault_org.target, "-d", SHIPPED_DESIRED, "--auto-approve")
    assert_clean_error(applied, "nothing was written")
    assert fault_org.bytes() == before


def test_omit_plans_normally(omit_org):
    result = run("plan", "-o", omit_org.target, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cannot be read" not in out
    assert "~ settings.client_credentials: true -> false" in out
    assert_shipped_summary(out)


def test_omit_apply_keeps_the_secrets_it_never_saw(omit_org):
    before = omit_org.load()
    result = run("apply", "-o", omit_org.target, "-d", SHIPPED_DESIRED, "--auto-approve")
    assert result.exit_code == 0, result.output
    after = omit_org.load()
    for app in ("Legacy_Importer", "Data_Warehouse_ETL"):
        assert settings_of(after, app)["isClientCredentialsFlowEnabled"] is False
        for key in ("consumerKey", "consumerSecret"):
            assert settings_of(after, app)[key] == settings_of(before, app)[key], (app, key)
