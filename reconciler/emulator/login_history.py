"""LoginHistory rows: what the org records for each client-credentials token request.

ECA reference §14: a client-credentials token request is recorded as a login of the run-as
user, `LoginType` `Oauth2` (label "Remote Access 2.0"), `LoginSubType` `OauthClientCredentials`.
Rows live in the state's `sobjects["LoginHistory"]` and are queried like any other object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reconciler.emulator.rest_query import rest_datetime
from reconciler.emulator.state import OrgState

OBJECT = "LoginHistory"
ID_PREFIX = "0Ya"
LOGIN_TYPE = "Oauth2"
CLIENT_CREDENTIALS = "OauthClientCredentials"
SUCCESS = "Success"
# Failure texts in `Status` for this flow are UNVERIFIED: Salesforce documents `Status` as
# "Success" or a failure reason, not the reasons it writes for client-credentials requests.
WRONG_SECRET = "Invalid client credentials"
FLOW_DISABLED = "Failed: Client Credentials Flow Disabled"
USER_INACTIVE = "User is Inactive"


def login_id(n: int) -> str:
    """An 18-character LoginHistory Id such as 0Ya000000000001AAA."""
    return f"{ID_PREFIX}{n:012d}AAA"


def row(
    n: int,
    user_id: str,
    when: datetime,
    application: str | None,
    source_ip: str,
    status: str,
    login_url: str,
    login_type: str = LOGIN_TYPE,
    login_sub_type: str | None = CLIENT_CREDENTIALS,
    platform: str = "Unknown",
) -> dict[str, Any]:
    """One LoginHistory row with the fields of ECA reference §14."""
    return {
        "Id": login_id(n),
        "UserId": user_id,
        "LoginTime": rest_datetime(when),
        "LoginType": login_type,
        "LoginSubType": login_sub_type,
        "Application": application,
        "SourceIp": source_ip,
        "Status": status,
        "LoginUrl": login_url,
        "Platform": platform,
        "AuthenticationServiceId": None,
    }


def record_client_credentials(
    state: OrgState, user_id: str, app: str, source_ip: str, status: str, login_url: str
) -> None:
    """Append one client-credentials login and persist it, in a state transaction (the
    server is threaded: the lock serialises the Id sequence and the save)."""
    with state.lock, state.transaction() as doc:
        rows = doc["sobjects"].setdefault(OBJECT, [])
        rows.append(
            row(len(rows) + 1, user_id, datetime.now(UTC), app, source_ip, status, login_url)
        )
