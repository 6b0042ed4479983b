"""The one model every stage shares: live components and apps, field changes, plans.

Desired apps live in desired_state.py (they carry source locations); everything the org says is
a Component, grouped into LiveApps; the planner turns the two into a Plan that renderers print
and the applier executes. A Plan never holds a secret: it only holds declared fields.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import fields as F


@dataclass
class Component:
    """One Metadata API component, all fields as the org returned them (secrets included).

    It exists only in memory, to be written back whole (read-modify-write). Its repr masks
    secrets so a stray log line or traceback cannot leak them.
    """

    type: str
    full_name: str
    fields: dict[str, Any]

    def __repr__(self) -> str:
        return f"Component({self.type}, {self.full_name}, {_masked(self.fields)})"

    __str__ = __repr__

    @property
    def parent(self) -> str | None:
        """The app this satellite belongs to: its `externalClientApplication` field (eca doc §7)."""
        return self.fields.get("externalClientApplication")

    def copy(self) -> Component:
        return Component(self.type, self.full_name, copy.deepcopy(self.fields))


def _masked(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Secrets shown as *** at any depth (a Connected App nests them in oauthConfig)."""
    return {
        k: "***" if k in F.SECRET_FIELDS else (_masked(v) if isinstance(v, Mapping) else v)
        for k, v in fields.items()
    }


#: Characters XML 1.0 cannot carry: C0 controls but tab, LF, CR; and the non-characters
#: U+FFFE, U+FFFF. A value holding one can be read (soap.py marks it) but never written back.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def unwritable_fields(fields: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Field path -> the characters XML 1.0 cannot carry that its text holds.

    Writing such a value back is impossible as it is (lxml refuses it; Salesforce's own client
    would strip the characters, changing the value), so the applier refuses the component."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        path = f"{prefix}{key}"
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str):
                found = "".join(sorted(set(XML_ILLEGAL.findall(item))))
                if found:
                    out[path] = "".join(sorted(set(out.get(path, "") + found)))
            elif isinstance(item, Mapping):
                out.update(unwritable_fields(item, f"{path}."))
    return out


@dataclass
class LiveApp:
    """An app as found in the org: an ECA with its two OAuth components (either may be
    missing), or a Connected App (name `ConnectedApp:<fullName>`) with its one component."""

    name: str
    settings: Component | None = None
    policies: Component | None = None
    connected: Component | None = None
    #: Why the settings side could not be read (e.g. consumer-secret access off), if it could not.
    settings_unreadable: str | None = None
    #: Problems that make the app unmanageable (e.g. two policy components claim it).
    problems: list[str] = field(default_factory=list)
    _values: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _values_key: tuple[int, int, int] | None = field(default=None, repr=False, compare=False)

    def component(self, side: F.Side) -> Component | None:
        if side == "connected":
            return self.connected
        return self.settings if side == "settings" else self.policies

    @property
    def is_connected(self) -> bool:
        return F.is_connected(self.name)

    @property
    def certificate(self) -> bool | None:
        """Whether a certificate is registered; None when the side holding it was not read."""
        if self.connected is not None:
            return bool(F.wire_get(self.connected.fields, "oauthConfig.certificate"))
        if self.settings is not None:
            return bool(self.settings.fields.get("certificate"))
        return None

    def values(self) -> dict[str, Any]:
        """Every managed field in YAML terms, keyed by field path; absent sides are omitted.

        Decoded once per pair of components (planning, risk and export all ask), and handed
        out as a copy so no caller can change another's view."""
        key = (id(self.settings), id(self.policies), id(self.connected))
        if self._values_key != key:
            out: dict[str, Any] = {}
            for side in F.TYPE_OF_SIDE:
                comp = self.component(side)
                if comp is not None:
                    out.update(F.decode_component(side, comp.fields))
            self._values, self._values_key = out, key
        return dict(self._values)


