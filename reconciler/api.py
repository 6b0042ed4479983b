"""The library API: the same operations, and the same guarantees, as the command line.

    from reconciler import api

    org = api.OrgTarget(target="emulator")
    outcome = api.plan(api.PlanRequest("desired/", org))
    print(api.render(outcome.plan, "text"))
    applied = api.apply(api.ApplyRequest("desired/", org), api.Hooks(confirm=api.auto_approve))
    print(api.render(applied.result, "text") if applied.result else "No changes.")

Each operation opens the org, reads it, looks up what planning needs, plans, and (apply,
rollback) takes the org's lock, plans again if another run held it, applies the safety valve,
asks `Hooks.confirm`, backs up, writes, verifies and records evidence, exactly as the CLI does.
"""

from __future__ import annotations

from .operations import (
    ApplyOutcome,
    ApplyRequest,
    Cancelled,
    Hooks,
    PlanOutcome,
    PlanRequest,
    RollbackRequest,
    Safety,
    Scope,
    apply,
    audit,
    auto_approve,
    export,
    load_desired,
    make_plan,
    plan,
    rollback,
    validate,
)
from .org.target import CallSettings, OrgTarget
from .render import render

__all__ = [
    "ApplyOutcome",
    "ApplyRequest",
    "CallSettings",
    "Cancelled",
    "Hooks",
    "OrgTarget",
    "PlanOutcome",
    "PlanRequest",
    "RollbackRequest",
    "Safety",
    "Scope",
    "apply",
    "audit",
    "auto_approve",
    "export",
    "load_desired",
    "make_plan",
    "plan",
    "render",
    "rollback",
    "validate",
]
