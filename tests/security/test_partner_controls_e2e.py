"""The partner controls (issue 18), selected in the baseline: audit reports their fields on an
ECA and on a Connected App, apply fixes them, a re-audit is clean. Real CLI, HTTPS emulator."""

from __future__ import annotations

import json

from .conftest import run

DESIRED = """\
version: 1
baseline: [ECA-PARTNER-002, ECA-PARTNER-003]
unlisted: ignore
apps:
  Billing_Sync: {}
connected_apps:
  Legacy_CRM_Sync: {}
"""


def _findings(org, desired):
    result = run("audit", "-o", org.target, "-d", desired, "--format", "json")
    doc = json.loads(result.stdout)
    return result, doc, {(f["app"], f["control"], f["path"]) for f in doc["findings"]}


def test_selected_partner_controls_report_and_fix_their_fields(org, write_yaml, own_state_dir):
    desired = write_yaml(DESIRED)
    before, doc, found = _findings(org, desired)
    assert before.exit_code == 3, before.output
    assert ("Billing_Sync", "ECA-PARTNER-002", "settings.refresh_token_rotation") in found
    assert ("ConnectedApp:Legacy_CRM_Sync", "ECA-PARTNER-003", "connected.refresh_token") in found
    assert any("Limit the Idle Refresh Token TTL" in n for n in doc["notes"])  # §15 caveat

    applied = run("apply", "-o", org.target, "-d", desired, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    stored = org.load()["metadata"]
    assert (
        stored["ConnectedApp"]["Legacy_CRM_Sync"]["oauthPolicy"]["refreshTokenPolicy"]
        == "specific_inactivity:30:DAYS"
    )
    assert org.settings("Billing_Sync")["isRefreshTokenRotationEnabled"] is True

    after, _, found = _findings(org, desired)
    assert after.exit_code == 0, after.output
    assert found == set()


def test_partner_controls_are_off_by_default(org):
    doc = json.loads(run("audit", "-o", org.target, "--format", "json").stdout)
    assert doc["controls"] == ["ECA-OAUTH-001"]
    assert not [f for f in doc["findings"] if f["control"].startswith("ECA-PARTNER")]
