"""Backups and rollback: what apply saves before writing, and undoing it field for field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .conftest import SHIPPED_DESIRED, policies_of, run, settings_of

YAML = """\
version: 1
baseline: []  # the mechanism under test, without baseline remedies
apps:
  Billing_Sync:
    settings:
      refresh_token_rotation: true
    policies:
      session_level: high_assurance
  Partner_Portal:
    policies:
      session_timeout_minutes: 60
      profiles: [Standard User, Partner Community User]
  Data_Warehouse_ETL:
    settings:
      client_credentials: false
    policies:
      client_credentials: false
"""


def _backup_of(result: Any) -> Path:
    match = re.search(r"^Backup: (\S+) \(undo with", result.stdout, re.M)
    assert match, result.output
    path = Path(match.group(1))
    assert path.is_file()
    return path


def _trimmed(value: Any) -> Any:
    """The org trims strings on every save (the emulator models it): compare trimmed."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {k: _trimmed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trimmed(v) for v in value]
    return value


def test_backup_is_written_before_writing_without_any_secret(org, desired, own_state_dir):
    doc = org.load()
    secrets = [
        value
        for components in doc["metadata"].values()
        for fields in components.values()
        for key, value in fields.items()
        if key in ("consumerKey", "consumerSecret", "certificate") and value
    ]
    assert len(secrets) >= 20  # the scan below could find them
    result = run("apply", "-o", org.target, "-d", desired(YAML), "--auto-approve")
    assert result.exit_code == 0, result.output
    path = _backup_of(result)
    assert path.parent == own_state_dir / "backups" / doc["org"]["id"]
    text = path.read_text()
    for secret in secrets:
        assert secret.strip()[:40] not in text
    assert "BEGIN CERTIFICATE" not in text
    backup = json.loads(text)
    assert backup["org_id"] == doc["org"]["id"]
    assert backup["instance_url"].startswith("https://127.0.0.1:")
    names = {(c["app"], c["side"]) for c in backup["components"]}
    assert names == {
        ("Billing_Sync", "settings"),
        ("Billing_Sync", "policies"),
        ("Partner_Portal", "policies"),
        ("Data_Warehouse_ETL", "settings"),
        ("Data_Warehouse_ETL", "policies"),
    }
    billing = next(
        c for c in backup["components"] if c["app"] == "Billing_Sync" and c["side"] == "settings"
    )
    expected = {
        k: v
        for k, v in settings_of(doc, "Billing_Sync").items()
        if k not in ("consumerKey", "consumerSecret", "certificate")
    }
    assert billing["fields"] == expected  # the before-copy, whole, minus secrets
    assert {
        "app": "Partner_Portal",
        "side": "policies",
        "field": "session_timeout_minutes",
        "component": "Partner_Portal_oauthPlcy",
        "before": 120,
        "after": 60,
    } in backup["changes"]
    assert len(backup["changes"]) == 6


