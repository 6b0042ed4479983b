"""Audit: the live org's posture against the baseline. Read-only, like plan, but it judges what
*is* rather than what apply would leave, and covers every app the baseline reaches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .baseline import findings, selected
from .controls import DEFAULT_BASELINE
from .desired_state import BaselineConfig, DesiredState
from .live_state import read_live
from .model import Finding, LiveApp, RiskContext
from .org.interface import Org
from .risk import assess, client_credentials_on
from .risk_lookup import lookup_run_as


@dataclass
class AuditReport:
    org_id: str
    instance_url: str
    created_at: str
    controls: list[str]
    apps_checked: list[str]
    findings: list[Finding]
    risks: dict[str, RiskContext]
    notes: list[str] = field(default_factory=list)
    #: Problems with the report itself (e.g. a refused run-as lookup left some risk unknown).
    warnings: list[str] = field(default_factory=list)
    #: Where unlisted apps' findings are located in SARIF: the file that sets the baseline.
    baseline_file: str | None = None
    baseline_line: int = 0

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if not f.accepted]

    @property
    def compliant(self) -> bool:
        return not self.violations


def run_audit(org: Org, desired: DesiredState | None) -> AuditReport:
    config = desired.baseline if desired else BaselineConfig(DEFAULT_BASELINE)
    declared = desired.apps if desired else {}
    controls = selected(config)
    live = read_live(org)
    checked: list[str] = []
    found: list[Finding] = []
    notes: list[str] = []
    targets: dict[str, tuple[dict[str, Any], LiveApp | None]] = {}
    for name, app in sorted(live.apps.items()):
        wanted = declared.get(name)
        if wanted is None and config.unlisted == "ignore":
            continue
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
    # Only apps with client credentials on are graded, so only their run-as users are asked.
    on = [values for values, _ in targets.values() if client_credentials_on(values)]
    risks, warnings = assess(targets, lookup_run_as(org, (v.get("policies.run_as") for v in on)))
    baseline_file = config.file or (desired.files[0] if desired and desired.files else None)
    return AuditReport(
        org_id=live.org_id,
        instance_url=org.instance_url,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        controls=list(config.controls),
        apps_checked=checked,
        findings=found,
        risks=risks,
        notes=notes,
        warnings=warnings,
        baseline_file=baseline_file,
        baseline_line=config.line or 1,
    )
