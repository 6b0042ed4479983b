"""Usage grading: LoginHistory aggregate rows -> one Usage per app. Pure: no I/O.

Rows come from usage_lookup.py (one grouped query per run). Only client-credentials logins
count: `LoginType` `Oauth2` (label "Remote Access 2.0") and `LoginSubType`
`OauthClientCredentials` (label "OAuth Client Credentials"). Whether the org answers values or
labels is UNVERIFIED (eca doc §14), so both are accepted, case-insensitively. `Status`
"Success" is a successful login; any other text is a failure (§14).

Attribution, per app:
- by `Application`, where it names the app: its API name, or the API name with underscores as
  spaces, case-insensitive. Whether the org writes the ECA's label or its API name there is
  UNVERIFIED (§14); the label is not read by this tool (no look-up asks for it), so an app
  whose label differs from its API name is attributed through its run-as user instead;
- else through its run-as user: that user's client-credentials logins not attributed by name
  to another app. When that user runs several apps with client credentials on, the reason says
  so: the logins may be another app's.
An app is `in_use` with at least one successful login in the window; failed logins alone
leave it `unused` (and are reported apart: repeated failures from one address are what an
attempt with a stolen or guessed secret looks like).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from . import fields as F
from .controls import BY_ID, UNUSED_EXCEPTION, Control
from .desired_model import DesiredApp, ExceptionEntry
from .model import (
    IN_USE,
    LOGIN_HISTORY,
    UNKNOWN_USAGE,
    UNUSED,
    USER,
    Finding,
    Usage,
    UsageLookup,
    UsageSource,
)

LOGIN_TYPES = frozenset({"oauth2", "remote access 2.0"})
LOGIN_SUBTYPES = frozenset({"oauthclientcredentials", "oauth client credentials"})
#: The permission LoginHistory needs (eca doc §14).
NEEDS = "Manage Users or Monitor Login History"


def _get(row: Mapping[str, Any], key: str) -> Any:
    """A column by name, case-insensitively (aliases come back as written, UNVERIFIED)."""
    if key in row:
        return row[key]
    low = key.lower()
    return next((v for k, v in row.items() if k.lower() == low), None)


def _fold(value: Any) -> str:
    return str(value or "").strip().casefold()


def is_client_credentials(row: Mapping[str, Any]) -> bool:
    return (
        _fold(_get(row, "LoginType")) in LOGIN_TYPES
        and _fold(_get(row, "LoginSubType")) in LOGIN_SUBTYPES
    )


def app_keys(name: str) -> set[str]:
    """The `Application` spellings that name an app: API name, or with spaces for `_`. A
    Connected App's key (`ConnectedApp:<name>`) is matched by its API name alone."""
    name = F.bare_name(name)
    return {name.casefold(), name.replace("_", " ").casefold()}


def utc_iso(value: Any) -> str | None:
    """A LoginTime as ISO-8601 UTC to the second (`...Z`); None when it cannot be read."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # +0000 -> +00:00
        text = text[:-2] + ":" + text[-2:]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _count(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _unknown(window: int, reason: str) -> Usage:
    return Usage(UNKNOWN_USAGE, window, reason=reason)


def failure_reason(lookup: UsageLookup) -> str | None:
    """Why no app's usage could be graded, or None when LoginHistory answered."""
    failure = lookup.failure
    if failure is None:
        return None
    if failure.skipped:
        return f"not looked up: {failure.error}"
    if failure.query == USER:
        return f"LoginHistory not asked: the run-as users could not be looked up ({failure.error})"
    return f"LoginHistory refused (needs {NEEDS}): {failure.error}"


def grade_usage(
    apps: Mapping[str, Mapping[str, Any]],
    lookup: UsageLookup,
    all_apps: Collection[str] = (),
) -> dict[str, Usage]:
    """Usage of each app in `apps` (name -> live values; the apps with client credentials on).

    `all_apps` names every app in the org, so a login whose `Application` names another app is
    never counted for this one through a shared run-as user."""
    window = lookup.window_days
    failed = failure_reason(lookup)
    if failed is not None:
        return {name: _unknown(window, failed) for name in apps}
    rows = [r for r in lookup.rows or [] if is_client_credentials(r)]
    owner: dict[str, str] = {}
    for name in sorted({*all_apps, *apps}):
        for key in app_keys(name):
            owner.setdefault(key, name)
    by_user: dict[str, list[str]] = {}
    for name, values in apps.items():
        run_as = values.get("policies.run_as") or values.get("connected.run_as")
        if isinstance(run_as, str) and run_as:
            by_user.setdefault(run_as.lower(), []).append(name)
    out: dict[str, Usage] = {}
    for name, values in sorted(apps.items()):
        run_as = values.get("policies.run_as") or values.get("connected.run_as")
        if not isinstance(run_as, str) or not run_as:
            out[name] = _unknown(window, "no run-as user is set: its logins cannot be looked up")
            continue
        user_id = lookup.user_ids.get(run_as.lower())
        if user_id is None:
            out[name] = _unknown(
                window, f"run-as user {run_as} was not found in the org: LoginHistory not read"
            )
            continue
        mine = [r for r in rows if owner.get(_fold(_get(r, "Application"))) == name]
        attributed_by = "application"
        reason: str | None = None
        if not mine:
            mine = [
                r
                for r in rows
                if _get(r, "UserId") == user_id
                and owner.get(_fold(_get(r, "Application")), name) == name
            ]
            attributed_by = "run_as_user"
            others = sorted(n for n in by_user.get(run_as.lower(), []) if n != name)
            reason = f"attributed through run-as user {run_as} (Application did not name the app)"
            if others:
                reason += f"; that user also runs {', '.join(others)}: some logins may be theirs"
        out[name] = _grade(name, run_as, window, mine, attributed_by, reason)
    return out