@dataclass(frozen=True)
class FieldChange:
    app: str
    side: F.Side
    field: str  # YAML key inside the side, e.g. "client_credentials" or "refresh_token.period"
    before: Any
    after: Any
    #: The baseline control that asked for this change, when the YAML did not declare the field.
    control: str | None = None

    @property
    def path(self) -> str:
        return f"{self.side}.{self.field}"

    @property
    def spec(self) -> F.FieldSpec:
        return F.BY_PATH[self.path]

    @property
    def enables_flow(self) -> bool:
        """A change that turns an OAuth flow on: rendered with a warning mark."""
        return self.spec.flow_switch and self.after is True and self.before is not True


@dataclass(frozen=True)
class Finding:
    """A value that violates a baseline control; `exception` set when it is accepted."""

    app: str
    control: str
    path: str
    value: Any
    listed: bool  # declared under `apps:` (else an unlisted org app)
    exception: dict[str, Any] | None = None
    file: str | None = None
    line: int | None = None

    @property
    def accepted(self) -> bool:
        return self.exception is not None


@dataclass
class RunAsUser:
    username: str
    #: None: unknown, the org refused the User query (risk_lookup.py).
    found: bool | None
    active: bool | None = None
    api_only: bool | None = None
    profile: str | None = None
    #: Powerful permissions and where each comes from, e.g. "Modify All Data (profile X)".
    powers: list[str] = field(default_factory=list)


@dataclass
class RiskContext:
    """Why an app with client credentials on is more or less dangerous (control text, SEED)."""

    #: high | unknown | medium | low. `unknown`: the org refused a run-as lookup whose answer
    #: could change the level; factors starting with "?" say which and why (risk.py `_level`).
    level: str
    run_as: RunAsUser | None
    ip_enforced: bool | None
    ip_relaxation: str | None
    certificate: bool | None  # None: the settings side could not be read
    factors: list[str] = field(default_factory=list)


@dataclass
class AppPlan:
    """What the plan says about one declared app."""

    name: str
    changes: list[FieldChange] = field(default_factory=list)
    #: Live values of every declared field when planned: the staleness check compares these.
    observed: dict[str, Any] = field(default_factory=dict)
    #: Blocking problems (app missing, side unreadable but declared, ...). Apply refuses them.
    errors: list[str] = field(default_factory=list)
    #: Non-blocking remarks (side unreadable but not declared, ...).
    notes: list[str] = field(default_factory=list)
    #: False for an org app not under `apps:` (planned by `unlisted: enforce|report`).
    listed: bool = True
    #: Baseline violations that remain after the plan (accepted ones carry their exception).
    findings: list[Finding] = field(default_factory=list)
    #: Set where client credentials stay or become enabled.
    risk: RiskContext | None = None
    #: Client-credentials logins in the usage window: set for every app whose client
    #: credentials are on in the org (either side), when a usage look-up was made.
    usage: Usage | None = None
    #: True when a planned change turns client credentials off while the app is in use: the
    #: YAML declared it for this app, or `--allow-breaking` released it (views mark it).
    breaking: bool = False
    #: Exceptions (control ids) whose app had no client-credentials login in the window.
    unused_exceptions: list[str] = field(default_factory=list)

    def changes_on(self, side: F.Side) -> list[FieldChange]:
        return [c for c in self.changes if c.side == side]


