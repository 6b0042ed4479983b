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
from .model import IN_USE, AppPlan, FieldChange, HeldChange, LiveApp, LiveState, Lookups, Plan
from .risk import after_values, assess, client_credentials_on
from .usage import (
    grade_usage,
    unused_exception_findings,
    unused_exception_note,
    unused_exceptions,
    usage_warning,
)

_ORDER = {spec.path: i for i, spec in enumerate(F.ALL_SPECS)}
#: The two switches of the client credentials flow (eca doc §6): one decision when holding.
CLIENT_CREDENTIALS = ("settings.client_credentials", "policies.client_credentials")


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
    if after.get("connected.client_credentials") is True and not after.get("connected.run_as"):
        plan.errors.append(
            "client_credentials is true but no run-as user is set: declare run_as (a "
            "username with the API Only permission)"
        )


def turns_client_credentials_off(change: FieldChange) -> bool:
    return change.path in CLIENT_CREDENTIALS and change.after is False and change.before is True


def declared_by_app(wanted: DesiredApp, change: FieldChange) -> bool:
    """True when the app's own YAML wrote the planned value down (not the baseline's remedy,
    not a `defaults:` block written without knowing which apps are in use)."""
    return (
        change.control is None
        and change.path in wanted.values
        and change.path not in wanted.from_defaults
    )


def hold_breaking(plan: AppPlan, wanted: DesiredApp, allow_breaking: bool) -> list[HeldChange]:
    """Keep out of the plan what would turn client credentials off for an app in use when
    nobody decided so for that app; returns the held changes (removed from `plan.changes`).

    Both switches are one decision: if the app declares either side off itself, both planned
    changes go ahead, marked breaking; else both are held. `allow_breaking` releases held
    changes (marked breaking too). Apps whose usage is unused or unknown plan as before:
    `unknown` does not hold, since a refused LoginHistory query would otherwise silently stop
    the baseline from ever being enforced in an org that does not grant that permission; the
    plan says the usage is unknown next to the change instead."""
    usage = plan.usage
    off = [c for c in plan.changes if turns_client_credentials_off(c)]
    if not off or usage is None or usage.status != IN_USE:
        return []
    if allow_breaking or any(declared_by_app(wanted, c) for c in off):
        plan.breaking = True
        return []
    asked = sorted({f"baseline {c.control}" if c.control else "`defaults:`" for c in off})
    reason = (
        f"{usage.logins} successful client-credentials login(s) in {usage.window_days} days; "
        f"only {' and '.join(asked)} asked to turn the flow off. Declare client_credentials: "
        "false for this app, or pass --allow-breaking, to apply it"
    )
    plan.changes = [c for c in plan.changes if c not in off]
    return [HeldChange(c, reason, usage) for c in off]


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
    lookups: Lookups | None = None,
    allow_breaking: bool = False,
) -> Plan:
    """The whole plan, risk and usage included: `lookups` is what the look-up stage read
    beforehand (lookups.look_up, for the users risk.run_as_candidates names), so grading here
    stays pure. Apps whose client credentials flow stays or becomes enabled get a RiskContext;
    apps with it on in the org get a Usage, and changes that would break an integration in use
    are held (`hold_breaking`; `allow_breaking` releases them). A refused look-up adds a
    warning. None means no look-up was made (offline callers): no risk or usage is graded."""
    controls = selected(desired.baseline)
    pairs = [
        (app, plan_app(app, live.apps.get(app.name), controls))
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
        pairs.append((app, planned))
    apps = [p for _, p in pairs]
    risk_warnings: list[str] = []
    held: list[HeldChange] = []
    if lookups is not None and lookups.usage is not None:
        held, risk_warnings = _judge_usage(pairs, live, lookups, controls, allow_breaking)
    if lookups is not None:
        targets = {
            p.name: (after_values(live.apps.get(p.name), p.changes), live.apps.get(p.name))
            for p in apps
            if not p.errors
        }
        risks, warnings = assess(targets, lookups.run_as)
        risk_warnings = warnings + risk_warnings
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
        held=held,
        allow_breaking=allow_breaking,
        usage_window_days=lookups.usage.window_days if lookups and lookups.usage else None,
    )


def _judge_usage(
    pairs: list[tuple[DesiredApp, AppPlan]],
    live: LiveState,
    lookups: Lookups,
    controls: Sequence[Control],
    allow_breaking: bool,
) -> tuple[list[HeldChange], list[str]]:
    """Usage of every planned app with client credentials on in the org (either side), the
    changes it holds, and the exceptions it shows unused; returns (held, warnings)."""
    assert lookups.usage is not None
    on = {
        p.name: live.apps[p.name].values()
        for _, p in pairs
        if p.name in live.apps and client_credentials_on(live.apps[p.name].values())
    }
    usages = grade_usage(on, lookups.usage, live.apps.keys())
    held: list[HeldChange] = []
    for wanted, p in pairs:
        p.usage = usages.get(p.name)
        if p.usage is None:
            continue
        kept = hold_breaking(p, wanted, allow_breaking)
        declared = wanted if wanted.listed else None
        if kept:
            held += kept
            after = after_values(live.apps.get(p.name), p.changes)
            p.findings = findings(p.name, after, controls, declared)
        unused = unused_exceptions(p.usage, declared)
        p.unused_exceptions = [e.control for e in unused]
        p.notes += [unused_exception_note(e.control, p.usage) for e in unused]
        p.findings += unused_exception_findings(p.name, p.usage, declared, controls)
    warning = usage_warning(lookups.usage, usages)
    return held, [warning] if warning else []
