"""Applying a Plan: fresh read-modify-write per phase, save retries, verification, a report.

Order matters for client credentials (eca doc §6): enabling is documented as settings first,
then policies; for disabling we take the reverse (policies first, then settings) so that at no
moment does a half-applied run leave the admin switch on over a developer switch that is off.
That reverse order is this project's choice, not a documented Salesforce rule.

No lost updates: the plan was made from a read that may be minutes old (a prompt sat in
between). Immediately before each updateMetadata call the components are read again by name and
the planned fields are set on that fresh copy, so a field nobody declared goes back exactly as
the org holds it at that moment. A planned field whose live value moved since the plan refuses
its app ("stale") instead of silently overwriting someone else's change.

The adapter never retries writes; this module does, because only it can re-read and re-check
first. Whatever happens (save errors, lost answers, signals, API limits, expired sessions) the
caller gets an ApplyResult saying per app what the org now holds, never an exception halfway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import fields as F
from .backup import write_backup
from .diffing import same as _same
from .display import show
from .errors import (
    OrgError,
    PlanFileError,
    ReconcilerError,
    RequestLimitExceeded,
    SessionExpired,
    TransientOrgError,
)
from .model import (
    ApplyResult,
    AppPlan,
    AppResult,
    Component,
    FieldChange,
    LiveState,
    Plan,
    StepOutcome,
    StepState,
    unwritable_fields,
)
from .org.interface import Org, SaveOutcome
from .org.retry import RetryPolicy
from .stopping import STOP, StopRequest

log = logging.getLogger(__name__)

#: Retries of a save that failed with a transient statusCode (UNABLE_TO_LOCK_ROW, ...). The
#: first write counts as attempt 1; each retry re-reads and re-checks staleness first.
SAVE_RETRY = RetryPolicy(attempts=4, max_seconds=60.0, base_delay=0.5)
HELD = "already held the planned values"
#: Components per Metadata API call (wire doc §4).
ONE_CALL = 10


class _Stopped(Exception):
    """The stop flag was seen between calls."""


class _NoBackup(Exception):
    """The backup could not be written (the message names the path and the OS's reason).
    Without it the run could not be undone, so it writes nothing: a named outcome, not an
    internal error."""


def _phase_of(app: AppPlan, side: F.Side) -> int:
    """0: settings that enable client credentials; 1: policies; 2: all other settings;
    3: Connected Apps (one component each: no order to keep, but a phase writes one type)."""
    if side == "connected":
        return 3
    if side == "policies":
        return 1
    enabling = any(c.field == "client_credentials" and c.after is True for c in app.changes)
    return 0 if enabling else 2


def _modified(component: Component, app: AppPlan, side: F.Side) -> Component:
    """The fresh component with only the planned fields changed: nothing else is touched."""
    new = component.copy()
    for change in app.changes_on(side):
        F.wire_set(new.fields, change.spec.wire, change.spec.to_wire(change.after))
    for flag in F.ROTATE_FIELDS:
        # A rotation trigger read back as true must not be replayed: it would mint new secrets.
        if new.fields.get(flag):
            new.fields[flag] = False
    return new


# -- per-app results ----------------------------------------------------------------------


# -- one component write ------------------------------------------------------------------


@dataclass
class _Step:
    """One side of one app: a single component to read, modify and write."""

    app: AppPlan
    side: F.Side
    full_name: str
    phase: int
    state: StepState = "pending"
    note: str = ""
    fresh: Component | None = None
    sent: Component | None = None
    last: SaveOutcome | None = None
    doubts: int = 0  # answers lost so far
    extra: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[FieldChange]:
        return self.app.changes_on(self.side)

    @property
    def type_name(self) -> str:
        return F.TYPE_OF_SIDE[self.side]

    def classify(self, component: Component) -> tuple[str, list[str]]:
        """("holds" | "ready" | "stale", why) for a fresh copy of this step's component.

        A planned field may hold its planned `before` (to be written) or already its `after`
        (someone converged it: nothing lost by writing it again); anything else moved. A field
        coupled with a planned one (one setting: the refresh-token policy, period and unit)
        that the plan observed but does not change must still hold what was observed: else
        writing the planned part would make a mix nobody declared."""
        now = F.decode_component(self.side, component.fields)
        moved, at_after = [], 0
        planned = {change.path: change for change in self.changes}
        for change in self.changes:
            value = now.get(change.path)
            if _same(value, change.after):
                at_after += 1
            elif not _same(value, change.before):
                moved.append(
                    f"{change.path} was {show(change.before)} when planned, now {show(value)}"
                )
        for path, change in planned.items():
            for mate in F.coupled(path):
                if mate in planned or mate not in self.app.observed:
                    continue
                then, value = self.app.observed[mate], now.get(mate)
                line = f"{mate} was {show(then)} when planned, now {show(value)}"
                if not _same(value, then) and not any(m.startswith(line) for m in moved):
                    moved.append(f"{line} (one setting with {change.path})")
        if moved:
            return "stale", moved
        return ("holds" if at_after == len(self.changes) else "ready"), []

    @property
    def cause(self) -> str:
        """Why the last answer did not count, e.g. a proxy's HTTP 503 page (item 2 of issue 16:
        an unusable answer is settled like a lost one, but the report still names it)."""
        return f" (last: {self.last.describe()})" if self.last and not self.last.success else ""

    def set(self, state: StepState, note: str = "") -> None:
        self.state, self.note = state, note


class _Run:
    """One apply: state that must survive any exception, so a report can always be made."""

    def __init__(
        self,
        org: Org,
        plan: Plan,
        names: Mapping[tuple[str, F.Side], str],
        stop: StopRequest,
        policy: RetryPolicy,
        backup_dir: Path | None,
        notify: Callable[[str], None],
        undo: Callable[[Path], str] = lambda path: f"reconciler rollback {path}",
    ) -> None:
        self.org, self.plan, self.stop, self.policy = org, plan, stop, policy
        self.backup_dir, self.notify, self.undo = backup_dir, notify, undo
        self.steps = sorted(
            (
                _Step(app, side, names[(app.name, side)], _phase_of(app, side))
                for app in plan.changed_apps
                for side in F.TYPE_OF_SIDE
                if app.changes_on(side)
            ),
            key=lambda s: (s.phase, s.app.name),
        )
        #: Each app's steps, so per-app questions cost O(1), not a scan of every step.
        self.by_app: dict[str, list[_Step]] = {}
        for step in self.steps:
            self.by_app.setdefault(step.app.name, []).append(step)
        self.in_flight: list[_Step] = []
        self.result = ApplyResult([])
        #: Steps whose fresh copy the preparing read gave (the first phase writes from it).
        self._prepared: set[int] = set()
        #: Set when the org said stop (API limit, session gone): no further call can succeed.
        self._fatal = False
        #: Steps refused because their component holds a value XML 1.0 cannot carry.
        self._unwritable: set[int] = set()

    # -- the run ------------------------------------------------------------------------------

    def execute(self) -> ApplyResult:
        abandoned = False
        try:
            self._prepare()
            for phase in sorted({s.phase for s in self.steps}):
                self._phase(phase)
        except _Stopped:
            self.result.interrupted = True
        except _NoBackup as exc:
            self.result.error = f"the backup could not be written, so nothing was written: {exc}"
            for step in self.steps:
                if step.state in ("pending", "written"):  # written: already held, not sent
                    step.set("skipped", "the backup could not be written")
        except KeyboardInterrupt:  # a second signal: abandon the call in flight
            self.result.interrupted = abandoned = True
            for step in self.in_flight:
                step.set("unknown", "interrupted while the write was in flight")
        except OrgError as exc:
            self.result.error = str(exc)
            for step in self.in_flight:
                step.set("unknown", f"the write call ended with: {exc}")
        except Exception as exc:  # a bug: still say what was written before it
            log.debug("apply stopped by an internal error", exc_info=True)
            self.result.error = f"internal error ({type(exc).__name__}): {exc}"
            self._fatal = True
            for step in self.in_flight:
                step.set("unknown", "the run failed while the write was in flight")
        self.result.signum = self.stop.signum if self.result.interrupted else None
        for step in self.steps:
            if step.state == "pending":
                why = "interrupted" if self.result.interrupted else "the run stopped before it"
                step.set("skipped", why)
        if not abandoned and not self._fatal:
            try:
                self._verify()
            except KeyboardInterrupt:
                self.result.interrupted = True
                self.result.signum = self.stop.signum
            except OrgError as exc:
                self.result.error = f"verification read failed: {exc}"
        for step in self.steps:
            if step.state == "written":  # verification never ran (abandoned, or org said stop)
                step.set("unverified", step.note)
        self._summarise()
        return self.result

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise _Stopped

    def _read(self, type_name: str, steps: Iterable[_Step]) -> dict[str, Component]:
        try:
            return {
                c.full_name: c
                for c in self.org.read(type_name, sorted({s.full_name for s in steps}))
            }
        except (RequestLimitExceeded, SessionExpired):
            self._fatal = True
            raise

    def _prepare(self) -> None:
        """Read every component to be written, refuse stale apps, back the rest up."""
        self._check_stop()
        for side in F.TYPE_OF_SIDE:
            steps = [s for s in self.steps if s.side == side]
            if steps:
                self._refresh(F.TYPE_OF_SIDE[side], steps)
        refused = {s.app.name: "as stale" for s in self.steps if s.state == "stale"}
        for step in self.steps:
            if id(step) in self._unwritable:
                refused.setdefault(step.app.name, f"(its {step.side} cannot be written back)")
        for step in self.steps:
            if step.app.name in refused and step.state == "pending":
                step.set("skipped", f"the app was refused {refused[step.app.name]}")
        todo = [s for s in self.steps if s.state == "pending"]
        if todo and self.backup_dir is not None:
            try:
                self.result.backup = write_backup(
                    self.backup_dir,
                    self.plan,
                    self.org.org_id,
                    [(s.app.name, s.side, s.fresh) for s in todo if s.fresh is not None],
                )
            except (ReconcilerError, OSError) as exc:  # names the path and the OS reason
                raise _NoBackup(str(exc)) from None
            self.notify(
                f"Backup of the components to be written (secrets removed): "
                f"{self.result.backup}\n  undo this apply with `{self.undo(self.result.backup)}`"
            )
        self._prepared = {id(s) for s in todo}

    def _refresh(self, type_name: str, steps: list[_Step]) -> None:
        """Re-read `steps`' components by name and decide, per step, whether to write."""
        fresh = self._read(type_name, steps)
        for step in steps:
            component = fresh.get(step.full_name)
            if component is None:
                step.set("failed", f"{step.full_name} is no longer in the org")
                continue
            if self._refuse_unwritable(step, component):
                continue
            verdict, why = step.classify(component)
            if verdict == "holds":
                step.fresh = step.sent = component
                lost = "the answer was lost; a re-read shows the planned values"
                step.set("written", lost if step.doubts else HELD)
            elif verdict == "stale":
                if step.doubts:
                    step.set(
                        "unknown",
                        "the answer was lost and the org now holds neither the planned nor "
                        "the previous values: " + "; ".join(why),
                    )
                else:
                    step.set("stale", "; ".join(why))
            elif step.doubts >= 2:
                step.set(
                    "unknown",
                    f"the answer was lost twice{step.cause}; the org does not hold the values",
                )
            else:
                step.fresh = component

    def _refuse_unwritable(self, step: _Step, component: Component) -> bool:
        """Refuse a component that holds, in a field this plan does not replace, a character
        XML 1.0 cannot carry (issue 16): sending it back would change that value."""
        planned = {c.spec.wire for c in step.changes}
        bad = {
            path: chars
            for path, chars in unwritable_fields(component.fields).items()
            if path.partition(".")[0] not in planned
        }
        if not bad:
            return False
        fields = ", ".join(
            f"{path} (holds {', '.join(f'U+{ord(c):04X}' for c in chars)})"
            for path, chars in sorted(bad.items())
        )
        step.set(
            "failed",
            f"not written: {fields}: a character XML 1.0 cannot carry, which the org sent raw; "
            "writing the component back would change that value. Correct it in Setup.",
        )
        self._unwritable.add(id(step))
        return True

    def _phase(self, phase: int) -> None:
        steps = [s for s in self.steps if s.phase == phase and s.state == "pending"]
        ready = []
        for step in steps:
            blocker = next(
                (s for s in self.by_app[step.app.name] if s.phase < phase and s.state != "written"),
                None,
            )
            if blocker is not None:
                step.set("skipped", f"its {blocker.side} side was not written")
            else:
                ready.append(step)
        if not ready:
            return
        self._check_stop()
        type_name = ready[0].type_name
        if any(id(s) not in self._prepared for s in ready) or phase != self._first_phase:
            self._refresh(type_name, ready)
        self._write(type_name, [s for s in ready if s.state == "pending"])

    @property
    def _first_phase(self) -> int:
        return min((s.phase for s in self.steps if id(s) in self._prepared), default=-1)

    def _write(self, type_name: str, steps: list[_Step]) -> None:
        """One updateMetadata call for the phase; transient failures retried per policy."""
        pending = list(steps)
        attempts = 0

        def attempt() -> None:
            nonlocal pending, attempts
            attempts += 1
            if attempts > 1:
                self._check_stop()
                self._refresh(type_name, pending)
                pending = [s for s in pending if s.state == "pending"]
                if not pending:
                    return
            for step in pending:
                assert step.fresh is not None
                step.sent = _modified(step.fresh, step.app, step.side)
            self._check_stop()
            log.info("updating %d %s component(s)", len(pending), type_name)
            self.in_flight = pending
            outcomes = self.org.update(type_name, [s.sent for s in pending if s.sent])
            self.in_flight = []
            again = []
            for step, outcome in zip(pending, outcomes, strict=True):
                step.last = outcome
                if outcome.success:
                    step.set("written")
                elif outcome.in_doubt:
                    step.doubts += 1
                    again.append(step)
                elif outcome.transient:
                    again.append(step)
                else:
                    step.set("failed", outcome.describe())
            pending = again
            if any(s.doubts < 2 for s in pending):
                raise TransientOrgError(f"{len(pending)} {type_name} save(s) to retry")

        try:
            if pending:
                self.policy.run(f"updateMetadata {type_name}", attempt)
        except TransientOrgError:
            pass
        except _Stopped:
            self._settle(type_name, pending, attempts, "not retried: interrupted")
            raise
        except (RequestLimitExceeded, SessionExpired) as exc:
            self._fatal = True
            # One Metadata call (<= 10 components, wire doc §4) refused as a whole saved
            # nothing; several batches run concurrently, so some may have been saved.
            refused = len(self.in_flight) <= ONE_CALL
            for step in self.in_flight:
                step.set("failed" if refused else "unknown", f"refused: {exc}")
            self.in_flight = []
            for step in pending:
                if step.state == "pending":
                    step.set("unknown" if step.doubts else "failed", self._why(step, attempts))
            raise
        self._settle(type_name, pending, attempts, "")

    def _settle(self, type_name: str, pending: list[_Step], attempts: int, why: str) -> None:
        """Last word on saves still unresolved when retries ran out (or a stop came)."""
        pending = [s for s in pending if s.state == "pending"]
        doubtful = [s for s in pending if s.doubts]
        if doubtful:
            self._refresh(type_name, doubtful)
            for step in doubtful:
                if step.state == "pending":
                    step.set(
                        "unknown",
                        f"the answer was lost{step.cause} and the org does not hold the values",
                    )
        for step in pending:
            if step.state == "pending":
                step.set("failed", self._why(step, attempts) + (f"; {why}" if why else ""))

    @staticmethod
    def _why(step: _Step, attempts: int) -> str:
        last = step.last.describe() if step.last else "not saved"
        return last + (f" (after {attempts} attempts)" if attempts > 1 else "")

    # -- verification ------------------------------------------------------------------------

    def _verify(self) -> None:
        """Re-read only what was written; every field must be what was sent, no more, no less."""
        for side in F.TYPE_OF_SIDE:
            written = [s for s in self.steps if s.side == side and s.state == "written"]
            if not written:
                continue
            for step in written:
                step.set("unverified", step.note)
            now = self._read(F.TYPE_OF_SIDE[side], written)
            for step in written:
                self._check(step, now.get(step.full_name))

    def _check(self, step: _Step, component: Component | None) -> None:
        if component is None:
            step.set("failed", f"verification: {step.full_name} is no longer in the org")
            return
        note = step.note
        verdict, _ = step.classify(component)
        if verdict != "holds":
            now = F.decode_component(step.side, component.fields)
            wrong = [
                f"verification: {c.path} is {show(now.get(c.path))} after apply, "
                f"expected {show(c.after)}"
                for c in step.changes
                if not _same(now.get(c.path), c.after)
            ]
            step.set("failed", "; ".join(wrong))
            return
        step.set("verified", note)
        assert step.sent is not None
        planned = {c.spec.wire for c in step.changes}
        moved = unexpected_changes(step.sent.fields, component.fields, ignore=planned)
        if moved:
            step.extra.append(
                "verification: changed by someone else during this apply (not written by "
                "it): " + ", ".join(moved)
            )

    # -- the report ------------------------------------------------------------------------

    def _summarise(self) -> None:
        for app in self.plan.changed_apps:
            self.result.results.append(_app_result(app, self.by_app.get(app.name, [])))


