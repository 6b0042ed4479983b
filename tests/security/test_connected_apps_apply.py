"""Declarative management of Connected Apps (issue 18): `connected_apps:` planned and applied
through the same read-modify-write, verified, backed-up apply as ECAs; an exception is honoured
for another Connected App. The real CLI against the HTTPS emulator."""

from __future__ import annotations

import json

from .conftest import VALID, run

DESIRED = f"""\
version: 1
baseline: [ECA-OAUTH-001]
unlisted: ignore
connected_apps:
  Legacy_CRM_Sync:
    pkce_required: true
  Warehouse_Loader:
    exceptions:
      - control: ECA-OAUTH-001
        justification: nightly warehouse load, no user present
        owner: data-platform@acme.example
        expires: {VALID}
"""


def _stored(org, name):
    return org.load()["metadata"]["ConnectedApp"][name]


def test_apply_turns_client_credentials_off_and_honours_an_exception(
    org, write_yaml, tmp_path, own_state_dir
):
    desired = write_yaml(DESIRED)
    before = {n: _stored(org, n) for n in ("Legacy_CRM_Sync", "Warehouse_Loader")}
    saved = tmp_path / "plan.json"
    plan = run("plan", "-o", org.target, "-d", desired, "--out", saved)
    assert plan.exit_code == 0, plan.output
    out = plan.stdout
    assert "ConnectedApp:Legacy_CRM_Sync" in out
    lines = [ln.strip() for ln in out.splitlines()]
    assert any(
        ln.startswith("~ connected.client_credentials:") and ln.endswith("# baseline ECA-OAUTH-001")
        for ln in lines
    ), out
    assert any(ln.startswith("~ connected.pkce_required:") for ln in lines), out
    changes = json.loads(saved.read_text())["changes"]
    assert {(c["app"], c["component"], c["field"], c["after"]) for c in changes} == {
        ("ConnectedApp:Legacy_CRM_Sync", "connected", "client_credentials", False),
        ("ConnectedApp:Legacy_CRM_Sync", "connected", "pkce_required", True),
    }

    backups = own_state_dir / "backups"
    applied = run("apply", "-o", org.target, "-d", desired, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    legacy = _stored(org, "Legacy_CRM_Sync")
    assert legacy["oauthConfig"]["isClientCredentialEnabled"] is False
    assert legacy["oauthConfig"]["isPkceRequired"] is True
    # Read-modify-write of the whole component: nothing else moved, secrets kept.
    for key in ("consumerKey", "consumerSecret", "callbackUrl", "oauthClientCredentialUser"):
        assert legacy["oauthConfig"][key] == before["Legacy_CRM_Sync"]["oauthConfig"][key], key
    assert legacy["oauthPolicy"] == before["Legacy_CRM_Sync"]["oauthPolicy"]
    assert _stored(org, "Warehouse_Loader") == before["Warehouse_Loader"]  # the exception

    [backup] = list(backups.rglob("*.json"))
    text = backup.read_text()
    assert "ConnectedApp" in text and "isClientCredentialEnabled" in text
    for key in ("consumerKey", "consumerSecret"):
        assert before["Legacy_CRM_Sync"]["oauthConfig"][key] not in text, key

    again = run("plan", "-o", org.target, "-d", desired, "--detailed-exitcode")
    assert again.exit_code == 0, again.output

    audit = run("audit", "-o", org.target, "-d", desired, "--format", "json")
    assert audit.exit_code == 0, audit.output
    doc = json.loads(audit.stdout)
    assert [(f["app"], f["accepted"]) for f in doc["findings"]] == [
        ("ConnectedApp:Warehouse_Loader", True)
    ]

    rollback = run("rollback", str(backup), "-o", org.target, "--auto-approve")
    assert rollback.exit_code == 0, rollback.output
    assert _stored(org, "Legacy_CRM_Sync")["oauthConfig"]["isClientCredentialEnabled"] is True


def test_declaring_client_credentials_without_a_run_as_user_is_refused(org, write_yaml):
    desired = write_yaml(
        "version: 1\nbaseline: []\nunlisted: ignore\nconnected_apps:\n"
        "  Field_Survey_Mobile:\n    client_credentials: true\n"
    )
    plan = run("plan", "-o", org.target, "-d", desired)
    assert plan.exit_code != 0
    assert "no run-as user is set" in plan.output


def test_a_saved_plan_applies_a_connected_app_change(org, write_yaml, tmp_path, own_state_dir):
    desired = write_yaml(DESIRED)
    saved = tmp_path / "plan.json"
    assert run("plan", "-o", org.target, "-d", desired, "--out", saved).exit_code == 0
    applied = run("apply", str(saved), "-o", org.target, "-d", desired)
    assert applied.exit_code == 0, applied.output
    assert _stored(org, "Legacy_CRM_Sync")["oauthConfig"]["isClientCredentialEnabled"] is False
