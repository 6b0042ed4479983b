"""The I/O half of usage evidence: one grouped LoginHistory query for all run-as users.

A client-credentials token request is recorded as a login of the app's run-as user (eca doc
§14), so the query asks about the run-as users' Ids (from the User query of risk_lookup.py)
and groups in the org: one row per user, application, login type, source address and status,
with the count and the latest time. A busy integration logging in thousands of times a day
still costs one request and a handful of rows. usage.py grades the rows; nothing here judges.

Filtering: `UserId` and `LoginTime` are documented as filterable and go in WHERE. `LoginType`
is filterable too, but whether the org stores the value (`Oauth2`) or answers the label
("Remote Access 2.0") is UNVERIFIED, and `LoginSubType` / `Application` are not documented as
filterable at all (§14): all three are filtered after reading (usage.py), accepting value or
label. Aggregate results cannot be paged with queryMore on Salesforce (UNVERIFIED whether an
org would refuse a very large grouping instead); a refusal of any kind gives usage `unknown`.

A refused or failing query (an OrgError other than the fatal ones of risk_lookup.py) becomes a
LookupFailure in the result: usage is then `unknown`, never `unused`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from .display import cut
from .errors import OrgError
from .model import LOGIN_HISTORY, LookupFailure, UsageLookup
from .org.interface import NO_USERS, Org
from .risk_lookup import _FATAL, _MAX_MESSAGE, _in


def window(window_days: int, now: datetime) -> tuple[str, str]:
    """(since, now) as ISO-8601 UTC to the second, `Z`-suffixed (a SOQL dateTime literal)."""
    end = now.astimezone(UTC).replace(microsecond=0)
    start = end - timedelta(days=window_days)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_query(user_ids: Iterable[str], since: str) -> str:
    """The one query, whatever the number of apps (the shape the emulator implements)."""
    return (
        "SELECT UserId, Application, LoginType, LoginSubType, SourceIp, Status, "
        "COUNT(Id) logins, MAX(LoginTime) lastLogin FROM LoginHistory "
        f"WHERE UserId IN {_in(user_ids)} AND LoginTime >= {since} "
        "GROUP BY UserId, Application, LoginType, LoginSubType, SourceIp, Status"
    )


def lookup_usage(
    org: Org, users: Iterable[tuple[str, str]], window_days: int, now: datetime
) -> UsageLookup:
    """Ask LoginHistory about `users` ((username, Id) pairs) over the last `window_days`."""
    since, end = window(window_days, now)
    user_ids = {name.lower(): uid for name, uid in users}
    result = UsageLookup(window_days, since, end, user_ids=user_ids)
    if not user_ids:
        result.rows = []
        return result
    try:
        result.rows = org.query(usage_query(user_ids.values(), since))
    except _FATAL:
        raise
    except OrgError as exc:
        result.failure = LookupFailure(
            LOGIN_HISTORY, cut(str(exc), _MAX_MESSAGE), skipped=exc.code == NO_USERS
        )
    return result


def not_asked(window_days: int, now: datetime, because: LookupFailure) -> UsageLookup:
    """The usage look-up when the User query failed: LoginHistory needs its Ids, so it was not
    sent; `because` (the User failure) says why."""
    since, end = window(window_days, now)
    return UsageLookup(window_days, since, end, failure=because)