def unexpected_changes(
    sent: Mapping[str, Any], now: Mapping[str, Any], ignore: Iterable[str] = ()
) -> list[str]:
    """Fields whose read-back differs from what was sent, as printable descriptions.

    Strings compare trimmed (the org trims on save) and rotation triggers are ignored (they
    are actions, not state). Secret values are never shown, only their names."""
    skip = set(ignore) | F.ROTATE_FIELDS
    out = []
    for key in sorted(set(sent) | set(now)):
        if key in skip or _norm(sent.get(key)) == _norm(now.get(key)):
            continue
        before, after = sent.get(key), now.get(key)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            # A Connected App's oauthConfig / oauthPolicy: compared field by field, so a
            # consumerKey the org regenerated on write is named (its value never shown) and a
            # planned nested field (`oauthConfig.x`) is skipped like a top-level one.
            inner = {k.split(".", 1)[1] for k in skip if k.startswith(f"{key}.")}
            out += [f"{key}.{d}" for d in unexpected_changes(before, after, inner)]
        elif key in F.SECRET_FIELDS:
            out.append(f"{key} (secret; value not shown)")
        else:
            out.append(f"{key}: {_shown(before)} -> {_shown(after)}")
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def _shown(value: Any) -> str:
    return show(value) if isinstance(value, str | bool | int | float | type(None)) else "(changed)"


