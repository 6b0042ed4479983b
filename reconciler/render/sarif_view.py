"""SARIF 2.1.0 for code scanning (GitHub and others).

What code scanning needs, and where it comes from here: stable `ruleId`s (the control ids);
`security-severity` on each rule (from the control's CVSS range); results located in the
desired-state file and line of the app (unlisted apps point at the line that sets the
baseline, since they have no line of their own); `partialFingerprints` so an alert keeps its
identity across runs; exceptions as `suppressions` (kind external, status accepted) carrying
the justification, because SARIF has no expiry field (oasis-tcs/sarif-spec#348).

JSON escaping keeps the file valid, but viewers display `message.text` and the suppression
justification to people, so org and YAML strings in them go through `sarif_text`: control
characters made visible (`printable`), and the characters SARIF gives a meaning inside plain
text messages escaped, so an app name cannot fake a placeholder or an embedded link.
Identifiers (logical location names, properties) stay verbatim: they are data for machines.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..controls import BY_ID, CONTROLS, Control
from ..display import printable, show
from ..model import AuditReport, Finding

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
#: SARIF 2.1.0 §3.11.5: a literal brace in a message is written doubled ("{{", "}}"), else
#: "{0}" is a placeholder. §3.11.6: a literal square bracket is written "\[" / "\]", else
#: "[text](1)" is an embedded link. (printable already doubled every backslash.)
_SARIF_TEXT = str.maketrans({"{": "{{", "}": "}}", "[": "\\[", "]": "\\]"})


def sarif_text(text: object) -> str:
    """Outside text for a SARIF plain-text message: one inert line, no placeholders or links."""
    return printable(text).translate(_SARIF_TEXT)


def _uri(path: str) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return p.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return p.as_uri()
    return p.as_posix()


def _rule(control: Control) -> dict[str, Any]:
    return {
        "id": control.id,
        "name": "".join(w.capitalize() for w in control.title.replace("-", " ").split()),
        "shortDescription": {"text": control.title},
        "fullDescription": {"text": control.rationale},
        "help": {
            "text": f"{control.remediation}\nSource: {control.source}",
            "markdown": f"**Remediation.** {control.remediation}\n\n*Source:* {control.source}",
        },
        "defaultConfiguration": {"level": _LEVEL[control.severity]},
        "properties": {
            "security-severity": f"{control.security_severity:.1f}",
            "cvss": control.cvss,
            "tags": ["security", "salesforce", "oauth", "external-client-app"],
            "precision": "very-high",
        },
    }


def _result(f: Finding, report: AuditReport, rule_index: dict[str, int]) -> dict[str, Any]:
    control = BY_ID[f.control]
    location: dict[str, Any] = {
        "logicalLocations": [
            {"name": f.app, "fullyQualifiedName": f"{f.app}.{f.path}", "kind": "object"}
        ]
    }
    file, line = (f.file, f.line) if f.file else (report.baseline_file, report.baseline_line)
    if file:
        location["physicalLocation"] = {
            "artifactLocation": {"uri": _uri(file)},
            "region": {"startLine": max(1, line or 1)},
        }
    listed = "" if f.listed else " (app not listed in the desired state)"
    result: dict[str, Any] = {
        "ruleId": f.control,
        "ruleIndex": rule_index[f.control],
        "level": _LEVEL[control.severity],
        "message": {
            "text": f"{sarif_text(f.app)}: {sarif_text(f.path)} is "
            f"{show(f.value).translate(_SARIF_TEXT)}, which violates {f.control} "
            f"({control.title}){listed}."
        },
        "locations": [location],
        "partialFingerprints": {
            "reconcilerFinding/v1": hashlib.sha256(
                f"{report.org_id}|{f.app}|{f.control}|{f.path}".encode()
            ).hexdigest()
        },
        "properties": {"app": f.app, "field": f.path, "orgId": report.org_id},
    }
    usage = report.usage.get(f.app)
    if usage is not None:
        result["properties"]["usage"] = usage.to_dict()
        if f.exception and f.control in report.unused_exceptions.get(f.app, []):
            result["properties"]["exceptionUnused"] = True
    risk = report.risks.get(f.app)
    if risk is not None:
        result["properties"]["risk"] = risk.level
        result["properties"]["riskFactors"] = risk.factors
    if f.exception:
        e = f.exception
        ticket = f" Ticket {sarif_text(e['ticket'])}." if e.get("ticket") else ""
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{sarif_text(e['justification'])} "
                f"(owner {sarif_text(e['owner'])}, expires {sarif_text(e['expires'])}).{ticket}",
                "properties": dict(e),
            }
        ]
    return result


def render_sarif(report: AuditReport) -> str:
    rule_index = {c.id: i for i, c in enumerate(CONTROLS)}
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "reconciler",
                        "version": __version__,
                        "rules": [_rule(c) for c in CONTROLS],
                    }
                },
                "automationDetails": {"id": f"reconciler-audit/{report.org_id}/"},
                "results": [_result(f, report, rule_index) for f in report.findings],
                "properties": {
                    "orgId": report.org_id,
                    "baseline": report.controls,
                    "appsChecked": len(report.apps_checked),
                },
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
