"""Done-when 1: `plan` on the shipped desired/ against the demo org; read-only."""

from __future__ import annotations

import json
import re

from .conftest import SHIPPED_DESIRED, assert_shipped_summary, run

ORG_ID = "00D000000000001EAA"


def test_plan_text_shows_real_plan_and_is_read_only(org):
    before = org.bytes()
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Org {ORG_ID} at https://127.0.0.1:" in out
    # Per-app headers for exactly the apps that drift in the demo org.
    assert "# Data_Warehouse_ETL will be updated in place" in out
    assert "~ app Data_Warehouse_ETL {" in out
    assert "# Legacy_Importer will be updated in place" in out
    assert "Billing_Sync will be updated" not in out
    # Field lines `path: before -> after`.
    assert re.search(r"^\s+~ settings\.client_credentials: true -> false$", out, re.M)
    assert re.search(r'^\s+~ policies\.ip_relaxation: "bypass" -> "enforce"$', out, re.M)
    assert re.search(r"^\s+~ policies\.refresh_token\.period: \(unset\) -> 90$", out, re.M)
    last = out.strip().splitlines()[-1]
    assert last.startswith("Plan:"), last
    assert_shipped_summary(out)
    assert org.bytes() == before, "plan must not write to the org"


def test_plan_detailed_exitcode_two_with_changes(org):
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "Plan:" in result.stdout


def test_plan_json_document(org):
    before = org.bytes()
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # exactly one JSON object, nothing else on stdout
    assert isinstance(doc, dict)
    assert doc["format_version"] == "1"
    assert doc["org_id"] == ORG_ID
    changes = doc["changes"]
    assert all({"app", "component", "field", "before", "after"} <= set(c) for c in changes)
    assert {
        "app": "Legacy_Importer",
        "component": "settings",
        "field": "client_credentials",
        "before": True,
        "after": False,
    }.items() <= next(
        c for c in changes if c["app"] == "Legacy_Importer" and c["field"] == "client_credentials"
    ).items()
    etl = {
        (c["component"], c["field"]): (c["before"], c["after"])
        for c in changes
        if c["app"] == "Data_Warehouse_ETL"
    }
    assert etl[("policies", "client_credentials")] == (True, False)
    assert etl[("policies", "refresh_token.period")] == (None, 90)
    assert len(changes) >= 7
    assert {c["app"] for c in changes} == {"Data_Warehouse_ETL", "Legacy_Importer"}
    assert doc["summary"]["apps_to_change"] == 2
    assert doc["summary"]["fields_to_change"] == len(changes)
    assert org.bytes() == before


def test_plan_markdown(org):
    before = org.bytes()
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--format", "markdown")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"### reconciler plan for org `{ORG_ID}`")
    assert re.search(r"<summary>Plan: 2 apps to change, \d+ fields to change\.</summary>", out)
    assert "| `Legacy_Importer` | `settings.client_credentials` | true | false |" in out
    assert org.bytes() == before


def test_plan_after_apply_says_no_changes_and_detailed_exitcode_zero(org):
    applied = run("apply", "-o", org.target, "-d", SHIPPED_DESIRED, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "No changes."
