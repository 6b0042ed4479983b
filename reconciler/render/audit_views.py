"""Views of an AuditReport: text for people, JSON for scripts. SARIF is in sarif_view.py.

In the text view every org or YAML string goes through `printable`/`show` (see values.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict

from .. import __version__
from ..controls import BY_ID
from ..display import plural, printable, show
from ..model import LEVEL_ORDER, AuditReport
from .text_view import describe_exceptions, describe_risk, describe_usage


def render_audit_text(report: AuditReport) -> str:
    violations = report.violations
    accepted = [f for f in report.findings if f.accepted]
    out = [f"Audit of org {printable(report.org_id)} at {printable(report.instance_url)}", ""]
    verdict = "compliant" if report.compliant else "NOT compliant"
    out.append(
        f"Summary: {verdict}; {plural(len(report.apps_checked), 'app')} checked against "
        f"{printable(', '.join(report.controls))}; {plural(len(violations), 'violation')}, "
        f"{plural(len({(f.app, f.control) for f in accepted}), 'exception')} in force."
    )
    out.append("")
    if report.risks:
        out.append("Client credentials enabled (highest risk first):")
        for name, risk in sorted(
            report.risks.items(),
            key=lambda i: (LEVEL_ORDER.get(i[1].level, len(LEVEL_ORDER)), i[0]),
        ):
            out += describe_risk(name, risk)
        out.append("")
    if report.usage:
        out.append("Client-credentials usage (LoginHistory):")
        out += describe_usage(sorted(report.usage.items()), report.created_at)
        out.append("")
    if violations:
        out.append("Violations:")
        for f in sorted(violations, key=lambda f: (-BY_ID[f.control].security_severity, f.app)):
            c = BY_ID[f.control]
            where = (
                f" ({printable(f.file)}:{f.line})"
                if f.file
                else " (not listed in the desired state)"
            )
            out.append(
                f"  [{c.severity.upper()}] {printable(f.app)}: {f.control} {c.title}: "
                f"{printable(f.path)} is {show(f.value)}{where}"
            )
        out.append("")
    if accepted:
        out.append("Exceptions in force:")
        out += describe_exceptions(accepted)
        out.append("")
    if report.warnings:
        out.append("Warnings:")
        out += [f"  {printable(w)}" for w in report.warnings]
        out.append("")
    if report.notes:
        out.append("Notes:")
        out += [f"  {printable(n)}" for n in report.notes]
        out.append("")
    return "\n".join(out) + "\n"


def render_audit_json(report: AuditReport) -> str:
    doc = {
        "format_version": "1",
        "tool": f"reconciler {__version__}",
        "org_id": report.org_id,
        "instance_url": report.instance_url,
        "created_at": report.created_at,
        "controls": report.controls,
        "compliant": report.compliant,
        "apps_checked": report.apps_checked,
        "findings": [asdict(f) | {"accepted": f.accepted} for f in report.findings],
        "risks": {name: asdict(r) for name, r in report.risks.items()},
        "apps": [
            {"name": name, "usage": report.usage[name].to_dict() if name in report.usage else None}
            for name in report.apps_checked
        ],
        "usage": {name: u.to_dict() for name, u in sorted(report.usage.items())},
        "unused_exceptions": report.unused_exceptions,
        "notes": report.notes,
        "warnings": report.warnings,
        "summary": {
            "apps_checked": len(report.apps_checked),
            "violations": len(report.violations),
            "accepted": sum(1 for f in report.findings if f.accepted),
        },
    }
    return json.dumps(doc, indent=2) + "\n"
