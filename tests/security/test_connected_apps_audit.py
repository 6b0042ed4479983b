"""Connected Apps in `audit` (issue 18), end to end: the real CLI against the HTTPS emulator.

The demo org's Legacy_CRM_Sync has client credentials on, runs as an administrator, relaxes IP
restrictions and relies on a shared secret: before issue 18 `audit` called the org compliant
beside it. Warehouse_Loader is the integration that deserves an exception.
"""

from __future__ import annotations

import json

from .conftest import SOON, VALID, run

LEGACY = "ConnectedApp:Legacy_CRM_Sync"
LOADER = "ConnectedApp:Warehouse_Loader"


def _exception(expires: str) -> str:
    return (
        "version: 1\nbaseline: [ECA-OAUTH-001]\nunlisted: report\nconnected_apps:\n"
        "  Warehouse_Loader:\n    exceptions:\n      - control: ECA-OAUTH-001\n"
        "        justification: nightly warehouse load, no user present\n"
        "        owner: data-platform@acme.example\n"
        f"        expires: {expires}\n"
    )


def test_admin_run_as_connected_app_is_a_high_risk_violation_in_every_format(org):
    text = run("audit", "-o", org.target)
    assert text.exit_code == 3, text.output
    assert "NOT compliant" in text.stdout
    lines = [ln for ln in text.stdout.splitlines() if LEGACY in ln]
    assert any("ECA-OAUTH-001" in ln and "connected.client_credentials" in ln for ln in lines)

    doc = json.loads(run("audit", "-o", org.target, "--format", "json").stdout)
    assert (
        LEGACY in doc["apps_checked"] and "ConnectedApp:Field_Survey_Mobile" in doc["apps_checked"]
    )
    mine = [f for f in doc["findings"] if f["app"] == LEGACY]
    assert [(f["control"], f["path"], f["value"]) for f in mine] == [
        ("ECA-OAUTH-001", "connected.client_credentials", True)
    ]
    risk = doc["risks"][LEGACY]
    assert risk["level"] == "high"
    factors = " ".join(risk["factors"])
    assert "admin@acme.example has" in factors and "Modify All Data" in factors
    assert "IP restrictions are relaxed (BYPASS)" in factors
    assert doc["usage"][LEGACY]["status"] == "in_use"
    assert doc["usage"][LEGACY]["attributed_by"] == "application"
    # The app with the flow off is checked and has no finding.
    assert not [f for f in doc["findings"] if f["app"] == "ConnectedApp:Field_Survey_Mobile"]

    sarif = json.loads(run("audit", "-o", org.target, "--format", "sarif").stdout)
    results = sarif["runs"][0]["results"]
    legacy = [r for r in results if LEGACY in r["message"]["text"]]
    assert legacy and all(r["ruleId"] == "ECA-OAUTH-001" for r in legacy)


def test_an_exception_with_expiry_accepts_a_connected_app(org, write_yaml):
    desired = write_yaml(_exception(VALID))
    doc = json.loads(run("audit", "-o", org.target, "-d", desired, "--format", "json").stdout)
    loader = [f for f in doc["findings"] if f["app"] == LOADER]
    assert loader and all(f["accepted"] and f["listed"] for f in loader)
    assert loader[0]["exception"]["owner"] == "data-platform@acme.example"
    legacy = [f for f in doc["findings"] if f["app"] == LEGACY]
    assert legacy and not any(f["accepted"] for f in legacy)  # unlisted: still a violation


def test_an_expired_exception_for_a_connected_app_is_refused_with_its_yaml_path(org, write_yaml):
    import datetime as dt

    expired = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    desired = write_yaml(_exception(expired))
    result = run("audit", "-o", org.target, "-d", desired)
    assert result.exit_code != 0 and result.exit_code != 3, result.output
    assert "connected_apps.Warehouse_Loader.exceptions" in result.output
    assert "expired" in result.output


def test_an_exception_expiring_soon_warns(org, write_yaml):
    desired = write_yaml(_exception(SOON))
    result = run("audit", "-o", org.target, "-d", desired)
    assert "connected_apps.Warehouse_Loader.exceptions" in result.output
    assert "expires in" in result.output


def test_bad_connected_app_yaml_names_file_line_key_and_what_is_allowed(org, write_yaml):
    desired = write_yaml(
        "version: 1\nconnected_apps:\n  Legacy_CRM_Sync:\n    client_credential: false\n"
        "    pkce_required: maybe\n"
    )
    result = run("validate", "-d", desired)
    assert result.exit_code != 0
    out = result.output
    assert "apps.yaml:4" in out and "connected_apps.Legacy_CRM_Sync.client_credential" in out
    assert "did you mean 'client_credentials'" in out
    assert "apps.yaml:5" in out and "true or false" in out
