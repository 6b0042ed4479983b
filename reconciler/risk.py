"""Risk grading for apps whose client credentials flow stays or becomes enabled. Pure: no I/O.

The control text (shared/seed) names what makes a leaked secret worse or less bad: the run-as
user's privileges (admin rights, Modify All Data), IP restrictions, and a certificate instead of
a shared secret. The run-as facts come from risk_lookup.py (one lookup per run, done by the
caller), so planning and audit grade from plain data and never call the org.

When the org refused part of that lookup, the level is `unknown` unless the missing answers
could not change it (see `_level`); the factors and a warning say which query failed and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .model import (
    ASSIGNMENT,
    PERMISSION_SET,
    USER,
    LiveApp,
    LookupFailure,
    RiskContext,
    RiskLookups,
    RunAsUser,
)

UNKNOWN = "unknown"  # ranked right after high in model.LEVEL_ORDER

#: What each refused query would have told us about a run-as user.
_MISSING_FACT = {
    USER: "existence, status and profile",
    PERMISSION_SET: "profile permissions",
    ASSIGNMENT: "assigned permission sets",
}


def client_credentials_on(values: Mapping[str, Any]) -> bool:
    return bool(
        values.get("settings.client_credentials")
        or values.get("policies.client_credentials")
        or values.get("connected.client_credentials")
    )


def run_as_of(values: Mapping[str, Any]) -> Any:
    """The run-as username: an ECA's policies.run_as, or a Connected App's connected.run_as."""
    return values.get("policies.run_as") or values.get("connected.run_as")


def _connected(values: Mapping[str, Any]) -> bool:
    return any(path.startswith("connected.") for path in values)


def after_values(live: LiveApp | None, changes: Iterable[Any] = ()) -> dict[str, Any]:
    """Live values with planned changes laid over them: the state apply would leave."""
    values = live.values() if live is not None else {}
    values.update({c.path: c.after for c in changes})
    return values


def run_as_candidates(
    live_apps: Mapping[str, LiveApp], declared: Mapping[str, Mapping[str, Any]]
) -> set[str]:
    """Every run-as username whose facts the plan could need, known before planning.

    `declared` maps app name -> declared field values. An app can end with client credentials
    on only if they are on live or declared on (the baseline only ever turns them off), and its
    run-as user is then the declared one or, if undeclared, the live one: both are collected.
    """
    names: set[Any] = set()
    for name, app in live_apps.items():
        live_values = app.values()
        if client_credentials_on(live_values) or client_credentials_on(declared.get(name, {})):
            names.add(run_as_of(live_values))
    for name, wanted in declared.items():
        live = live_apps.get(name)
        if client_credentials_on(wanted) or (live and client_credentials_on(live.values())):
            names.add(run_as_of(wanted))
    return {n for n in names if isinstance(n, str) and n}


def grade(
    values: Mapping[str, Any],
    live: LiveApp | None,
    user: RunAsUser | None,
    gaps: Sequence[LookupFailure] = (),
) -> RiskContext:
    """Higher-risk factors first; the level is the worst that applies (explained in factors).

    `gaps` are the refused queries that would have completed `user`'s facts; with gaps, `user`
    holds only what the answered queries gave (found None when the User query itself failed).
    """
    ip = values.get("policies.ip_relaxation") or values.get("connected.ip_relaxation")
    # A Connected App's ipRelaxation is a free string (spelling UNVERIFIED): compared folded.
    ip_enforced = None if ip is None else str(ip).casefold() in ("enforce", "enforce_relax_refresh")
    certificate = live.certificate if live is not None else None
    who = f"run-as user {user.username}" if user else "run-as user"
    unknown = [
        f"? {who}: {_MISSING_FACT.get(g.query, 'permissions')} unknown "
        f"(query on {g.query}: {g.error})"
        for g in gaps
    ]
    higher: list[str] = []
    lower: list[str] = []
    if user is None:
        higher.append("no run-as user is set")  # the flow fails until one is; still reported
    elif user.found is False:
        higher.append(f"run-as user {user.username} does not exist")
    elif user.found:
        if user.powers:
            higher.append(f"run-as user {user.username} has " + ", ".join(user.powers))
        if user.api_only is False:
            higher.append(f"run-as user {user.username} is not API Only (can log in to the UI)")
        if user.active is False:
            higher.append(f"run-as user {user.username} is inactive")
    if ip_enforced is False:
        higher.append(f"IP restrictions are relaxed ({ip})")
    elif ip_enforced:
        lower.append(f"IP restrictions enforced ({ip})")
    if certificate is False:
        higher.append("relies on a shared consumer secret (no certificate)")
    elif certificate:
        lower.append("a certificate is registered (JWT bearer possible)")
    if user is not None and user.found and user.api_only and not user.powers and not gaps:
        lower.append(f"run-as user {user.username} is API Only without admin permissions")
    # Both switches must be on for tokens to be minted (eca doc §6); a half-enabled flow is one
    # admin click from live, so it is reported, but not as high risk.
    # A Connected App has one switch: never half-enabled.
    half = not _connected(values) and (
        values.get("settings.client_credentials") is False
        or not values.get("policies.client_credentials")
    )
    if half:
        lower.append("only one side is enabled: no token can be minted until both are")
    return RiskContext(
        level=_level(half, user, ip_enforced, certificate, bool(gaps)),
        run_as=user,
        ip_enforced=ip_enforced,
        ip_relaxation=ip,
        certificate=certificate,
        factors=unknown + [f"+ {f}" for f in higher] + [f"- {f}" for f in lower],
    )


def _level(
    half: bool,
    user: RunAsUser | None,
    ip_enforced: bool | None,
    certificate: bool | None,
    incomplete: bool,
) -> str:
    """The worst level that applies; `unknown` when a refused query could change it.

    Rule for incomplete run-as facts (a refused User, PermissionSet or PermissionSetAssignment
    query): keep the level only if no answer the refused query could have given would change
    it, else say `unknown` rather than guess. Two cases qualify:
    - half-enabled flows are medium whoever the run-as user is;
    - high stays high: the answered queries already found an admin permission, or IP
      restrictions are relaxed over a shared secret. A missing answer can only add powers or
      remove mitigations, and the grade never goes down for either.
    Low, or medium on a fully enabled flow, needs the full picture (no hidden admin grant), so
    those become unknown. A user known not to exist has no gaps: nothing was refused about it.
    """
    admin = bool(user and user.powers)
    if half:
        return "medium"
    if admin or (ip_enforced is False and certificate is False):
        return "high"
    if incomplete:
        return UNKNOWN
    if ip_enforced and certificate and user and user.found and user.active and user.api_only:
        return "low"
    return "medium"


def grade_app(values: Mapping[str, Any], live: LiveApp | None, lookups: RiskLookups) -> RiskContext:
    """Grade one app from the run's lookup result."""
    username = run_as_of(values) or ""
    if not username:
        return grade(values, live, None)
    if username in lookups.users:
        return grade(values, live, lookups.users[username], lookups.gaps.get(username, []))
    gaps = lookups.gaps.get(username)
    if gaps is None:  # the caller did not collect this name: a bug, but never a guess
        gaps = [LookupFailure(USER, "this username was not looked up")]
    return grade(values, live, RunAsUser(username, found=None), gaps)


def assess(
    targets: Mapping[str, tuple[Mapping[str, Any], LiveApp | None]], lookups: RiskLookups
) -> tuple[dict[str, RiskContext], list[str]]:
    """({app: RiskContext} for every target whose client credentials flow is on, warnings).

    One warning per refused query, naming the query, the org's error and how many apps it
    left at `unknown`, so the reader of a plan or an audit knows the ranking is partial.
    """
    risks = {
        name: grade_app(values, live, lookups)
        for name, (values, live) in sorted(targets.items())
        if client_credentials_on(values)
    }
    warnings = []
    for failure in lookups.failures:
        hit = [
            name
            for name, risk in risks.items()
            if risk.level == UNKNOWN
            and failure in lookups.gaps.get(run_as_of(targets[name][0]) or "", [])
        ]
        what = (
            f"risk lookups skipped: {failure.error}"
            if failure.skipped
            else f"risk lookup failed: query on {failure.query}: {failure.error}"
        )
        warnings.append(
            f"{what}; "
            + (f"risk of {len(hit)} app(s) is unknown" if hit else "no app's risk depends on it")
        )
    return risks, warnings
