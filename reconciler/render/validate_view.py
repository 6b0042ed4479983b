"""Views of a validated desired state (`reconciler validate`): a summary line, a JSON
document, or GitHub workflow annotations for its warnings. Never loads the org stack."""

from __future__ import annotations

import json

from ..desired_model import DesiredState
from ..display import printable
from .ci_views import issue_annotation, issue_dict


def summary(state: DesiredState) -> str:
    return (
        f"Valid: {len(state.apps)} app(s) in {len(state.files)} file(s); baseline "
        f"{printable(', '.join(state.baseline.controls)) or '(none)'}, unlisted apps: "
        f"{state.baseline.unlisted}."
    )


def render_validate_text(state: DesiredState) -> str:
    """The summary; warnings go to stderr, printed by the caller as notes."""
    return summary(state) + "\n"


def render_validate_json(state: DesiredState) -> str:
    doc = {
        "valid": True,
        "apps": len(state.apps),
        "files": [str(f) for f in state.files],
        "baseline": list(state.baseline.controls),
        "unlisted": state.baseline.unlisted,
        "warnings": [issue_dict(w) for w in state.warnings],
    }
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def render_validate_github(state: DesiredState) -> str:
    """One `::warning` annotation per warning, then the summary."""
    lines = [issue_annotation("warning", w) for w in state.warnings]
    return "".join(line + "\n" for line in [*lines, summary(state)])