@dataclass
class Plan:
    """A plain object: renderers print it, plan files store it, the applier executes it."""

    org_id: str
    instance_url: str
    desired_digest: str
    created_at: str
    apps: list[AppPlan]

    @property
    def changes(self) -> list[FieldChange]:
        return [c for app in self.apps for c in app.changes]

    @property
    def changed_apps(self) -> list[AppPlan]:
        return [app for app in self.apps if app.changes]

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(app.name, e) for app in self.apps for e in app.errors]

    #: Desired-state warnings (exceptions expiring soon or not needed), as printable lines.
    warnings: list[str] = field(default_factory=list)
    #: The baseline control ids the plan was judged against.
    controls: list[str] = field(default_factory=list)
    #: The desired-state files the plan was made from (recorded in evidence).
    desired_files: list[str] = field(default_factory=list)
    #: File name (relative to the desired root) -> sha256: `apply PLANFILE` names what changed.
    desired_file_digests: dict[str, str] = field(default_factory=dict)
    #: The run's `--app` / `--exclude`: `apply PLANFILE` re-plans with the same scope.
    scope_apps: list[str] = field(default_factory=list)
    scope_exclude: list[str] = field(default_factory=list)
    #: ExternalClientApplication components the org listed (all of them, whatever the scope):
    #: the safety valve's denominator (safety.py). None when not read from the org.
    org_app_count: int | None = None
    #: The desired state's `exception_warning_days`: views flag exceptions expiring sooner.
    exception_warning_days: int | None = None
    #: Changes kept out of `changes` because they would break an integration in use
    #: (planning.hold_breaking); `--allow-breaking` releases them into `changes`.
    held: list[HeldChange] = field(default_factory=list)
    #: The run's `--allow-breaking` and `--usage-window` (None: no usage look-up): `apply
    #: PLANFILE` re-plans with the same.
    allow_breaking: bool = False
    usage_window_days: int | None = None

    def app(self, name: str) -> AppPlan | None:
        return next((a for a in self.apps if a.name == name), None)

    def summary(self) -> dict[str, int]:
        return {
            "apps_to_change": len(self.changed_apps),
            "fields_to_change": len(self.changes),
            "flows_to_enable": sum(1 for c in self.changes if c.enables_flow),
            "apps_in_error": sum(1 for a in self.apps if a.errors),
            "apps_declared": sum(1 for a in self.apps if a.listed),
            "unlisted_apps": sum(1 for a in self.apps if not a.listed),
            "violations": sum(1 for a in self.apps for f in a.findings if not f.accepted),
            "exceptions_in_force": len(
                {(f.app, f.control) for a in self.apps for f in a.findings if f.accepted}
            ),
            "high_risk_apps": sum(1 for a in self.apps if a.risk and a.risk.level == "high"),
            "held_changes": len(self.held),
            "breaking_apps": sum(1 for a in self.apps if a.breaking and a.changes),
        }


@dataclass
class LiveState:
    """What the org holds: every app read, grouped with its two OAuth components."""

    org_id: str
    apps: dict[str, LiveApp]
    #: Every ExternalClientApplication the org listed, whatever `only` kept (safety.py); the
    #: Connected Apps are not counted (live_state.read_live says why).
    app_count: int | None = None


#: `--usage-window` default: days of LoginHistory the usage look-up reads.
DEFAULT_USAGE_WINDOW = 30

#: The three run-as look-up queries, by the object each asks (risk_lookup.py sends them).
USER, PERMISSION_SET, ASSIGNMENT = "User", "PermissionSet", "PermissionSetAssignment"


@dataclass(frozen=True)
class LookupFailure:
    """One query the org refused or failed: the object queried and the org's (scrubbed) error."""

    query: str  # "User" | "PermissionSet" | "PermissionSetAssignment"
    error: str
    #: The org has nothing to look up (a source folder has no users): a note, not a refusal.
    skipped: bool = False


@dataclass
class RiskLookups:
    """What the org told us about the run-as users, and what it would not tell.

    `users` holds a RunAsUser for every requested username whose User query answered (found or
    not). `gaps` names, per username, the failed queries that would have completed its facts;
    a username in `gaps` but not in `users` could not be looked up at all.
    """

    requested: frozenset[str] = frozenset()
    users: dict[str, RunAsUser] = field(default_factory=dict)
    failures: list[LookupFailure] = field(default_factory=list)
    gaps: dict[str, list[LookupFailure]] = field(default_factory=dict)


@dataclass
class AuditReport:
    """The live org judged against the baseline (audit.py builds it; views print it)."""

    org_id: str
    instance_url: str
    created_at: str
    controls: list[str]
    apps_checked: list[str]
    findings: list[Finding]
    risks: dict[str, RiskContext]
    notes: list[str] = field(default_factory=list)
    #: Problems with the report itself (e.g. a refused run-as lookup left some risk unknown).
    warnings: list[str] = field(default_factory=list)
    #: Where unlisted apps' findings are located in SARIF: the file that sets the baseline.
    baseline_file: str | None = None
    baseline_line: int = 0
    #: App -> its client-credentials usage, for apps with client credentials on (either side).
    usage: dict[str, Usage] = field(default_factory=dict)
    #: App -> exceptions (control ids) not used in the usage window.
    unused_exceptions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if not f.accepted]

    @property
    def compliant(self) -> bool:
        return not self.violations