def _app_result(app: AppPlan, steps: list[_Step]) -> AppResult:
    """Per app: its status and, per component, what happened and why (data; views word it)."""
    result = AppResult(app.name)
    states = {s.state for s in steps}
    if states & {"unknown", "unverified"}:
        result.status = "unknown"
    elif states == {"verified"}:
        result.status = "applied"
    elif "verified" in states:
        result.status = "partially applied"
    elif "failed" in states:
        result.status = "failed"
    for step in steps:
        held = step.state == "verified" and step.note == HELD
        result.steps.append(
            StepOutcome(
                side=step.side,
                component=step.full_name,
                state="held" if held else step.state,
                reason="" if held else step.note,
                extra=list(step.extra),
            )
        )
        if step.state == "verified":
            result.written.append(step.side)
        else:
            result.remaining += [
                f"{c.path}: {show(c.before)} -> {show(c.after)}" for c in step.changes
            ]
    return result


def component_names(live: LiveState) -> dict[tuple[str, F.Side], str]:
    """(app, side) -> fullName of the component that side lives in."""
    out: dict[tuple[str, F.Side], str] = {}
    for name, app in live.apps.items():
        for side in F.TYPE_OF_SIDE:
            component = app.component(side)
            if component is not None:
                out[(name, side)] = component.full_name
    return out


def apply_plan(
    org: Org,
    plan: Plan,
    live: LiveState,
    *,
    stop: StopRequest | None = None,
    policy: RetryPolicy = SAVE_RETRY,
    backup_dir: Path | None = None,
    notify: Callable[[str], None] | None = None,
    undo: Callable[[Path], str] | None = None,
) -> ApplyResult:
    """Write the plan's changes (fresh read-modify-write per phase), verify, report.

    `live` only names the components; their contents are read again before each write. Never
    raises once writing may have begun: errors, signals and lost answers end up in the result.
    """
    if plan.errors:
        names = sorted({name for name, _ in plan.errors})
        raise PlanFileError(
            f"the plan has errors for {', '.join(names)}; fix them or leave those apps out "
            "with --exclude"
        )
    stop = stop if stop is not None else STOP
    run = _Run(
        org,
        plan,
        component_names(live),
        stop,
        policy,
        backup_dir,
        notify or (lambda message: log.info("%s", message)),
        *([undo] if undo is not None else []),
    )
    stop.active = True
    try:
        return run.execute()
    finally:
        stop.active = False
