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
from typing import Any

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
        shown = {k: ("***" if k in F.SECRET_FIELDS else v) for k, v in self.fields.items()}
        return f"Component({self.type}, {self.full_name}, {shown})"

    __str__ = __repr__

    @property
    def parent(self) -> str | None:
        """The app this satellite belongs to: its `externalClientApplication` field (eca doc §7)."""
        return self.fields.get("externalClientApplication")

    def copy(self) -> Component:
        return Component(self.type, self.full_name, copy.deepcopy(self.fields))


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
    """An app as found in the org, with its two OAuth components (either may be missing)."""

    name: str
    settings: Component | None = None
    policies: Component | None = None
    #: Why the settings side could not be read (e.g. consumer-secret access off), if it could not.
    settings_unreadable: str | None = None
    #: Problems that make the app unmanageable (e.g. two policy components claim it).
    problems: list[str] = field(default_factory=list)
    _values: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _values_key: tuple[int, int] | None = field(default=None, repr=False, compare=False)

    def component(self, side: F.Side) -> Component | None:
        return self.settings if side == "settings" else self.policies

    def values(self) -> dict[str, Any]:
        """Every managed field in YAML terms, keyed by field path; absent sides are omitted.

        Decoded once per pair of components (planning, risk and export all ask), and handed
        out as a copy so no caller can change another's view."""
        key = (id(self.settings), id(self.policies))
        if self._values_key != key:
            out: dict[str, Any] = {}
            for side in ("settings", "policies"):
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
        }


@dataclass
class LiveState:
    """What the org holds: every app read, grouped with its two OAuth components."""

    org_id: str
    apps: dict[str, LiveApp]
    #: Every ExternalClientApplication the org listed, whatever `only` kept (safety.py).
    app_count: int | None = None


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