#: Risk levels, worst first; views sort by it. "unknown" (the run-as lookup failed, so the app
#: could not be graded) ranks right after "high": an app nobody could grade deserves a look
#: before the ones known to be only medium. Views treat a level missing here as the last.
LEVEL_ORDER: dict[str, int] = {"high": 0, "unknown": 1, "medium": 2, "low": 3}


# --- usage evidence (issue 15): who still uses client credentials ------------------------

#: The usage look-up's query, by the object it asks (usage_lookup.py sends it).
LOGIN_HISTORY = "LoginHistory"
#: Usage statuses. `unknown`: the org would not say (refused query, no run-as user, ...).
IN_USE, UNUSED, UNKNOWN_USAGE = "in_use", "unused", "unknown"


@dataclass(frozen=True)
class UsageSource:
    """One source address of client-credentials logins, successful and failed counted apart."""

    ip: str
    logins: int
    failed_logins: int

    def to_dict(self) -> dict[str, Any]:
        return {"ip": self.ip, "logins": self.logins, "failed_logins": self.failed_logins}


@dataclass
class Usage:
    """How often an app's client credentials flow was used in the window (usage.py grades it).

    `logins`/`failed_logins`/`last_login` are None when unknown; `last_login` is the last
    successful login, ISO-8601 UTC (`...Z`). `attributed_by` says how logins were tied to the
    app: by LoginHistory.Application, or through its run-as user alone; None when none were."""

    status: str  # in_use | unused | unknown
    window_days: int
    logins: int | None = None
    failed_logins: int | None = None
    last_login: str | None = None
    sources: list[UsageSource] = field(default_factory=list)
    attributed_by: str | None = None  # "application" | "run_as_user" | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Exactly the shape issue 15 gives for `"usage"` in JSON plans and audits."""
        return {
            "status": self.status,
            "window_days": self.window_days,
            "logins": self.logins,
            "failed_logins": self.failed_logins,
            "last_login": self.last_login,
            "sources": [s.to_dict() for s in self.sources],
            "attributed_by": self.attributed_by,
            "reason": self.reason,
        }


@dataclass
class UsageLookup:
    """The raw answer of the usage look-up (usage_lookup.py), graded by usage.py.

    `rows` are the LoginHistory aggregate records as the org returned them (None: the query
    was not answered; `failure` says why). `user_ids` maps each run-as username found by the
    User query (lower case) to its Id: the query asked only about those users."""

    window_days: int
    since: str  # ISO-8601 UTC: the window's start, as sent in the query
    now: str  # ISO-8601 UTC: when the window ends (the run's time)
    rows: list[dict[str, Any]] | None = None
    user_ids: dict[str, str] = field(default_factory=dict)
    failure: LookupFailure | None = None


# --- who can bypass app approval (issue 18) -------------------------------------------------

#: The two permissions by the label Salesforce gives them (ECA reference §15); their API field
#: names are UNVERIFIED, so the look-up finds them in the PermissionSet describe by label.
USE_ANY_API_CLIENT = "Use Any API Client"
APPROVE_UNINSTALLED = "Approve Uninstalled Connected Apps"
APPROVAL_PERMISSIONS = (USE_ANY_API_CLIENT, APPROVE_UNINSTALLED)


@dataclass
class ApprovalHolder:
    """A user holding an app-approval bypass permission, and through what."""

    username: str
    active: bool | None
    #: True when the user's profile grants Modify All Data: an administrator, for whom the
    #: grant is expected. None when that query failed.
    admin: bool | None
    #: permission label -> where it comes from (e.g. "permission set Any_API_Client").
    grants: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ApprovalLookup:
    holders: list[ApprovalHolder] = field(default_factory=list)
    #: Permission labels the org's PermissionSet describe does not have (older API version,
    #: or a different label): reported as not checked, never as "nobody holds it".
    missing: list[str] = field(default_factory=list)
    failures: list[LookupFailure] = field(default_factory=list)


