"""Applying a Plan: staleness check, ordered read-modify-write, then verification by re-reading.

Order matters for client credentials (eca doc §6): enabling is documented as settings first,
then policies; for disabling we take the reverse (policies first, then settings) so that at no
moment does a half-applied run leave the admin switch on over a developer switch that is off.
That reverse order is this project's choice, not a documented Salesforce rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from . import fields as F
from .errors import PlanFileError
from .live_state import LiveState, read_live
from .model import AppPlan, Component, Plan
from .org.interface import Org
from .planning import changed_paths
from .render.values import show

log = logging.getLogger(__name__)

Status = Literal["applied", "failed", "not attempted"]


@dataclass
class AppResult:
    name: str
    status: Status = "not attempted"
    messages: list[str] = field(default_factory=list)


@dataclass
class ApplyResult:
    results: list[AppResult]

    @property
    def ok(self) -> bool:
        return all(r.status == "applied" for r in self.results)

    def counts(self) -> dict[str, int]:
        out = {"applied": 0, "failed": 0, "not attempted": 0}
        for r in self.results:
            out[r.status] += 1
        return out


class StalePlanError(PlanFileError):
    """The org moved since the plan was made; applying it would act on state nobody reviewed."""


def stale_reasons(plan: Plan, org_id: str, live: LiveState) -> list[str]:
    """Why `plan` no longer describes the org (empty when it still does)."""
    if org_id != plan.org_id:
        return [f"the plan was made for org {plan.org_id}, but this org is {org_id}"]
    reasons = []
    for app in plan.apps:
        current = live.apps.get(app.name)
        if current is None:
            reasons.append(f"{app.name}: no longer in the org")
            continue
        now = current.values()
        for path in changed_paths(app.observed, {p: now.get(p) for p in app.observed}):
            reasons.append(
                f"{app.name}: {path} was {show(app.observed[path])} when planned, "
                f"now {show(now.get(path))}"
            )
    return reasons


def _phase_of(app: AppPlan, side: F.Side) -> int:
    """0: settings that enable client credentials; 1: policies; 2: all other settings."""
    if side == "policies":
        return 1
    enabling = any(c.field == "client_credentials" and c.after is True for c in app.changes)
    return 0 if enabling else 2


def _modified(component: Component, app: AppPlan, side: F.Side) -> Component:
    """The live component with only the planned fields changed: nothing else is touched."""
    new = component.copy()
    for change in app.changes_on(side):
        new.fields[change.spec.wire] = change.spec.to_wire(change.after)
    for flag in F.ROTATE_FIELDS:
        # A rotation trigger read back as true must not be replayed: it would mint new secrets.
        if new.fields.get(flag):
            new.fields[flag] = False
    return new


def apply_plan(org: Org, plan: Plan, live: LiveState) -> ApplyResult:
    """Write the plan's changes against `live` (read moments ago), then verify by re-reading."""
    if plan.errors:
        names = sorted({name for name, _ in plan.errors})
        raise PlanFileError(
            f"the plan has errors for {', '.join(names)}; fix them or leave those apps out "
            "with --exclude"
        )
    results = {app.name: AppResult(app.name) for app in plan.changed_apps}
    steps = sorted(
        (
            (_phase_of(app, side), side, app)
            for app in plan.changed_apps
            for side in ("settings", "policies")
            if app.changes_on(side)
        ),
        key=lambda step: (step[0], step[2].name),
    )
    for phase in (0, 1, 2):
        batch = [(side, app) for p, side, app in steps if p == phase]
        if not batch:
            continue
        side = batch[0][0]
        todo: list[tuple[AppPlan, Component]] = []
        for _, app in batch:
            if results[app.name].status == "failed":
                continue  # an earlier step for this app failed: leave its other side alone
            component = live.apps[app.name].component(side)
            assert component is not None, "planner guarantees declared sides exist"
            todo.append((app, _modified(component, app, side)))
        if not todo:
            continue
        log.info("updating %d %s component(s)", len(todo), F.TYPE_OF_SIDE[side])
        outcomes = org.update(F.TYPE_OF_SIDE[side], [c for _, c in todo])
        for (app, component), outcome in zip(todo, outcomes, strict=True):
            result = results[app.name]
            if outcome.success:
                result.messages.append(f"{side}: updated {component.full_name}")
                result.status = "applied" if result.status != "failed" else "failed"
            else:
                result.status = "failed"
                result.messages.append(f"{side}: {component.full_name}: {outcome.describe()}")
    _verify(org, plan, results)
    return ApplyResult(list(results.values()))


def _verify(org: Org, plan: Plan, results: dict[str, AppResult]) -> None:
    """Re-read what was written; an app counts as applied only if the org now says so."""
    written = [name for name, r in results.items() if r.status == "applied"]
    if not written:
        return
    after = read_live(org, only=written)
    for name in written:
        app = plan.app(name)
        assert app is not None
        live_app = after.apps.get(name)
        now = live_app.values() if live_app else {}
        wanted = {c.path: c.after for c in app.changes}
        for path in changed_paths({p: now.get(p) for p in wanted}, wanted):
            results[name].status = "failed"
            results[name].messages.append(
                f"verification: {path} is {show(now.get(path))} after apply, "
                f"expected {show(wanted[path])}"
            )
