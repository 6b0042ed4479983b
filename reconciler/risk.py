"""Risk context for apps whose client credentials flow stays or becomes enabled.

The control text (shared/seed) names what makes a leaked secret worse or less bad: the run-as
user's privileges (admin rights, Modify All Data), IP restrictions, and a certificate instead of
a shared secret. This module looks those up (REST queries on User, PermissionSet and
PermissionSetAssignment; eca doc §10) and grades each app.

Profile permissions are read from the profile-owned PermissionSet (IsOwnedByProfile, ProfileId;
OBJREF), not from PermissionSetAssignment: whether assignments list profile-owned sets is
UNVERIFIED (eca doc §13.10). Both are read and merged, so either answer gives the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .model import LiveApp, RiskContext, RunAsUser
from .org.interface import Org

#: Permissions that make a run-as user's token an admin's token.
POWERS = {
    "PermissionsModifyAllData": "Modify All Data",
    "PermissionsViewAllData": "View All Data",
    "PermissionsModifyMetadata": "Modify Metadata",
    "PermissionsCustomizeApplication": "Customize Application",
}
_PERM_FIELDS = ", ".join([*POWERS, "PermissionsApiUserOnly"])


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(_quote(v) for v in sorted(set(values))) + ")"


def lookup_users(org: Org, usernames: Iterable[str]) -> dict[str, RunAsUser]:
    """Three queries for all run-as users together, whatever the number of apps."""
    names = sorted({u for u in usernames if u})
    if not names:
        return {}
    users = org.query(
        f"SELECT Id, Username, IsActive, ProfileId, Profile.Name FROM User WHERE Username IN "
        f"{_in(names)}"
    )
    out = {name: RunAsUser(name, found=False) for name in names}
    if not users:
        return out
    profile_ids = [u["ProfileId"] for u in users if u.get("ProfileId")]
    profile_sets = (
        org.query(
            f"SELECT Id, ProfileId, {_PERM_FIELDS} FROM PermissionSet "
            f"WHERE IsOwnedByProfile = true AND ProfileId IN {_in(profile_ids)}"
        )
        if profile_ids
        else []
    )
    by_profile = {row["ProfileId"]: row for row in profile_sets}
    assignments = org.query(
        "SELECT AssigneeId, PermissionSet.Name, PermissionSet.IsOwnedByProfile, "
        + ", ".join(f"PermissionSet.{f}" for f in [*POWERS, "PermissionsApiUserOnly"])
        + f" FROM PermissionSetAssignment WHERE AssigneeId IN {_in(u['Id'] for u in users)}"
    )
    for user in users:
        profile_name = (user.get("Profile") or {}).get("Name") or user.get("ProfileId")
        grants: list[tuple[str, Mapping[str, Any]]] = []
        if user.get("ProfileId") in by_profile:
            grants.append((f"profile {profile_name}", by_profile[user["ProfileId"]]))
        for a in assignments:
            ps = a.get("PermissionSet") or {}
            if a.get("AssigneeId") == user["Id"] and not ps.get("IsOwnedByProfile"):
                grants.append((f"permission set {ps.get('Name')}", ps))
        powers = [
            f"{label} ({source})"
            for source, perms in grants
            for field, label in POWERS.items()
            if perms.get(field)
        ]
        out[user["Username"]] = RunAsUser(
            username=user["Username"],
            found=True,
            active=bool(user.get("IsActive")),
            api_only=any(perms.get("PermissionsApiUserOnly") for _, perms in grants),
            profile=profile_name,
            powers=powers,
        )
    return out


def grade(values: Mapping[str, Any], live: LiveApp | None, user: RunAsUser | None) -> RiskContext:
    """Higher-risk factors first; the level is the worst that applies (explained in factors)."""
    ip = values.get("policies.ip_relaxation")
    ip_enforced = None if ip is None else ip in ("enforce", "enforce_relax_refresh")
    certificate: bool | None = None
    if live is not None and live.settings is not None:
        certificate = bool(live.settings.fields.get("certificate"))
    higher: list[str] = []
    lower: list[str] = []
    if user is None:
        higher.append("no run-as user is set")  # the flow fails until one is; still reported
    elif not user.found:
        higher.append(f"run-as user {user.username} does not exist")
    else:
        if user.powers:
            higher.append(f"run-as user {user.username} has " + ", ".join(user.powers))
        if not user.api_only:
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
    if user is not None and user.found and user.api_only and not user.powers:
        lower.append(f"run-as user {user.username} is API Only without admin permissions")
    # Both switches must be on for tokens to be minted (eca doc §6); a half-enabled flow is one
    # admin click from live, so it is reported, but not as high risk.
    half = values.get("settings.client_credentials") is False or not values.get(
        "policies.client_credentials"
    )
    if half:
        lower.append("only one side is enabled: no token can be minted until both are")
    admin = bool(user and user.powers)
    if half:
        level = "medium"
    elif admin or (ip_enforced is False and certificate is False):
        level = "high"
    elif ip_enforced and certificate and user and user.found and user.active and user.api_only:
        level = "low"
    else:
        level = "medium"
    return RiskContext(
        level=level,
        run_as=user,
        ip_enforced=ip_enforced,
        ip_relaxation=ip,
        certificate=certificate,
        factors=[f"+ {f}" for f in higher] + [f"- {f}" for f in lower],
    )


def client_credentials_on(values: Mapping[str, Any]) -> bool:
    return bool(
        values.get("settings.client_credentials") or values.get("policies.client_credentials")
    )


LEVEL_ORDER = {"high": 0, "medium": 1, "low": 2}


def after_values(live: LiveApp | None, changes: Iterable[Any] = ()) -> dict[str, Any]:
    """Live values with planned changes laid over them: the state apply would leave."""
    values = live.values() if live is not None else {}
    values.update({c.path: c.after for c in changes})
    return values


def assess(org: Org, targets: Mapping[str, tuple[dict[str, Any], LiveApp | None]]) -> dict:
    """{app: RiskContext} for every target whose client credentials flow is on."""
    on = {name: pair for name, pair in targets.items() if client_credentials_on(pair[0])}
    users = lookup_users(org, (v.get("policies.run_as") for v, _ in on.values()))
    return {
        name: grade(values, live, users.get(values.get("policies.run_as") or ""))
        for name, (values, live) in on.items()
    }