def _grade(
    name: str,
    run_as: str,
    window: int,
    rows: Sequence[Mapping[str, Any]],
    attributed_by: str,
    reason: str | None,
) -> Usage:
    logins = failed = 0
    last: str | None = None
    sources: dict[str, list[int]] = {}
    for row in rows:
        n = _count(_get(row, "logins"))
        ip = str(_get(row, "SourceIp") or "") or "(unknown)"
        counts = sources.setdefault(ip, [0, 0])
        if _fold(_get(row, "Status")) == "success":
            logins += n
            counts[0] += n
            when = utc_iso(_get(row, "lastLogin"))
            if when is not None and (last is None or when > last):
                last = when
        else:
            failed += n
            counts[1] += n
    if not rows:
        return Usage(
            UNUSED,
            window,
            0,
            0,
            reason=f"no client-credentials login of run-as user {run_as} in {window} days",
        )
    ordered = sorted(sources.items(), key=lambda i: (-i[1][0], -i[1][1], i[0]))
    return Usage(
        IN_USE if logins else UNUSED,
        window,
        logins,
        failed,
        last,
        [UsageSource(ip, ok, bad) for ip, (ok, bad) in ordered],
        attributed_by,
        reason if logins or failed else None,
    )


def usage_warning(lookup: UsageLookup, graded: Mapping[str, Usage]) -> str | None:
    """One warning when the look-up failed: the query, what it needs, and how many apps it
    left `unknown` (None when LoginHistory answered)."""
    failure = lookup.failure
    if failure is None:
        return None
    hit = sum(1 for u in graded.values() if u.status == UNKNOWN_USAGE)
    if failure.skipped:
        return f"usage look-up skipped: {failure.error}"
    if failure.query == USER:
        what = "usage look-up not made: the User query failed"
    else:
        what = f"usage look-up failed: query on {LOGIN_HISTORY} (needs {NEEDS}): {failure.error}"
    return f"{what}; usage of {hit} app(s) is unknown"


#: The control whose exceptions usage evidence can show to be unused.
CLIENT_CREDENTIALS_CONTROL = "ECA-OAUTH-001"


def unused_exceptions(usage: Usage | None, wanted: DesiredApp | None) -> list[ExceptionEntry]:
    """The app's exceptions for ECA-OAUTH-001 when it had no successful client-credentials
    login in the window (`unused`; `unknown` proves nothing)."""
    if usage is None or usage.status != UNUSED or wanted is None:
        return []
    return [e for e in wanted.exceptions if e.control == CLIENT_CREDENTIALS_CONTROL]


def unused_exception_findings(
    app: str,
    usage: Usage | None,
    wanted: DesiredApp | None,
    controls: Collection[Control],
) -> list[Finding]:
    """Findings of ECA-OAUTH-007 (when the baseline selects it): one per unused exception,
    located at the exception; an exception for ECA-OAUTH-007 itself accepts it."""
    control = BY_ID[UNUSED_EXCEPTION]
    if control not in controls or usage is None or wanted is None:
        return []
    accepted = wanted.exception_for(UNUSED_EXCEPTION)
    return [
        Finding(
            app=app,
            control=UNUSED_EXCEPTION,
            path=f"exceptions.{e.control}",
            value=f"no client-credentials login in {usage.window_days} days",
            listed=True,
            exception=None if accepted is None else accepted.evidence(),
            file=e.file,
            line=e.line,
        )
        for e in unused_exceptions(usage, wanted)
    ]


def unused_exception_note(control: str, usage: Usage) -> str:
    return (
        f"exception for {control} is unused: no client-credentials login in "
        f"{usage.window_days} days; its justification may no longer hold"
    )
