"""Views: every output of every command, chosen from one registry keyed by result and format.

Each view is a small function of one result object (a Plan, an AuditReport, an ApplyResult, a
validated DesiredState, an error) and returns text. The registry names modules rather than
importing them, so a command loads only the view it prints (`validate` never loads the plan
views, `--help` none at all).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

#: (result kind, format) -> "module:function" under reconciler.render.
VIEWS: dict[tuple[str, str], str] = {
    ("Plan", "text"): "text_view:render_text",
    ("Plan", "json"): "json_view:render_json",
    ("Plan", "markdown"): "markdown_view:render_markdown",
    ("AuditReport", "text"): "audit_views:render_audit_text",
    ("AuditReport", "json"): "audit_views:render_audit_json",
    ("AuditReport", "sarif"): "sarif_view:render_sarif",
    ("ApplyResult", "text"): "apply_view:render_apply_text",
    ("ApplyResult", "json"): "apply_view:render_apply_json",
    ("Rollback", "text"): "apply_view:render_rollback_text",
    ("Breaking", "text"): "apply_view:render_breaking_notice",
    ("DesiredState", "text"): "validate_view:render_validate_text",
    ("DesiredState", "json"): "validate_view:render_validate_json",
    ("DesiredState", "github"): "validate_view:render_validate_github",
    ("error", "json"): "ci_views:error_document",
    ("error", "github"): "ci_views:error_annotations_text",
}


def formats(kind: str) -> list[str]:
    """The formats a result kind can be shown in, in registry order."""
    return [fmt for k, fmt in VIEWS if k == kind]


def render(result: Any, fmt: str = "text", *, kind: str | None = None, **context: Any) -> str:
    """`result` in format `fmt`; `kind` defaults to the result's class name ("error" for an
    exception shown as a CI document). `context` goes to the view (e.g. the safety verdict)."""
    key = (kind or type(result).__name__, fmt)
    if key not in VIEWS:
        raise ValueError(f"no {fmt} view of {key[0]}")
    module, _, function = VIEWS[key].partition(":")
    view = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    taken = inspect.signature(view).parameters
    return str(view(result, **{k: v for k, v in context.items() if k in taken}))


__all__ = ["VIEWS", "formats", "render"]
