"""Machine view. The same document is the saved plan file, so `apply` accepts either.

`format_version` follows Terraform's rule: a minor bump only adds keys, a major bump breaks.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .. import __version__
from ..errors import PlanFileError
from ..model import AppPlan, FieldChange, Finding, Plan

FORMAT_VERSION = "1"


def plan_document(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "tool": f"reconciler {__version__}",
        "org_id": plan.org_id,
        "instance_url": plan.instance_url,
        "created_at": plan.created_at,
        "desired_digest": plan.desired_digest,
        "desired_files": plan.desired_files,
        "changes": [
            {
                "app": c.app,
                "component": c.side,
                "field": c.field,
                "before": c.before,
                "after": c.after,
                "enables_flow": c.enables_flow,
                "control": c.control,
            }
            for c in plan.changes
        ],
        "apps": [
            {
                "name": a.name,
                "status": "error" if a.errors else ("update" if a.changes else "no-op"),
                "errors": a.errors,
                "notes": a.notes,
                "observed": a.observed,
                "listed": a.listed,
                "risk": None if a.risk is None else asdict(a.risk),
                "findings": [asdict(f) for f in a.findings],
            }
            for a in plan.apps
        ],
        "baseline": plan.controls,
        "warnings": plan.warnings,
        "summary": plan.summary(),
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, sort_keys=False) + "\n"


def plan_from_document(doc: Any, source: str) -> Plan:
    """Rebuild a Plan from a plan file; anything malformed is a PlanFileError naming the file."""
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise PlanFileError(f"{source}: not a reconciler plan file")
    major = str(doc["format_version"]).split(".")[0]
    if major != FORMAT_VERSION:
        raise PlanFileError(
            f"{source}: plan format_version {doc['format_version']} is not supported "
            f"(this reconciler reads {FORMAT_VERSION}.x); re-run plan"
        )
    try:
        apps = {
            a["name"]: AppPlan(
                a["name"],
                [],
                dict(a["observed"]),
                list(a["errors"]),
                list(a.get("notes", [])),
                listed=a.get("listed", True),
                findings=[Finding(**f) for f in a.get("findings", [])],
            )
            for a in doc["apps"]
        }
        for c in doc["changes"]:
            change = FieldChange(
                c["app"], c["component"], c["field"], c["before"], c["after"], c.get("control")
            )
            try:
                change.spec.parse(change.after)
            except ValueError as exc:
                raise PlanFileError(
                    f"{source}: {change.app} {change.path}: planned value {change.after!r} is "
                    f"not allowed ({exc}); re-run plan"
                ) from None
            apps[c["app"]].changes.append(change)
        return Plan(
            org_id=doc["org_id"],
            instance_url=doc["instance_url"],
            desired_digest=doc["desired_digest"],
            created_at=doc["created_at"],
            apps=list(apps.values()),
            warnings=list(doc.get("warnings", [])),
            controls=list(doc.get("baseline", [])),
            desired_files=list(doc.get("desired_files", [])),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PlanFileError(
            f"{source}: malformed plan file ({type(exc).__name__}: {exc})"
        ) from None