@dataclass
class Lookups:
    """Everything the look-up stage read for planning and audit, handed in whole."""

    run_as: RiskLookups = field(default_factory=RiskLookups)
    #: None: no usage look-up was made (offline callers, or usage turned off).
    usage: UsageLookup | None = None
    #: None: not asked (the approval-bypass control is not selected).
    approval: ApprovalLookup | None = None


@dataclass(frozen=True)
class HeldChange:
    """A change kept out of the plan: it would turn client credentials off for an app in use
    while only the baseline or `defaults:` asked for it (planning.hold_breaking)."""

    change: FieldChange
    reason: str
    usage: Usage

    def to_dict(self) -> dict[str, Any]:
        c = self.change
        return {
            "app": c.app,
            "component": c.side,
            "field": c.field,
            "before": c.before,
            "after": c.after,
            "control": c.control,
            "reason": self.reason,
        }


# -- what an apply did ------------------------------------------------------------------------

Status = Literal["applied", "failed", "partially applied", "not attempted", "unknown"]
STATUSES: tuple[Status, ...] = (
    "applied",
    "failed",
    "not attempted",
    "partially applied",
    "unknown",
)
#: One component write's life: pending -> written -> verified, or one of the ways it ended.
#: "held": the org already held the planned values (nothing needed writing).
StepState = Literal[
    "pending",
    "written",
    "verified",
    "held",
    "failed",
    "stale",
    "skipped",
    "unknown",
    "unverified",
]


@dataclass
class StepOutcome:
    """What happened to one component of one app: data, not sentences (views word it).

    `reason` is the org's answer or why the step ended as it did (a save error, the fields that
    moved since the plan, a lost answer); `extra` lists fields someone else changed meanwhile."""

    side: str
    component: str
    state: StepState
    reason: str = ""
    extra: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "component": self.component,
            "state": self.state,
            "reason": self.reason or None,
            "changed_by_others": self.extra,
        }


@dataclass
class AppResult:
    name: str
    status: Status = "not attempted"
    steps: list[StepOutcome] = field(default_factory=list)
    #: Sides the org now holds as planned (verified by re-reading).
    written: list[str] = field(default_factory=list)
    #: What the next `plan` will still show for this app, as `path: before -> after`.
    remaining: list[str] = field(default_factory=list)


@dataclass
class ApplyResult:
    """Per app what the org now holds, and how the run ended. Never an exception halfway."""

    results: list[AppResult]
    #: The backup of every component this run wrote (secrets removed), if it got that far.
    backup: Path | None = None
    #: A signal stopped the run (SIGINT/SIGTERM); `signum` says which.
    interrupted: bool = False
    signum: int | None = None
    #: Why the run stopped early: request limit, expired session, a failed verification read.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and not self.interrupted
            and all(r.status == "applied" for r in self.results)
        )

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for r in self.results:
            out[r.status] += 1
        return out


@dataclass(frozen=True)
class BackupChange:
    """One field an apply changed, as its backup records it (backup.py reads and writes it)."""

    app: str
    side: F.Side
    field: str
    component: str
    before: Any
    after: Any

    @property
    def path(self) -> str:
        return f"{self.side}.{self.field}"


@dataclass(frozen=True)
class Backup:
    """A loaded backup: here, not in backup.py, so that planning a rollback (pure) can take
    one without importing the module that reads files."""

    path: Path
    org_id: str
    instance_url: str
    created_at: str
    controls: list[str]
    changes: list[BackupChange]
    #: fullName -> the coupled fields (fields.GROUPS) as the component held them when backed
    #: up, by path: those the apply did not change still held these values after it, so a
    #: rollback can tell when one of them moved since (older backups: empty).
    coupled: dict[str, dict[str, Any]] = field(default_factory=dict)
