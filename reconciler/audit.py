"""Audit: the live org's posture against the baseline. Read-only, like plan, but it judges what
*is* rather than what apply would leave, and covers every app the baseline reaches."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .baseline import findings, selected
from .controls import APPROVAL_BYPASS, DEFAULT_BASELINE
from .desired_model import BaselineConfig, DesiredState
from .model import ApprovalLookup, AuditReport, Finding, LiveApp, LiveState, Lookups
from .risk import assess, client_credentials_on, run_as_of
from .usage import (
    grade_usage,
    unused_exception_findings,
    unused_exception_note,
    unused_exceptions,
    usage_warning,
)

#: ECA reference §15: an org-wide idle refresh-token limit can be in force unseen.
IDLE_REFRESH_CONTROL = "ECA-PARTNER-003"
IDLE_REFRESH_CAVEAT = (
    f"{IDLE_REFRESH_CONTROL}: the org-wide 'Limit the Idle Refresh Token TTL' setting can "
    "enforce a 30-day idle limit without appearing in an app's metadata; check Setup before "
    "treating these findings as real"
)


def approval_findings(
    lookup: ApprovalLookup,
) -> tuple[list[Finding], list[str], list[str]]:
    """(findings, notes, warnings) of the approval-bypass control: a finding per grant held
    by an active user not known to be an administrator (an unknown admin status is a finding:
    not assumed safe); administrators and inactive users are notes."""
    found: list[Finding] = []
    notes: list[str] = []
    for holder in lookup.holders:
        for label, via in sorted(holder.grants.items()):
            where = ", ".join(sorted(set(via)))
            if holder.admin or holder.active is False:
                who = "administrator" if holder.admin else "inactive user"
                notes.append(f"{APPROVAL_BYPASS}: {who} {holder.username} holds {label} ({where})")
                continue
            found.append(
                Finding(
                    app=f"User:{holder.username}",
                    control=APPROVAL_BYPASS,
                    path=f"permission.{label}",
                    value=where,
                    listed=False,
                )
            )
    notes += [
        f"{APPROVAL_BYPASS}: {label} not checked: the org's PermissionSet describe has no field "
        "with that label"
        for label in lookup.missing
    ]
    warnings = [
        f"{APPROVAL_BYPASS} look-up failed: {f.query}: {f.error}"
        for f in lookup.failures
        if not f.skipped
    ]
    return found, notes, warnings


def _config(desired: DesiredState | None) -> BaselineConfig:
    return desired.baseline if desired else BaselineConfig(DEFAULT_BASELINE)


def audited_apps(live: LiveState, desired: DesiredState | None) -> dict[str, LiveApp]:
    """The org apps the baseline reaches: all, or only the declared ones (`unlisted: ignore`)."""
    declared = desired.apps if desired else {}
    ignore = _config(desired).unlisted == "ignore"
    return {n: a for n, a in sorted(live.apps.items()) if n in declared or not ignore}


def run_as_to_look_up(live: LiveState, desired: DesiredState | None) -> set[str]:
    """Run-as users the audit grades: only apps with client credentials on are graded."""
    names = set()
    for app in audited_apps(live, desired).values():
        values = app.values()
        if client_credentials_on(values) and run_as_of(values):
            names.add(str(run_as_of(values)))
    return names


def build_audit(
    desired: DesiredState | None,
    live: LiveState,
    lookups: Lookups,
    instance_url: str,
) -> AuditReport:
    """Judge what the org holds now. Pure: the live state and the look-ups (run-as users named
    by `run_as_to_look_up`, and their client-credentials logins) were read beforehand by the
    caller. Usage does not change a finding of ECA-OAUTH-001 (a flow in use is still a
    violation); it is reported beside it, and an exception it shows unused is reported."""
    config = _config(desired)
    declared: Mapping[str, Any] = desired.apps if desired else {}
    controls = selected(config)
    checked: list[str] = []
    found: list[Finding] = []
    notes: list[str] = []
    targets: dict[str, tuple[dict[str, Any], LiveApp | None]] = {}
    for name, app in audited_apps(live, desired).items():
        wanted = declared.get(name)
        checked.append(name)
        values = app.values()
        found += findings(name, values, controls, wanted)
        targets[name] = (values, app)
        if app.settings_unreadable:
            notes.append(f"{name}: settings side unreadable; settings controls not checked")
    notes += [
        f"{name}: declared in the desired state but not found in the org"
        for name in sorted(set(declared) - set(live.apps))
    ]
    risks, warnings = assess(targets, lookups.run_as)
    usage = {}
    unused: dict[str, list[str]] = {}
    if lookups.usage is not None:
        on = {n: v for n, (v, _) in targets.items() if client_credentials_on(v)}
        usage = grade_usage(on, lookups.usage, live.apps.keys())
        for name, graded in usage.items():
            wanted = declared.get(name)
            entries = unused_exceptions(graded, wanted)
            if entries:
                unused[name] = [e.control for e in entries]
                notes += [f"{name}: {unused_exception_note(e.control, graded)}" for e in entries]
            found += unused_exception_findings(name, graded, wanted, controls)
        warning = usage_warning(lookups.usage, usage)
        if warning:
            warnings.append(warning)
    if lookups.approval is not None and APPROVAL_BYPASS in config.controls:
        more, approval_notes, approval_warnings = approval_findings(lookups.approval)
        found += more
        notes += approval_notes
        warnings += approval_warnings
    if any(f.control == IDLE_REFRESH_CONTROL for f in found):
        notes.append(IDLE_REFRESH_CAVEAT)
    baseline_file = config.file or (desired.files[0] if desired and desired.files else None)
    return AuditReport(
        org_id=live.org_id,
        instance_url=instance_url,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        controls=list(config.controls),
        apps_checked=checked,
        findings=found,
        risks=risks,
        notes=notes,
        warnings=warnings,
        baseline_file=baseline_file,
        baseline_line=config.line or 1,
        usage=usage,
        unused_exceptions=unused,
    )
