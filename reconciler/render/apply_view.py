"""Views of an ApplyResult (apply and rollback): per app its state and why, then one summary
line; or the JSON document the evidence record also stores."""

from __future__ import annotations

import json
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..controls import BY_ID
from ..display import printable, show
from ..model import ApplyResult, AppResult, Plan, StepOutcome
from ..redaction import scrub
from . import hints


def render_apply_text(
    result: ApplyResult, what: str = "Apply", org_args: Sequence[str] = ()
) -> str:
    out = []
    for r in result.results:
        out.append(f"  {printable(r.name)}: {r.status}")
        out += [f"      {printable(scrub(message))}" for message in app_messages(r)]
    c = result.counts()
    line = (
        f"{what} {'complete' if result.ok else 'incomplete'}: {c['applied']} applied, "
        f"{c['failed']} failed, {c['not attempted']} not attempted"
    )
    if c["partially applied"] or c["unknown"]:
        line += f", {c['partially applied']} partially applied, {c['unknown']} unknown"
    out.append(line + ".")
    if result.interrupted:
        name = signal.Signals(result.signum).name if result.signum else "SIGINT"
        out.append(f"Interrupted by {name}: nothing further was written after the call in flight.")
    if result.error:
        out.append(f"Stopped: {printable(scrub(result.error))}")
    if result.backup:
        undo = hints.rollback(result.backup, org_args)
        out.append(f"Backup: {result.backup} (undo with `{undo}`)")
    return "".join(line + "\n" for line in out)


def step_message(step: StepOutcome) -> str:
    """One component's outcome as the report says it."""
    where = f"{step.side}: {step.component}"
    return {
        "verified": f"{step.side}: updated {step.component}",
        "held": f"{where} already held the planned values",
        "failed": f"{where}: {step.reason}",
        "stale": f"{step.side}: not attempted, stale: {step.reason}; re-run `reconciler plan`",
        "skipped": f"{step.side}: not attempted: {step.reason}",
        "unknown": f"{where}: outcome unknown: {step.reason}",
        "unverified": f"{where}: saved (the org answered success), but not verified by a re-read",
    }.get(step.state, f"{where}: {step.state}")


def app_messages(app: AppResult) -> list[str]:
    """The indented lines under an app in the report (and `messages` in the JSON result)."""
    out: list[str] = []
    for step in app.steps:
        out.append(step_message(step))
        if step.state == "verified" and step.reason:
            out.append(f"{step.side}: {step.component}: {step.reason}")
        out += step.extra
    if app.status == "partially applied":
        out.append(
            f"written: {', '.join(app.written)}; the next `reconciler plan` will show: "
            + "; ".join(app.remaining)
        )
    return out


def result_document(result: ApplyResult) -> dict[str, Any]:
    """The JSON result of an apply or rollback, as `--format json` prints it and the evidence
    record stores it: per app its status, the report's lines and the structured steps."""
    return {
        "ok": result.ok,
        "apps": [
            {
                "app": r.name,
                "status": r.status,
                "messages": app_messages(r),
                "steps": [s.to_dict() for s in r.steps],
                "written": r.written,
                "remaining": r.remaining,
            }
            for r in result.results
        ],
        "counts": result.counts(),
        "interrupted": result.interrupted,
        "error": result.error,
        "backup": str(result.backup) if result.backup else None,
    }


def render_apply_json(result: ApplyResult) -> str:
    return json.dumps(result_document(result), indent=2, ensure_ascii=True) + "\n"


def render_rollback_text(plan: Plan, backup: Path) -> str:
    """A rollback plan: what goes back, the plan itself, and what the baseline would say."""
    from .text_view import render_text

    out = [f"Rollback of {backup}: the fields that apply changed go back to their values.\n"]
    out.append(render_text(plan))
    violations = rollback_violations(plan)
    if violations:
        out.append("This rollback re-enables what the baseline forbids (it proceeds):\n")
        out += [f"  {printable(line)}\n" for line in violations]
    if not plan.errors and not plan.changes:
        out.append("Nothing to roll back.\n")
    return "".join(out)


def rollback_violations(plan: Plan) -> list[str]:
    """One line per baseline violation a rollback plan brings back."""
    out = []
    for app in plan.apps:
        for f in app.findings:
            title = BY_ID[f.control].title if f.control in BY_ID else ""
            out.append(f"{f.app}: {f.path} -> {show(f.value)} violates {f.control} ({title})")
    return out


def render_breaking_notice(plan: Plan) -> str:
    """Said before the apply prompt: the apps whose integrations this apply will break."""
    breaking = [a.name for a in plan.apps if a.breaking and a.changes]
    if not breaking:
        return ""
    names = ", ".join(printable(name) for name in breaking)
    return f"This apply turns client credentials off for integrations in use: {names}\n"
