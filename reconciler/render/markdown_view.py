"""Markdown view for pull-request comments: summary in a <details> header, a table per app."""

from __future__ import annotations

from ..model import Plan
from .text_view import summary_line
from .values import show


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(plan: Plan) -> str:
    out = [f"### reconciler plan for org `{plan.org_id}`", ""]
    if plan.errors:
        out.append("**Errors**")
        out.append("")
        out += [f"- `{name}`: {_cell(error)}" for name, error in plan.errors]
        out.append("")
    out += ["<details open>", f"<summary>{summary_line(plan)}</summary>", ""]
    if plan.changes:
        out += ["| App | Field | Before | After | |", "|---|---|---|---|---|"]
        for c in plan.changes:
            flag = "enables a flow" if c.enables_flow else ""
            out.append(
                f"| `{c.app}` | `{c.path}` | {_cell(show(c.before))} | "
                f"{_cell(show(c.after))} | {flag} |"
            )
        out.append("")
    out.append("</details>")
    return "\n".join(out) + "\n"
