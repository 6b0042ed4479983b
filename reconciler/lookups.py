"""The look-up stage: everything planning needs from the org beyond the live components.

It runs after the live read and before pure planning; planning and audit receive its plain
result (model.Lookups) and never call the org. Two look-ups, in two rounds at most:
1. who the run-as users are (risk_lookup.py): the User query;
2. side by side, in one thread pool: their PermissionSet and PermissionSetAssignment rows
   (risk_lookup.py) and their client-credentials logins (usage_lookup.py, one grouped
   LoginHistory query), all needing only the users' Ids. The usage look-up adds one request
   and no round trip.
When the approval-bypass control is selected, its look-up (approval_lookup.py: a describe and
a few queries, independent of the run-as users) runs beside those two rounds.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from .model import DEFAULT_USAGE_WINDOW, USER, Lookups, UsageLookup
from .org.interface import Org
from .risk_lookup import lookup_run_as
from .usage_lookup import lookup_usage, not_asked

__all__ = ["DEFAULT_USAGE_WINDOW", "look_up"]


def look_up(
    org: Org,
    run_as: Iterable[str | None],
    usage_window_days: int | None = DEFAULT_USAGE_WINDOW,
    now: datetime | None = None,
    approval: bool = False,
) -> Lookups:
    """Every look-up the run needs, for the run-as usernames given.

    `run_as` must include the live run-as user of every app whose client credentials are on in
    the org (risk.run_as_candidates and audit.run_as_to_look_up do): usage is asked about
    those users. `usage_window_days` None skips the usage look-up (Lookups.usage is None);
    `approval` adds who can bypass app approval (Lookups.approval, else None)."""
    if not approval:
        return _run_as_and_usage(org, run_as, usage_window_days, now)
    from .approval_lookup import lookup_approval

    with ThreadPoolExecutor(max_workers=1) as pool:
        asked = pool.submit(lookup_approval, org)
        lookups = _run_as_and_usage(org, run_as, usage_window_days, now)
        lookups.approval = asked.result()
    return lookups


def _run_as_and_usage(
    org: Org,
    run_as: Iterable[str | None],
    usage_window_days: int | None,
    now: datetime | None,
) -> Lookups:
    if usage_window_days is None:
        return Lookups(lookup_run_as(org, run_as), None)
    when = now or datetime.now(UTC)
    asked: list[UsageLookup] = []

    def usage(users: list[dict[str, Any]]) -> None:
        pairs = [(str(u["Username"]), str(u["Id"])) for u in users if u.get("Id")]
        asked.append(lookup_usage(org, pairs, usage_window_days, when))

    risk = lookup_run_as(org, run_as, alongside=usage)
    if asked:
        return Lookups(risk, asked[0])
    user_failure = next((f for f in risk.failures if f.query == USER), None)
    if user_failure is not None:
        return Lookups(risk, not_asked(usage_window_days, when, user_failure))
    # No run-as user to ask about, or none exists: nothing to query.
    return Lookups(risk, lookup_usage(org, [], usage_window_days, when))
