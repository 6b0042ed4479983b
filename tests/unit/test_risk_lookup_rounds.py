"""The run-as lookup costs two round trips, not three: after the User query, the
PermissionSet and PermissionSetAssignment queries (which need only the users' Ids) go out
side by side."""

from __future__ import annotations

import threading
from typing import Any

from reconciler.risk_lookup import lookup_run_as

USER = {"Id": "005A", "Username": "etl@example.com", "IsActive": True, "ProfileId": "00eP"}


class MeetingOrg:
    """PermissionSet and PermissionSetAssignment each wait for the other to have been sent."""

    def __init__(self) -> None:
        self.sent = {
            "PermissionSet": threading.Event(),
            "PermissionSetAssignment": threading.Event(),
        }

    def query(self, soql: str) -> list[dict[str, Any]]:
        sobject = soql.split(" FROM ")[1].split()[0]
        if sobject == "User":
            return [USER]
        self.sent[sobject].set()
        other = next(e for name, e in self.sent.items() if name != sobject)
        if not other.wait(5):
            raise AssertionError(f"{sobject} was asked alone: the two queries ran in sequence")
        if sobject == "PermissionSet":
            return [{"Id": "0PS1", "ProfileId": "00eP", "PermissionsApiUserOnly": True}]
        return []


def test_permission_queries_go_out_side_by_side():
    result = lookup_run_as(MeetingOrg(), ["etl@example.com"])  # type: ignore[arg-type]
    assert not result.failures
    user = result.users["etl@example.com"]
    assert user.found and user.api_only is True
