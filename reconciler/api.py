"""The library API: what the CLI calls, and what a Python caller can call the same way.

from reconciler import api
from reconciler.org.connect import connect

desired = api.load_desired("desired/")
with connect("emulator") as org:
    plan, live = api.make_plan(org, desired)
    print(api.render(plan, "text"))
    result = api.apply(org, plan, live)
"""

from __future__ import annotations

from collections.abc import Collection

from .applying import ApplyResult, StalePlanError, apply_plan, stale_reasons
from .desired_state import DesiredState, load_desired
from .export import export_yaml
from .live_state import LiveState, read_live
from .model import Plan
from .org.interface import Org
from .planning import build_plan, select_apps
from .render import RENDERERS
from .risk import after_values, assess

__all__ = [
    "apply",
    "apply_saved",
    "export",
    "load_desired",
    "make_plan",
    "render",
]


def make_plan(
    org: Org, desired: DesiredState, only: Collection[str] = (), exclude: Collection[str] = ()
) -> tuple[Plan, LiveState]:
    """Read the declared apps from the org and diff them. Read-only: no write API is called."""
    names = [app.name for app in select_apps(desired, only, exclude)]
    # Unlisted apps matter to the baseline unless ignored (or the run is narrowed by --app).
    wants_all = desired.baseline.unlisted != "ignore" and not only
    live = read_live(org, only=None if wants_all else names)
    plan = build_plan(desired, live, org.instance_url, only, exclude)
    targets = {
        app.name: (after_values(live.apps.get(app.name), app.changes), live.apps.get(app.name))
        for app in plan.apps
        if not app.errors
    }
    for name, context in assess(org, targets).items():
        plan.app(name).risk = context
    return plan, live


def render(plan: Plan, fmt: str = "text") -> str:
    return RENDERERS[fmt](plan)


def apply(org: Org, plan: Plan, live: LiveState) -> ApplyResult:
    """Apply a plan made moments ago from `live` (the confirm-then-apply path)."""
    return apply_plan(org, plan, live)


def apply_saved(org: Org, plan: Plan) -> ApplyResult:
    """Apply a saved plan exactly, after proving the org still looks as it did when planned."""
    live = read_live(org, only=[app.name for app in plan.apps])
    reasons = stale_reasons(plan, org.org_id, live)
    if reasons:
        raise StalePlanError(
            "saved plan is stale; nothing was written. What changed since it was made:\n"
            + "\n".join(f"  {r}" for r in reasons)
            + "\nRe-run `reconciler plan` and review the new plan."
        )
    return apply_plan(org, plan, live)


def export(org: Org, only: Collection[str] = ()) -> str:
    return export_yaml(read_live(org, only=only or None), only)
