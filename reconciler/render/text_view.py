"""Terminal view, in the spirit of `terraform plan`: per app a header, one line per field."""

from __future__ import annotations

from ..model import Plan
from .values import plural, show

ENABLE_MARK = "  # enables an OAuth flow"


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    if not plan.changes:
        return "No changes." + (" (some apps have errors; see above)" if plan.errors else "")
    enabling = f", {s['flows_to_enable']} enabling a flow" if s["flows_to_enable"] else ""
    return (
        f"Plan: {plural(s['apps_to_change'], 'app')} to change, "
        f"{plural(s['fields_to_change'], 'field')} to change{enabling}."
    )


def render_text(plan: Plan) -> str:
    out = [f"Org {plan.org_id} at {plan.instance_url}", ""]
    for app in plan.changed_apps:
        out.append(f"  # {app.name} will be updated in place")
        out.append(f"  ~ app {app.name} {{")
        for change in app.changes:
            mark = "!" if change.enables_flow else "~"
            line = f"      {mark} {change.path}: {show(change.before)} -> {show(change.after)}"
            out.append(line + (ENABLE_MARK if change.enables_flow else ""))
        unchanged = len(app.observed) - len(app.changes)
        if unchanged:
            out.append(f"        # ({plural(unchanged, 'declared field')} already as declared)")
        out.append("    }")
        out.append("")
    notes = [(a.name, n) for a in plan.apps for n in a.notes]
    if notes:
        out.append("Notes:")
        out += [f"  {name}: {note}" for name, note in notes]
        out.append("")
    if plan.errors:
        out.append("Errors:")
        out += [f"  {name}: {error}" for name, error in plan.errors]
        out.append("")
    out.append(summary_line(plan))
    return "\n".join(out) + "\n"