def test_rollback_restores_the_org_field_for_field(org, desired):
    before = org.load()
    applied = run("apply", "-o", org.target, "-d", desired(YAML), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert org.load()["metadata"] != before["metadata"]
    backup = _backup_of(applied)
    undone = run("rollback", backup, "-o", org.target, "--auto-approve")
    assert undone.exit_code == 0, undone.output
    assert "Plan: 3 apps to change, 6 fields to change, 2 enabling a flow." in undone.stdout
    assert "Rollback complete: 3 applied, 0 failed, 0 not attempted." in undone.stdout
    assert _trimmed(org.load()["metadata"]) == _trimmed(before["metadata"])
    again = run("rollback", backup, "-o", org.target, "--auto-approve")
    assert again.exit_code == 0, again.output
    assert "Nothing to roll back." in again.stdout


def test_rollback_leaves_a_field_changed_since_and_says_so(org, desired):
    applied = run("apply", "-o", org.target, "-d", desired(YAML), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    backup = _backup_of(applied)

    def someone_edits(doc: dict[str, Any]) -> None:
        policies_of(doc, "Partner_Portal")["sessionTimeoutInMinutes"] = 45

    org.mutate(someone_edits)
    undone = run("rollback", backup, "-o", org.target, "--auto-approve")
    assert undone.exit_code == 0, undone.output
    assert (
        "Partner_Portal: policies.session_timeout_minutes is now 45: the apply set it to 60 "
        "(it was 120); someone changed it since, so the rollback leaves it as it is"
    ) in undone.stdout
    after = org.load()
    assert policies_of(after, "Partner_Portal")["sessionTimeoutInMinutes"] == 45
    # The app's other rolled-back field, and the other apps, did go back.
    assert policies_of(after, "Partner_Portal")["commaSeparatedProfile"] == "Standard User"
    assert policies_of(after, "Billing_Sync")["requiredSessionLevel"] == "STANDARD"


def test_rollback_names_the_baseline_control_it_breaks_and_proceeds(org):
    applied = run("apply", "-o", org.target, "-d", SHIPPED_DESIRED, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert settings_of(org.load(), "Legacy_Importer")["isClientCredentialsFlowEnabled"] is False
    undone = run("rollback", _backup_of(applied), "-o", org.target, "--auto-approve")
    assert undone.exit_code == 0, undone.output
    assert "This rollback re-enables what the baseline forbids (it proceeds):" in undone.stdout
    assert re.search(
        r"^  Legacy_Importer: settings\.client_credentials -> true violates ECA-OAUTH-001 ",
        undone.stdout,
        re.M,
    ), undone.stdout
    assert re.search(r"^\s+! settings\.client_credentials: false -> true", undone.stdout, re.M)
    doc = org.load()
    assert settings_of(doc, "Legacy_Importer")["isClientCredentialsFlowEnabled"] is True


def test_rollback_refuses_a_backup_of_another_org(org_file, org, desired):
    applied = run("apply", "-o", org.target, "-d", desired(YAML), "--auto-approve")
    backup = _backup_of(applied)

    def other_id(doc: dict[str, Any]) -> None:
        doc["org"]["id"] = "00D000000000002EAA"
        for user in doc["sobjects"].get("Organization", []):
            user["Id"] = "00D000000000002EAA"

    other = org_file(mutate=other_id, name="other.json")
    before = other.bytes()
    result = run("rollback", backup, "-o", other.target, "--auto-approve")
    assert result.exit_code == 1, result.output
    assert "was made for org 00D000000000001EAA" in result.stderr
    assert other.bytes() == before


def test_rollback_of_a_damaged_backup_is_a_clean_error(org, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "backup_version": "1",
                "org_id": "00D000000000001EAA",
                "instance_url": "https://x",
                "created_at": "2026-01-01T00:00:00+00:00",
                "baseline": [],
                "changes": [
                    {
                        "app": "A",
                        "side": "settings",
                        "field": "client_credentials",
                        "component": "A_g",
                        "before": "yes",
                        "after": True,
                    }
                ],
            }
        )
    )
    result = run("rollback", bad, "-o", org.target, "--auto-approve")
    assert result.exit_code == 1
    assert f"{bad}: changes[0].before: allowed: true or false" in result.stderr
    assert "Traceback" not in result.output


def test_no_write_happens_before_the_backup_is_on_disk(org, desired, own_state_dir):
    """Deterministic (no sleep, no signal timing): the backup folder cannot be created, so
    writing the backup fails. Were the backup written after the first updateMetadata, the org
    would already hold a planned value; it must hold none."""
    before = org.bytes()
    own_state_dir.mkdir(parents=True, exist_ok=True)
    (own_state_dir / "backups").write_text("a file where the backups folder should be")
    result = run("apply", "-o", org.target, "-d", desired(YAML), "--auto-approve")
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert "backups" in result.output, result.output
    assert org.bytes() == before


def test_a_backup_that_cannot_be_written_is_a_named_outcome(org, desired, own_state_dir, tmp_path):
    """Issue 16: not "internal error (ReconcilerError)". The backup folder cannot be created
    (a file stands where it should be): the run says the backup could not be written and why,
    attempts no app, writes nothing, exits 1, and the evidence record says the same."""
    before = org.bytes()
    own_state_dir.mkdir(parents=True, exist_ok=True)
    blocker = own_state_dir / "backups"
    blocker.write_text("a file where the backups folder should be")
    evidence = tmp_path / "ev"
    result = run(
        "apply", "-o", org.target, "-d", desired(YAML), "--auto-approve", "--evidence-dir", evidence
    )
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert "Traceback" not in result.output
    stopped = re.search(r"^Stopped: (.*)$", result.stdout, re.M)
    assert stopped, result.stdout
    assert stopped.group(1).startswith(
        f"the backup could not be written, so nothing was written: cannot write {blocker}/"
    ), stopped.group(1)
    assert stopped.group(1).endswith(": Not a directory"), stopped.group(1)
    assert "Apply incomplete: 0 applied, 0 failed, 3 not attempted." in result.stdout
    assert result.stdout.count("not attempted: the backup could not be written") == 5
    assert org.bytes() == before
    [record] = [json.loads(p.read_text()) for p in evidence.glob("*.json")]
    assert record["result"]["ok"] is False
    assert record["result"]["error"] == stopped.group(1)
    assert record["result"]["backup"] is None
    assert {a["status"] for a in record["result"]["apps"]} == {"not attempted"}
    assert all(a["written"] == [] for a in record["result"]["apps"])


REFRESH_YAML = """\
version: 1
baseline: []
apps:
  Reporting_JWT:
    policies:
      refresh_token: {policy: specific_lifetime, period: 10, unit: days}
"""
REFRESH_WIRE = ("refreshTokenPolicyType", "refreshTokenValidityPeriod", "refreshTokenValidityUnit")


def _refresh(doc: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(policies_of(doc, "Reporting_JWT").get(key) for key in REFRESH_WIRE)


def test_rollback_restores_a_coupled_setting_all_or_none(org, desired):
    """Issue 16: policy, period and unit are one setting. Someone changed only the period since
    the apply: restoring the other two would leave `Zero` with a period of 5 and no unit, a
    setting nobody chose, so none of the three goes back, and the plan says why."""
    assert _refresh(org.load()) == ("Zero", None, None)
    applied = run("apply", "-o", org.target, "-d", desired(REFRESH_YAML), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert _refresh(org.load()) == ("SpecificLifetime", 10, "Days")

    def someone_edits(doc: dict[str, Any]) -> None:
        policies_of(doc, "Reporting_JWT")["refreshTokenValidityPeriod"] = 5

    org.mutate(someone_edits)
    undone = run("rollback", _backup_of(applied), "-o", org.target, "--auto-approve")
    assert undone.exit_code == 0, undone.output
    assert _refresh(org.load()) == ("SpecificLifetime", 5, "Days")
    assert (
        "Reporting_JWT: policies.refresh_token.policy, policies.refresh_token.period and "
        "policies.refresh_token.unit are one setting (refresh_token) and "
        "policies.refresh_token.period changed since the apply, so the rollback restores none "
        "of them"
    ) in undone.stdout, undone.stdout
    assert "Nothing to roll back." in undone.stdout


def test_rollback_restores_an_unchanged_coupled_setting_whole(org, desired):
    applied = run("apply", "-o", org.target, "-d", desired(REFRESH_YAML), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    undone = run("rollback", _backup_of(applied), "-o", org.target, "--auto-approve")
    assert undone.exit_code == 0, undone.output
    assert "Plan: 1 app to change, 3 fields to change." in undone.stdout, undone.stdout
    assert _refresh(org.load()) == ("Zero", None, None)


PERIOD_ONLY_YAML = """\
version: 1
baseline: []
apps:
  Reporting_JWT:
    policies:
      refresh_token: {policy: specific_lifetime, period: 20, unit: days}
"""


def test_a_coupled_field_the_apply_did_not_change_still_blocks_its_setting(org, desired):
    """The apply changed only the period (policy and unit already held what the YAML says);
    someone then changed the unit. The backup's copy of the component shows the unit as the
    apply left it, so the rollback sees it moved and restores none of the setting."""
    first = run("apply", "-o", org.target, "-d", desired(REFRESH_YAML), "--auto-approve")
    assert first.exit_code == 0, first.output
    applied = run("apply", "-o", org.target, "-d", desired(PERIOD_ONLY_YAML), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert _refresh(org.load()) == ("SpecificLifetime", 20, "Days")

    def someone_edits(doc: dict[str, Any]) -> None:
        policies_of(doc, "Reporting_JWT")["refreshTokenValidityUnit"] = "Months"

    org.mutate(someone_edits)
    undone = run("rollback", _backup_of(applied), "-o", org.target, "--auto-approve")
    assert undone.exit_code == 0, undone.output
    assert _refresh(org.load()) == ("SpecificLifetime", 20, "Months")
    assert "policies.refresh_token.unit changed since the apply" in undone.stdout, undone.stdout
