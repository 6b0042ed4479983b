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
from .risk import run_as_candidates
from .risk_lookup import lookup_run_as

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
    """Read the declared apps from the org and diff them. Read-only: no write API is called.

    I/O first (live state, then one run-as lookup for every user the plan could need), then
    pure planning: the plan, risk included, is complete when build_plan returns."""
    selected_apps = select_apps(desired, only, exclude)
    names = [app.name for app in selected_apps]
    # Unlisted apps matter to the baseline unless ignored (or the run is narrowed by --app).
    wants_all = desired.baseline.unlisted != "ignore" and not only
    live = read_live(org, only=None if wants_all else names)
    declared = {app.name: app.values for app in selected_apps}
    lookups = lookup_run_as(org, run_as_candidates(live.apps, declared))
    plan = build_plan(desired, live, org.instance_url, only, exclude, lookups)
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
