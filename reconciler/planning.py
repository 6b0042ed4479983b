"""Planning: desired state x live state -> Plan. Pure: no I/O, so it is cheap to test and reuse."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from . import fields as F
from .baseline import findings, remedies, selected
from .controls import BY_ID, Control
from .desired_model import DesiredApp, DesiredState
from .diffing import changed_paths
from .errors import ReconcilerError
from .model import AppPlan, FieldChange, LiveApp, LiveState, Plan, RiskLookups
from .risk import after_values, assess

_ORDER = {spec.path: i for i, spec in enumerate(F.CATALOGUE)}


def select_apps(
    desired: DesiredState, only: Collection[str] = (), exclude: Collection[str] = ()
) -> list[DesiredApp]:
    """Apply --app / --exclude. `--app` naming an undeclared app is an error, not a silent
    no-op; `--exclude` may also name an org app the YAML does not list (unlisted: enforce)."""
    unknown = [n for n in only if n not in desired.apps]
    if unknown:
        raise ReconcilerError(
            f"not declared in the desired state: {', '.join(unknown)} "
            f"(declared: {', '.join(sorted(desired.apps)) or 'none'})"
        )
    return [
        app
        for name, app in sorted(desired.apps.items())
        if (not only or name in only) and name not in exclude
    ]


def plan_app(wanted: DesiredApp, live: LiveApp | None, controls: Sequence[Control] = ()) -> AppPlan:
    """Plan one app: its declared fields, plus what the baseline needs where it is silent."""
    plan = AppPlan(wanted.name, listed=wanted.listed)
    if live is None:
        plan.errors.append("not found in the org; this tool does not create apps")
        plan.notes += [
            f"exception for {e.control} is not needed: the app does not exist"
            for e in wanted.exceptions
        ]
        return plan
    plan.errors.extend(live.problems)
    if live.settings_unreadable:
        if wanted.declares("settings"):
            plan.errors.append(
                "the settings side cannot be read from this org "
                f"({live.settings_unreadable}); remove `settings:` for this app or allow "
                "consumer-secret access via the Metadata API"
            )
        else:
            plan.notes.append("the settings side cannot be read from this org; not managed")
    for side, type_name in F.TYPE_OF_SIDE.items():
        if (
            wanted.declares(side)
            and live.component(side) is None
            and not (side == "settings" and live.settings_unreadable)
        ):
            plan.errors.append(
                f"has no {type_name} component; this tool does not create components"
            )
    live_values = live.values()
    exempt = [e.control for e in wanted.exceptions]
    injected = remedies(wanted.values, live_values, controls, exempt)
    sources = {path: control for path, (_, control) in injected.items()}
    wanted_values = {**wanted.values, **{path: v for path, (v, _) in injected.items()}}
    declared = {p: v for p, v in wanted_values.items() if p.split(".")[0] in _readable(live)}
    plan.observed = {p: live_values.get(p) for p in declared}
    for path in changed_paths(plan.observed, declared):
        spec = F.BY_PATH[path]
        plan.changes.append(
            FieldChange(
                wanted.name,
                spec.side,
                spec.key,
                plan.observed[path],
                declared[path],
                sources.get(path),
            )
        )
    after = {**live_values, **{c.path: c.after for c in plan.changes}}
    _check_feasible(plan, after)
    plan.findings = findings(wanted.name, after, controls, wanted if wanted.listed else None)
    for exc in wanted.exceptions:
        control = BY_ID[exc.control]
        if control in controls and not control.violations(after):
            plan.notes.append(
                f"exception for {exc.control} is not needed: the app would comply anyway"
            )
    return plan


def _readable(live: LiveApp) -> set[str]:
    return {side for side in F.TYPE_OF_SIDE if live.component(side) is not None}


def _check_feasible(plan: AppPlan, after: dict[str, Any]) -> None:
    """Refuse at plan time what the org would refuse at apply time, with a clearer message.

    `after` is the app's values once the plan is applied."""
    if after.get("policies.client_credentials") is True and not after.get("policies.run_as"):
        plan.errors.append(
            "policies.client_credentials is true but no run-as user is set: declare "
            "policies.run_as (a username with the API Only permission)"
        )


def unlisted_apps(
    desired: DesiredState,
    live: LiveState,
    only: Collection[str] = (),
    exclude: Collection[str] = (),
) -> list[DesiredApp]:
    """Org apps not under `apps:`, as empty declarations, when the baseline covers them.

    `--app` narrows a run to named declared apps, so it leaves unlisted apps out.
    """
    if desired.baseline.unlisted == "ignore" or only:
        return []
    return [
        DesiredApp(name, "", 0, listed=False)
        for name in sorted(live.apps)
        if name not in desired.apps and name not in exclude
    ]


def build_plan(
    desired: DesiredState,
    live: LiveState,
    instance_url: str,
    only: Collection[str] = (),
    exclude: Collection[str] = (),
    lookups: RiskLookups | None = None,
) -> Plan:
    """The whole plan, risk included: `lookups` is the run-as lookup the caller made beforehand
    (risk.run_as_candidates names whom to look up), so grading here stays pure. Apps whose
    client credentials flow stays or becomes enabled get a RiskContext, and a refused lookup
    adds a warning. None means no lookup was made (offline callers): no risk is graded."""
    controls = selected(desired.baseline)
    apps = [
        plan_app(app, live.apps.get(app.name), controls)
        for app in select_apps(desired, only, exclude)
    ]
    for app in unlisted_apps(desired, live, only, exclude):
        planned = plan_app(app, live.apps[app.name], controls)
        if desired.baseline.unlisted == "report":
            # Report only: nothing is written and the exit code is untouched.
            planned.changes, planned.observed, planned.errors = [], {}, []
            live_values = live.apps[app.name].values()
            planned.findings = findings(app.name, live_values, controls, None)
            if not planned.findings:
                continue
        elif not planned.changes and not planned.findings:
            continue
        apps.append(planned)
    risk_warnings: list[str] = []
    if lookups is not None:
        targets = {
            p.name: (after_values(live.apps.get(p.name), p.changes), live.apps.get(p.name))
            for p in apps
            if not p.errors
        }
        risks, risk_warnings = assess(targets, lookups)
        for p in apps:
            p.risk = risks.get(p.name)
    return Plan(
        org_id=live.org_id,
        instance_url=instance_url,
        desired_digest=desired.digest,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        apps=apps,
        warnings=[str(w) for w in desired.warnings] + risk_warnings,
        controls=list(desired.baseline.controls),
        desired_files=list(desired.files),
        desired_file_digests=dict(desired.file_digests),
        scope_apps=sorted(only),
        scope_exclude=sorted(exclude),
        org_app_count=live.app_count,
        exception_warning_days=desired.baseline.exception_warning_days,
    )
