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

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from . import planfile
from .applying import SAVE_RETRY, ApplyResult, StopRequest, apply_plan
from .backup import default_backup_dir, load_backup
from .desired_state import DesiredState
from .export import export_yaml
from .live_state import read_live
from .lookups import DEFAULT_USAGE_WINDOW, look_up
from .model import LiveState, Plan
from .operations import load_desired
from .org.interface import Org
from .org.retry import RetryPolicy
from .planning import build_plan, select_apps
from .render import RENDERERS
from .risk import run_as_candidates
from .rollback import plan_rollback

__all__ = [
    "apply",
    "apply_saved",
    "export",
    "load_desired",
    "make_plan",
    "render",
    "rollback",
]


def make_plan(
    org: Org,
    desired: DesiredState,
    only: Collection[str] = (),
    exclude: Collection[str] = (),
    *,
    usage_window_days: int | None = DEFAULT_USAGE_WINDOW,
    allow_breaking: bool = False,
) -> tuple[Plan, LiveState]:
    """Read the declared apps from the org and diff them. Read-only: no write API is called.

    I/O first (live state, then one look-up round for every run-as user the plan could need and
    their client-credentials logins over `usage_window_days`), then pure planning: the plan,
    risk and usage included, is complete when build_plan returns. Changes that would break an
    integration in use are held unless `allow_breaking`."""
    selected_apps = select_apps(desired, only, exclude)
    names = [app.name for app in selected_apps]
    # Unlisted apps matter to the baseline unless ignored (or the run is narrowed by --app).
    wants_all = desired.baseline.unlisted != "ignore" and not only
    live = read_live(org, only=None if wants_all else names)
    declared = {app.name: app.values for app in selected_apps}
    lookups = look_up(org, run_as_candidates(live.apps, declared), usage_window_days)
    plan = build_plan(desired, live, org.instance_url, only, exclude, lookups, allow_breaking)
    return plan, live


def render(plan: Plan, fmt: str = "text") -> str:
    return RENDERERS[fmt](plan)


def apply(
    org: Org,
    plan: Plan,
    live: LiveState,
    *,
    backup_dir: Path | None = None,
    stop: StopRequest | None = None,
    policy: RetryPolicy = SAVE_RETRY,
    notify: Callable[[str], None] | None = None,
) -> ApplyResult:
    """Apply a plan made from `live` (the confirm-then-apply path, and rollbacks).

    Each component is read again just before it is written, so a prompt may sit between plan
    and apply without losing anyone's concurrent change; a moved planned field refuses its app.
    A backup of what will be overwritten goes to `backup_dir` (default .reconciler/backups).
    Never raises once writing may have begun: the result says per app what happened.
    """
    return apply_plan(
        org,
        plan,
        live,
        stop=stop,
        policy=policy,
        backup_dir=backup_dir if backup_dir is not None else default_backup_dir(),
        notify=notify,
    )


def rollback(org: Org, backup_file: Path) -> tuple[Plan, LiveState]:
    """Plan the undo of the apply that wrote `backup_file`: its changed fields, after -> before.

    Apply the result with `apply`; fields someone changed since are listed in the plan's notes
    and left alone, and violations the undo brings back are in its findings.
    """
    return plan_rollback(org, load_backup(backup_file))


def apply_saved(
    org: Org,
    saved: Plan,
    desired: DesiredState,
    *,
    check: Callable[[Plan], None] | None = None,
    lock: Callable[[str], bool] | None = None,
    **options: Any,
) -> tuple[Plan, ApplyResult]:
    """Apply a saved plan only if planning now gives exactly that plan; returns what was applied.

    The file is evidence of what was reviewed, never the instructions: the desired state must
    be the one it was made from, and a fresh plan (same scope, same org) must equal it change
    for change with every declared field's live value unchanged. What runs is the fresh plan
    and its live state, so an edited file can only ever cause a refusal, never a write.
    `check` sees the fresh plan before anything is written and may raise to refuse it (the
    CLI's safety valve, safety.raise_if_unsafe). `lock(org_id)` takes the org's lock once the
    fresh plan is made and says whether another run held it; if so the org is read and checked
    again, since that run may have changed it. `options` go to `apply` unchanged (backup_dir,
    stop, policy, notify).
    """
    differences = planfile.desired_differences(saved, desired)
    if differences:
        raise planfile.mismatch(differences, desired_changed=True)

    def fresh() -> tuple[Plan, LiveState]:
        plan, live = make_plan(
            org,
            desired,
            saved.scope_apps,
            saved.scope_exclude,
            usage_window_days=saved.usage_window_days,
            allow_breaking=saved.allow_breaking,
        )
        differences = planfile.check(saved, plan, desired)
        if differences:
            raise planfile.mismatch(differences, desired_changed=False)
        return plan, live

    plan, live = fresh()
    if lock is not None and lock(plan.org_id):
        plan, live = fresh()
    if check is not None:
        check(plan)
    return plan, apply(org, plan, live, **options)


def export(org: Org, only: Collection[str] = ()) -> str:
    return export_yaml(read_live(org, only=only or None), only)
