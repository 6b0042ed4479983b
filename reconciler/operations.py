"""Operations: one function per command, each owning its whole sequence and every guarantee.

desired state -> open the org -> read and look up -> pure planning -> lock (plan again if
another run held it) -> safety valve -> the caller's confirmation -> backup, write, verify ->
evidence. The CLI is one caller (it parses, asks and prints through `Hooks`); a Python caller
gets exactly the same guarantees by calling these functions (`api` re-exports them), as
octoDNS's Manager.sync and Terraform's backend operation own theirs.

Requests are plain typed values. `org` is an `OrgTarget` (opened and closed here) or an `Org`
the caller already holds (used as it is, left open).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from . import fields as F
from . import planfile
from .applying import SAVE_RETRY, apply_plan
from .audit import build_audit, run_as_to_look_up
from .backup import default_backup_dir, load_backup
from .baseline import check_desired
from .controls import APPROVAL_BYPASS, DEFAULT_BASELINE
from .desired_model import DesiredState
from .desired_state import DesiredPaths, raise_sorted
from .desired_state import load_desired as _load
from .errors import ReconcilerError
from .export import as_eca_values, connected_apps, export_as_eca_yaml, export_yaml
from .fileio import write_atomic
from .live_state import read_live
from .locking import LockHeld, org_lock
from .lookups import look_up
from .model import DEFAULT_USAGE_WINDOW, ApplyResult, AuditReport, Component, LiveState, Plan
from .org.interface import Org
from .org.retry import RetryPolicy
from .org.target import OrgTarget
from .planning import build_plan, select_apps
from .render import hints
from .risk import run_as_candidates
from .rollback import backed_up, plan_rollback
from .safety import SafetyCheck, assess, raise_if_unsafe
from .stopping import STOP, StopRequest

log = logging.getLogger(__name__)

OrgLike = OrgTarget | Org


class Cancelled(ReconcilerError):
    """The caller's confirmation said no; nothing was written."""


@dataclass(frozen=True)
class Scope:
    """`--app` / `--exclude`: which declared apps a run covers."""

    apps: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Safety:
    """Limits on what one apply may do, and how long it may wait for another run's lock."""

    #: `N` apps or `N%` of the org's apps (safety.Threshold); None: the default threshold.
    max_changes: str | None = None
    lock_timeout: float = 0.0


def _never(plan: Plan) -> bool:
    return False


def auto_approve(plan: Plan) -> bool:
    """A confirmation that always says yes: for pipelines (the CLI's --auto-approve)."""
    return True


