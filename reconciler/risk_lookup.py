"""The I/O half of risk grading: who the run-as users are, asked of the org in three queries.

Kept apart from risk.py so planning stays pure and a plan is complete when planning returns:
the caller collects every username that could matter, calls `lookup_run_as` once, and hands the
plain result to the planner (or the audit), which grades it.

An org may refuse these queries (a deploy user without View Setup gets INSUFFICIENT_ACCESS on
PermissionSetAssignment, for example). That must not cost the user the diff: a refused or failed
query becomes a `LookupFailure` in the result and the affected apps' risk is graded `unknown`.
Only errors that make the whole run untrustworthy still propagate: an IncompleteResponse (the
org's answers cannot be trusted), RequestLimitExceeded and SessionExpired (the run must stop).

Profile permissions are read from the profile-owned PermissionSet (IsOwnedByProfile, ProfileId;
OBJREF). Whether PermissionSetAssignment also lists profile-owned sets is UNVERIFIED (eca doc
§13.10): such rows are used only when the PermissionSet query failed, as a best effort, so
either answer gives the same result when both queries work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .display import cut
from .errors import IncompleteResponse, OrgError, RequestLimitExceeded, SessionExpired
from .model import ASSIGNMENT, PERMISSION_SET, USER, LookupFailure, RiskLookups, RunAsUser
from .org.interface import NO_USERS, Org

__all__ = ["ASSIGNMENT", "PERMISSION_SET", "USER", "LookupFailure", "RiskLookups", "lookup_run_as"]

#: Permissions that make a run-as user's token an admin's token.
POWERS = {
    "PermissionsModifyAllData": "Modify All Data",
    "PermissionsViewAllData": "View All Data",
    "PermissionsModifyMetadata": "Modify Metadata",
    "PermissionsCustomizeApplication": "Customize Application",
}
_PERMS = [*POWERS, "PermissionsApiUserOnly"]
#: Errors that mean "stop", not "this one query was refused".
_FATAL = (IncompleteResponse, RequestLimitExceeded, SessionExpired)
#: An org's error message is shown in warnings and factors; a page of it helps no one.
_MAX_MESSAGE = 300


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(_quote(v) for v in sorted(set(values))) + ")"


def _query(
    org: Org, sobject: str, soql: str, failures: list[LookupFailure]
) -> list[dict[str, Any]] | None:
    """Run one query; None (and a failure recorded) when the org refuses or fails it."""
    try:
        return org.query(soql)
    except _FATAL:
        raise
    except OrgError as exc:
        failures.append(
            LookupFailure(sobject, cut(str(exc), _MAX_MESSAGE), skipped=exc.code == NO_USERS)
        )
        return None


def lookup_run_as(
    org: Org,
    usernames: Iterable[str | None],
    alongside: Callable[[list[dict[str, Any]]], object] | None = None,
) -> RiskLookups:
    """Three queries for all run-as users together, whatever the number of apps.

    A failed User query leaves every username unknown (the other two need its Ids, so they are
    not sent). A failed PermissionSet or PermissionSetAssignment query leaves the users it
    concerns partly known; the other query's answer is still used.

    `alongside(user_rows)`, when given, runs in the same round as those two queries (same
    thread pool), once the User query has found at least one user: the usage look-up
    (lookups.py) needs only the users' Ids too, so it costs no extra round trip. Its result is
    the caller's business (it keeps it); it is not called when no user was found.
    """
    names = frozenset(u for u in usernames if u)
    result = RiskLookups(requested=names)
    if not names:
        return result
    failures = result.failures
    users = _query(
        org,
        USER,
        f"SELECT Id, Username, IsActive, ProfileId, Profile.Name FROM User WHERE Username IN "
        f"{_in(names)}",
        failures,
    )
    if users is None:
        result.gaps = {name: list(failures) for name in names}
        return result
    result.users = {name: RunAsUser(name, found=False) for name in names}
    if not users:
        return result
    profile_ids = sorted({u["ProfileId"] for u in users if u.get("ProfileId")})
    # The two remaining queries need only the users' Ids: sent side by side, one round trip.
    # Each records its own failure; they are merged in a fixed order afterwards.
    profile_failures: list[LookupFailure] = []
    assignment_failures: list[LookupFailure] = []
    with ThreadPoolExecutor(max_workers=3) as pool:
        beside = pool.submit(alongside, users) if alongside is not None else None
        asked_profiles = (
            pool.submit(
                _query,
                org,
                PERMISSION_SET,
                f"SELECT Id, ProfileId, {', '.join(_PERMS)} FROM PermissionSet "
                f"WHERE IsOwnedByProfile = true AND ProfileId IN {_in(profile_ids)}",
                profile_failures,
            )
            if profile_ids
            else None
        )
        assignments = _query(
            org,
            ASSIGNMENT,
            "SELECT AssigneeId, PermissionSet.Name, PermissionSet.IsOwnedByProfile, "
            + ", ".join(f"PermissionSet.{f}" for f in _PERMS)
            + f" FROM PermissionSetAssignment WHERE AssigneeId IN {_in(u['Id'] for u in users)}",
            assignment_failures,
        )
        profile_sets = asked_profiles.result() if asked_profiles is not None else []
        if beside is not None:
            beside.result()  # re-raises what stops the run (see _FATAL)
    failures.extend(profile_failures + assignment_failures)
    by_failed = {f.query: f for f in failures}
    by_profile = {row["ProfileId"]: row for row in profile_sets or []}
    for user in users:
        name = user["Username"]
        gaps = [by_failed[ASSIGNMENT]] if ASSIGNMENT in by_failed else []
        if user.get("ProfileId") and PERMISSION_SET in by_failed:
            gaps.insert(0, by_failed[PERMISSION_SET])
        if gaps:
            result.gaps[name] = gaps
        result.users[name] = _user(
            user, by_profile, assignments or [], PERMISSION_SET in by_failed, complete=not gaps
        )
    return result


def _user(
    user: Mapping[str, Any],
    by_profile: Mapping[str, Mapping[str, Any]],
    assignments: list[dict[str, Any]],
    profile_set_failed: bool,
    complete: bool,
) -> RunAsUser:
    """The facts the answered queries give; the grader knows from `gaps` what is missing.

    API Only is known true as soon as one answered grant says so; known false only when every
    query answered (else None: a refused query may hold the grant)."""
    profile_name = (user.get("Profile") or {}).get("Name") or user.get("ProfileId")
    grants: list[tuple[str, Mapping[str, Any]]] = []
    if user.get("ProfileId") in by_profile:
        grants.append((f"profile {profile_name}", by_profile[user["ProfileId"]]))
    for a in assignments:
        ps = a.get("PermissionSet") or {}
        if a.get("AssigneeId") != user["Id"]:
            continue
        if not ps.get("IsOwnedByProfile"):
            grants.append((f"permission set {ps.get('Name')}", ps))
        elif profile_set_failed:
            grants.append((f"profile {profile_name}", ps))  # UNVERIFIED row kind; see module doc
    api_only = any(perms.get("PermissionsApiUserOnly") for _, perms in grants)
    return RunAsUser(
        username=user["Username"],
        found=True,
        active=bool(user.get("IsActive")),
        api_only=api_only or (False if complete else None),
        profile=profile_name,
        powers=[
            f"{label} ({source})"
            for source, perms in grants
            for field_name, label in POWERS.items()
            if perms.get(field_name)
        ],
    )
