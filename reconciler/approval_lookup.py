"""Who can bypass Connected App approval (issue 18): the holders of "Use Any API Client" and
"Approve Uninstalled Connected Apps", read from the org for `audit`.

Their API field names on PermissionSet are UNVERIFIED (ECA reference §15), so they are never
written here: the PermissionSet describe is read and the fields are found by their label. A
label the describe lacks is reported as not checked (an older API version, a renamed label),
never as "nobody holds it". Queries, in order: one per permission found (PermissionSet rows
granting it: this SOQL subset has no OR), the assignments of those sets with their users, and
which of those users have an administrator's profile (its own permission set grants Modify
All Data; a permission set granting it to a standard user does not make an administrator).
"""

from __future__ import annotations

from .display import cut
from .errors import OrgError
from .model import APPROVAL_PERMISSIONS, ApprovalHolder, ApprovalLookup, LookupFailure
from .org.interface import NO_USERS, Org
from .risk_lookup import _FATAL, _in, _query

PERMISSION_SET = "PermissionSet"


def lookup_approval(org: Org) -> ApprovalLookup:
    """The users holding an approval-bypass permission; failures recorded, never raised."""
    result = ApprovalLookup()
    try:
        described = org.describe(PERMISSION_SET)
    except _FATAL:
        raise
    except OrgError as exc:
        result.failures.append(
            LookupFailure(f"{PERMISSION_SET} describe", cut(str(exc), 300), exc.code == NO_USERS)
        )
        return result
    by_label = {str(f.get("label", "")).casefold(): str(f.get("name", "")) for f in described}
    fields = {}
    for label in APPROVAL_PERMISSIONS:
        name = by_label.get(label.casefold())
        if name and name.isidentifier():
            fields[label] = name
        else:
            result.missing.append(label)
    sets: dict[str, dict[str, object]] = {}
    granting: dict[str, list[str]] = {}
    for label, name in fields.items():
        rows = _query(
            org,
            PERMISSION_SET,
            f"SELECT Id, Name, Label, IsOwnedByProfile FROM PermissionSet WHERE {name} = true",
            result.failures,
        )
        for row in rows or []:
            sets[str(row["Id"])] = row
            granting.setdefault(str(row["Id"]), []).append(label)
    if not sets:
        return result
    assignments = _query(
        org,
        "PermissionSetAssignment",
        "SELECT AssigneeId, Assignee.Username, Assignee.IsActive, PermissionSetId "
        f"FROM PermissionSetAssignment WHERE PermissionSetId IN {_in(sets)}",
        result.failures,
    )
    if not assignments:
        return result
    holders: dict[str, ApprovalHolder] = {}
    for row in assignments:
        assignee = row.get("Assignee") or {}
        user_id = str(row.get("AssigneeId"))
        holder = holders.setdefault(
            user_id,
            ApprovalHolder(str(assignee.get("Username")), assignee.get("IsActive"), None),
        )
        pset = sets[str(row.get("PermissionSetId"))]
        via = (
            f"profile {pset.get('Label')}"
            if pset.get("IsOwnedByProfile")
            else f"permission set {pset.get('Name')}"
        )
        for label in granting[str(row.get("PermissionSetId"))]:
            holder.grants.setdefault(label, []).append(via)
    admins = _query(
        org,
        "PermissionSetAssignment",
        "SELECT AssigneeId FROM PermissionSetAssignment WHERE AssigneeId IN "
        f"{_in(holders)} AND PermissionSet.IsOwnedByProfile = true "
        "AND PermissionSet.PermissionsModifyAllData = true",
        result.failures,
    )
    if admins is not None:
        admin_ids = {str(r.get("AssigneeId")) for r in admins}
        for user_id, holder in holders.items():
            holder.admin = user_id in admin_ids
    result.holders = sorted(holders.values(), key=lambda h: h.username.casefold())
    return result