def _ignore(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    """What the caller sees and decides while an operation runs. The defaults print nothing
    and never confirm, so a library caller must say `confirm=auto_approve` to write."""

    #: The plan about to be applied (after the lock, and any re-plan it caused).
    show: Callable[[Plan], None] = _ignore
    #: Asked once, before anything is written; False cancels. May raise to refuse with a reason.
    confirm: Callable[[Plan], bool] = _never
    #: Notes (a backup written, an evidence record) and warnings (a lock waited for).
    notify: Callable[[str], None] = log.info
    warn: Callable[[str], None] = log.warning
    #: The org, once open (the CLI attaches its progress line to it).
    opened: Callable[[Org], None] = _ignore
    #: Entered around each wait with no count of its own (login, listing, look-ups), named.
    waiting: Callable[[str], contextlib.AbstractContextManager[None]] = lambda what: (
        contextlib.nullcontext()
    )


@dataclass(frozen=True)
class UsagePolicy:
    """How much login evidence the plan weighs, and whether it may break what is in use."""

    #: Days of LoginHistory to read (None: no usage look-up; nothing is held).
    window_days: int | None = DEFAULT_USAGE_WINDOW
    #: Release held changes: turn client credentials off even for apps in use.
    allow_breaking: bool = False


@dataclass(frozen=True)
class PlanRequest:
    desired: DesiredPaths
    org: OrgLike
    scope: Scope = Scope()
    safety: Safety = Safety()
    #: Save the plan here for `apply PLANFILE`.
    out: Path | None = None
    evidence_dir: Path | None = None
    usage: UsagePolicy = UsagePolicy()


@dataclass(frozen=True)
class ApplyRequest:
    desired: DesiredPaths
    org: OrgLike
    scope: Scope = Scope()
    safety: Safety = Safety()
    #: Apply this saved plan only if planning now gives exactly that plan.
    plan_file: Path | None = None
    evidence_dir: Path | None = None
    backup_dir: Path | None = None
    #: Set it (e.g. from a signal handler) to stop after the call in flight; a report follows.
    stop: StopRequest = field(default=STOP)
    usage: UsagePolicy = UsagePolicy()


@dataclass(frozen=True)
class RollbackRequest:
    backup: Path
    org: OrgLike
    safety: Safety = Safety()
    evidence_dir: Path | None = None
    backup_dir: Path | None = None
    stop: StopRequest = field(default=STOP)


@dataclass(frozen=True)
class PlanOutcome:
    plan: Plan
    safety: SafetyCheck
    saved: Path | None = None
    evidence: Path | None = None


@dataclass(frozen=True)
class ApplyOutcome:
    """What an apply or rollback did. `result` is None when there was nothing to write."""

    plan: Plan
    result: ApplyResult | None
    evidence: Path | None = None

    @property
    def ok(self) -> bool:
        return self.result is None or self.result.ok

    @property
    def report(self) -> ApplyResult:
        """The per-app report; an empty one (ok, no apps) when there was nothing to write."""
        return self.result if self.result is not None else ApplyResult([])


# -- building blocks ----------------------------------------------------------------------------


def load_desired(path: DesiredPaths, today: date | None = None) -> DesiredState:
    """Load the desired state and run the baseline's checks on it (expired exceptions,
    declared violations without one); DesiredStateError lists every issue."""
    state = _load(path)
    problems, state.warnings = check_desired(state, today or date.today())
    if problems:
        raise_sorted(problems, state.files)
    return state


@contextlib.contextmanager
def opened(org: OrgLike, hooks: Hooks | None = None) -> Iterator[Org]:
    """The org to work on: an OrgTarget is opened (and closed after); an Org is used as is."""
    if isinstance(org, OrgTarget):
        # Here, not at the top: `validate` never loads the org stack (requests, lxml).
        from .org.registry import open_org

        hooks = hooks or Hooks()
        with contextlib.ExitStack() as stack:
            with hooks.waiting("Logging in to the org"):
                opened_org = stack.enter_context(open_org(org, os.environ, hooks.notify))
            hooks.opened(opened_org)
            yield opened_org
    else:
        yield org


def make_plan(
    org: Org,
    desired: DesiredState,
    only: Collection[str] = (),
    exclude: Collection[str] = (),
    usage: UsagePolicy = UsagePolicy(),
    hooks: Hooks | None = None,
) -> tuple[Plan, LiveState]:
    """Read the declared apps from the org and diff them. Read-only: no write API is called.

    I/O first (live state, then one look-up round for every run-as user the plan could need
    and their client-credentials logins), then pure planning: the plan, risk and usage
    included, is complete when build_plan returns. Changes that would break an integration in
    use are held unless `usage.allow_breaking`."""
    selected_apps = select_apps(desired, only, exclude)
    names = [app.name for app in selected_apps]
    # Unlisted apps matter to the baseline unless ignored (or the run is narrowed by --app).
    wants_all = desired.baseline.unlisted != "ignore" and not only
    waiting = (hooks or Hooks()).waiting
    # Connected Apps are read through the same parallel path and planned like ECAs; even when
    # none is declared, their names keep their LoginHistory rows from being attributed to an
    # ECA that shares the run-as user (usage.grade_usage's `all_apps`).
    with waiting("Listing the org's apps"):
        live = read_live(org, only=None if wants_all else names, connected=True)
    declared = {app.name: app.values for app in selected_apps}
    with waiting("Looking up run-as users and their logins"):
        lookups = look_up(org, run_as_candidates(live.apps, declared), usage.window_days)
    plan = build_plan(desired, live, org.instance_url, only, exclude, lookups, usage.allow_breaking)
    return plan, live


def _refuse_directory(path: Path | None) -> None:
    """Fail before touching the org, not after, when an output path cannot be written."""
    if path is not None and path.is_dir():
        raise ReconcilerError(f"{path} is a directory; give a file name")


def _record(
    directory: Path | None, command: str, plan: Plan, result: dict[str, Any], hooks: Hooks
) -> Path | None:
    if directory is None:
        return None
    from .evidence import write_evidence  # evidence and plan files: only for runs that write them

    return write_evidence(directory, command, plan, result)


def _refused(
    directory: Path | None, command: str, plan: Plan, exc: Exception, hooks: Hooks
) -> None:
    """Evidence of a run refused before any write (lock, valve, errors, no confirmation):
    a named outcome, so a refused pipeline run leaves a record too."""
    result = {"ok": False, "refused": type(exc).__name__, "reason": str(exc), "apps": []}
    path = _record(directory, command, plan, result, hooks)
    if path is not None:
        hooks.notify(f"Evidence: {path}")


class _Lock:
    """The org's lock, taken once the plan is made (the org id it needs is then known from the
    reads, whose waiting hides simple-salesforce's import) and held to the end of the run.

    Writes re-read their components and refuse a moved field, so a plan made just before the
    lock writes nothing wrong; a run that waited plans again against what the holder left."""

    def __init__(self, stack: contextlib.ExitStack, command: str, timeout: float, hooks: Hooks):
        self.stack, self.command, self.timeout, self.hooks = stack, command, timeout, hooks

    def take(self, org_id: str) -> bool:
        """Hold the lock; True when another run held it (or left it behind)."""
        contended: list[str] = []

        def warn(message: str) -> None:
            contended.append(message)
            self.hooks.warn(message)

        self.stack.enter_context(org_lock(org_id, self.command, self.timeout, warn=warn))
        return bool(contended)


@dataclass(frozen=True)
class _Gates:
    """Which checks stand between a plan and its first write."""

    errors: bool = True  # a saved plan's errors are refused by the applier itself
    confirm: bool = True  # a saved plan is the reviewed artefact: not asked again


def _checked(
    command: str,
    plan: Plan,
    safety: Safety,
    evidence_dir: Path | None,
    hooks: Hooks,
    gates: _Gates = _Gates(),
) -> None:
    """The gates between a plan and its first write: errors, the valve, the caller's yes.
    A refusal is recorded as evidence (what was refused, and why) before it is raised."""
    verb = "roll back" if command == "rollback" else command
    try:
        if gates.errors and plan.errors:
            raise ReconcilerError(
                f"the {'rollback ' if command == 'rollback' else ''}plan has errors; "
                "nothing was written"
            )
        # A rollback plan carries no org app count, so only an explicit limit holds it: it
        # restores what a reviewed apply changed, and the default threshold is not for that.
        raise_if_unsafe(plan, safety.max_changes)
        if gates.confirm and not hooks.confirm(plan):
            raise Cancelled(f"{verb} cancelled; nothing was written")
    except ReconcilerError as exc:
        _refused(evidence_dir, command, plan, exc, hooks)
        raise


def _write(
    org: Org,
    command: str,
    plan: Plan,
    live: LiveState,
    request: ApplyRequest | RollbackRequest,
    hooks: Hooks,
) -> ApplyOutcome:
    """Back up, write, verify; evidence whatever happened (a stop, a failure)."""
    result = apply_plan(
        org,
        plan,
        live,
        stop=request.stop,
        policy=_retry(request.org),
        backup_dir=request.backup_dir or default_backup_dir(),
        notify=hooks.notify,
        undo=lambda backup: hints.rollback(backup, org_arguments(request.org)),
    )
    from .render.apply_view import result_document  # the evidence stores what --format json prints

    evidence = _record(request.evidence_dir, command, plan, result_document(result), hooks)
    return ApplyOutcome(plan, result, evidence)


def org_arguments(org: OrgLike) -> list[str]:
    """The org arguments a hint must repeat (none for an Org a Python caller opened)."""
    return org.arguments() if isinstance(org, OrgTarget) else []


def _retry(org: OrgLike) -> RetryPolicy:
    """The run's retry policy for saves: the target's, or the applier's default for an Org."""
    return org.calls.retry if isinstance(org, OrgTarget) else SAVE_RETRY


@contextlib.contextmanager
def _lock_refused(
    command: str, plan: Plan, evidence_dir: Path | None, hooks: Hooks
) -> Iterator[None]:
    """Evidence for a run refused at the lock: a named outcome, not silence."""
    try:
        yield
    except LockHeld as exc:
        _refused(evidence_dir, command, plan, exc, hooks)
        raise


# -- the commands -------------------------------------------------------------------------------


def read_plan(path: Path) -> Plan:
    """A saved plan file, checked (what `apply PLANFILE` will compare with a fresh plan)."""
    return planfile.read(path)


def desired_schema() -> str:
    """The JSON Schema of the desired-state YAML (draft 2020-12), for editors."""
    from .schema import schema_text

    return schema_text()


def validate(desired: DesiredPaths) -> DesiredState:
    """The desired state, checked offline (structure, then the baseline's own checks)."""
    return load_desired(desired)


def plan(request: PlanRequest, hooks: Hooks = Hooks()) -> PlanOutcome:
    """Read-only: the plan, the safety valve's verdict on it, and (if asked) the plan file
    and the evidence record."""
    _refuse_directory(request.out)
    desired = load_desired(request.desired)
    with opened(request.org, hooks) as org:
        the_plan, _ = make_plan(
            org, desired, request.scope.apps, request.scope.exclude, request.usage, hooks
        )
    check = assess(the_plan, request.safety.max_changes)
    saved = planfile.write(the_plan, request.out, check) if request.out else None
    outcome = "errors" if the_plan.errors else ("changes" if the_plan.changes else "no changes")
    evidence = _record(request.evidence_dir, "plan", the_plan, {"outcome": outcome}, hooks)
    return PlanOutcome(the_plan, check, saved, evidence)


def apply(request: ApplyRequest, hooks: Hooks = Hooks()) -> ApplyOutcome:
    """Make the org match the desired state (or apply a saved plan exactly), with every
    guarantee: lock, re-plan after waiting, safety valve, confirmation, backup, verification,
    evidence. A saved plan is the reviewed artefact, so it is not confirmed again."""
    if request.plan_file is not None and (request.scope.apps or request.scope.exclude):
        raise ReconcilerError("--app/--exclude cannot narrow a saved plan; re-run plan instead")
    saved = planfile.read(request.plan_file) if request.plan_file is not None else None
    usage = request.usage
    if saved is not None:
        if usage.allow_breaking and not saved.allow_breaking:
            raise ReconcilerError(
                "--allow-breaking cannot widen a saved plan; re-run plan --allow-breaking instead"
            )
        # The saved plan says how it weighed usage; the re-plan must weigh it the same way.
        usage = UsagePolicy(saved.usage_window_days, saved.allow_breaking)
    desired = load_desired(request.desired)
    if saved is not None:
        differences = planfile.desired_differences(saved, desired)
        if differences:
            raise _named(planfile.mismatch(differences, desired_changed=True), request.plan_file)
    scope = (
        (tuple(saved.scope_apps), tuple(saved.scope_exclude))
        if saved is not None
        else (request.scope.apps, request.scope.exclude)
    )
    with opened(request.org, hooks) as org, contextlib.ExitStack() as stack:

        def fresh() -> tuple[Plan, LiveState]:
            made = make_plan(org, desired, *scope, usage, hooks)
            if saved is not None:
                differences = planfile.check(saved, made[0], desired)
                if differences:
                    raise _named(
                        planfile.mismatch(differences, desired_changed=False), request.plan_file
                    )
            return made

        the_plan, live = fresh()
        lock = _Lock(stack, "apply", request.safety.lock_timeout, hooks)
        with _lock_refused("apply", the_plan, request.evidence_dir, hooks):
            if lock.take(the_plan.org_id):
                the_plan, live = fresh()
        if saved is None:
            hooks.show(the_plan)
            if not the_plan.errors and not the_plan.changes:
                evidence = _record(
                    request.evidence_dir, "apply", the_plan, {"ok": True, "apps": []}, hooks
                )
                return ApplyOutcome(the_plan, None, evidence)
        gates = _Gates() if saved is None else _Gates(errors=False, confirm=False)
        _checked("apply", the_plan, request.safety, request.evidence_dir, hooks, gates)
        return _write(org, "apply", the_plan, live, request, hooks)


def _named(error: planfile.PlanMismatchError, path: Path | None) -> planfile.PlanMismatchError:
    return planfile.PlanMismatchError(f"{path}: {error}")


def rollback(request: RollbackRequest, hooks: Hooks = Hooks()) -> ApplyOutcome:
    """Undo an apply from its backup: the fields it changed go back, through the same checked
    write path (lock, re-plan after waiting, confirmation, backup, verification, evidence)."""
    backup = load_backup(request.backup)
    with opened(request.org, hooks) as org, contextlib.ExitStack() as stack:

        def fresh() -> tuple[Plan, LiveState]:
            """I/O first (the backed-up components, read by name), then pure planning."""
            if org.org_id != backup.org_id:
                raise ReconcilerError(
                    f"{backup.path} was made for org {backup.org_id}, but this org is "
                    f"{org.org_id}; nothing was written"
                )
            components: dict[str, Component] = {}
            for type_name, names in backed_up(backup).items():
                components.update({c.full_name: c for c in org.read(type_name, names)})
            return plan_rollback(backup, components, org.instance_url)

        the_plan, live = fresh()
        lock = _Lock(stack, "rollback", request.safety.lock_timeout, hooks)
        with _lock_refused("rollback", the_plan, request.evidence_dir, hooks):
            if lock.take(the_plan.org_id):
                the_plan, live = fresh()
        hooks.show(the_plan)
        if not the_plan.errors and not the_plan.changes:
            evidence = _record(
                request.evidence_dir, "rollback", the_plan, {"ok": True, "apps": []}, hooks
            )
            return ApplyOutcome(the_plan, None, evidence)
        _checked("rollback", the_plan, request.safety, request.evidence_dir, hooks)
        return _write(org, "rollback", the_plan, live, request, hooks)


def audit(
    org: OrgLike,
    desired: DesiredPaths | None = None,
    hooks: Hooks = Hooks(),
    usage_window_days: int | None = DEFAULT_USAGE_WINDOW,
) -> AuditReport:
    """Read-only: the live org judged against the baseline (the desired state's, else the
    default one); desired-state warnings go to `hooks.warn` before the org is read."""
    state = load_desired(desired) if desired else None
    for warning in state.warnings if state else []:
        hooks.warn(str(warning))
    with opened(org, hooks) as open_org_:
        return audit_org(open_org_, state, usage_window_days)


def audit_org(
    org: Org, desired: DesiredState | None, usage_window_days: int | None = DEFAULT_USAGE_WINDOW
) -> AuditReport:
    """Read the org, look up the run-as users of apps with client credentials on and their
    client-credentials logins over `usage_window_days` (None: no usage look-up), judge."""
    live = read_live(org, connected=True)
    controls = desired.baseline.controls if desired else DEFAULT_BASELINE
    # The approval look-up only when its control is selected: a describe and a few queries.
    approval = APPROVAL_BYPASS in controls
    lookups = look_up(org, run_as_to_look_up(live, desired), usage_window_days, approval=approval)
    return build_audit(desired, live, lookups, org.instance_url)


def export(
    org: OrgLike,
    only: Collection[str] = (),
    out: Path | None = None,
    hooks: Hooks = Hooks(),
    as_eca: bool = False,
    source_dir: Path | None = None,
) -> str:
    """Desired-state YAML for the live org (written to `out` too, if given); with `as_eca`,
    the ECA desired state that would replace each Connected App (export_as_eca_yaml), and
    with `source_dir` also those ECAs' SFDX source files (eca_source.py) under it."""
    _refuse_directory(out)
    if source_dir is not None and not as_eca:
        raise ReconcilerError("--source-dir writes ECA source files: use it with --as-eca")
    files: dict[Path, str] = {}
    with opened(org, hooks) as open_org_:
        if as_eca:
            keys = [F.connected_key(n) for n in only]
            live = read_live(open_org_, only=keys or None, connected=True)
            text = export_as_eca_yaml(live, only)
            if source_dir is not None:
                files = _eca_source_files(live, only, source_dir)
        else:
            text = export_yaml(read_live(open_org_, only=only or None), only)
    for path, content in files.items():
        write_atomic(path, content)
    if out is not None:
        write_atomic(out, text)
    return text


def _eca_source_files(live: LiveState, only: Collection[str], root: Path) -> dict[Path, str]:
    """Path -> text of every ECA source file the move needs. Nothing is overwritten: an
    existing file (a previous export, or the team's own) refuses the export before any write."""
    from .eca_source import eca_files  # lxml: never loaded by `validate` or `--help`

    files: dict[Path, str] = {}
    for name, key in connected_apps(live, only):
        component = live.apps[key].component("connected")
        body, _ = as_eca_values(live.apps[key].values())
        fields = component.fields if component is not None else {}
        files.update({root / rel: text for rel, text in eca_files(name, body, fields).items()})
    existing = sorted(str(p) for p in files if p.exists() or p.is_symlink())
    if existing:
        raise ReconcilerError(
            f"--source-dir: {len(existing)} file(s) already exist, e.g. {existing[0]}; move "
            "them away or choose another folder (nothing was written)"
        )
    return files
