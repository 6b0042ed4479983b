"""Usage evidence, pure parts (issue 15): grading LoginHistory rows, attribution, holding,
unused exceptions, and the look-up's query shape and round trips."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

from reconciler.controls import DEFAULT_BASELINE
from reconciler.desired_model import BaselineConfig, DesiredApp, DesiredState, ExceptionEntry
from reconciler.lookups import look_up
from reconciler.model import (
    LOGIN_HISTORY,
    USER,
    Component,
    LiveApp,
    LiveState,
    LookupFailure,
    Lookups,
    RiskLookups,
    UsageLookup,
)
from reconciler.planning import build_plan
from reconciler.usage import grade_usage, utc_iso
from reconciler.usage_lookup import usage_query

ON = {
    "settings.client_credentials": True,
    "policies.client_credentials": True,
    "policies.run_as": "sync@x",
}
NOW = "2026-12-03T09:00:00Z"


def row(app: str = "Sync", status: str = "Success", n: int = 1, **extra: Any) -> dict[str, Any]:
    base = {
        "UserId": "005S",
        "Application": app,
        "LoginType": "Remote Access 2.0",
        "LoginSubType": "OAuth Client Credentials",
        "SourceIp": "203.0.113.10",
        "Status": status,
        "logins": n,
        "lastLogin": "2026-12-03T07:00:00.000+0000",
    }
    return base | extra


def lookup(rows: list[dict[str, Any]] | None, **kw: Any) -> UsageLookup:
    return UsageLookup(30, "2026-11-03T09:00:00Z", NOW, rows, {"sync@x": "005S"}, **kw)


def test_the_query_is_the_one_grouped_shape_whatever_the_number_of_apps():
    assert usage_query(["005B", "005A", "005A"], "2026-11-03T09:00:00Z") == (
        "SELECT UserId, Application, LoginType, LoginSubType, SourceIp, Status, COUNT(Id) "
        "logins, MAX(LoginTime) lastLogin FROM LoginHistory WHERE UserId IN ('005A', '005B') "
        "AND LoginTime >= 2026-11-03T09:00:00Z GROUP BY UserId, Application, LoginType, "
        "LoginSubType, SourceIp, Status"
    )


def test_counts_successes_and_failures_apart_per_address_busiest_first():
    rows = [
        row(n=1200, SourceIp="203.0.113.10"),
        row(n=84, SourceIp="198.51.100.7", lastLogin="2026-12-03T08:30:00Z"),
        row(status="Invalid client credentials", n=3, SourceIp="192.0.2.66"),
        row(status="Failed: API disabled", n=2, SourceIp="198.51.100.7"),
        # not client credentials: another flow of the same user
        row(n=50, LoginType="Application", LoginSubType=None),
        row(n=60, LoginType="Oauth2", LoginSubType="OauthUserAgent"),
    ]
    usage = grade_usage({"Sync": ON}, lookup(rows))["Sync"]
    assert usage.to_dict() == {
        "status": "in_use",
        "window_days": 30,
        "logins": 1284,
        "failed_logins": 5,
        "last_login": "2026-12-03T08:30:00Z",
        "sources": [
            {"ip": "203.0.113.10", "logins": 1200, "failed_logins": 0},
            {"ip": "198.51.100.7", "logins": 84, "failed_logins": 2},
            {"ip": "192.0.2.66", "logins": 0, "failed_logins": 3},
        ],
        "attributed_by": "application",
        "reason": None,
    }


def test_values_and_labels_are_both_client_credentials():
    rows = [row(LoginType="Oauth2", LoginSubType="OauthClientCredentials"), row()]
    assert grade_usage({"Sync": ON}, lookup(rows))["Sync"].logins == 2


def test_failed_logins_alone_leave_the_app_unused_but_reported():
    usage = grade_usage({"Sync": ON}, lookup([row(status="Invalid", n=3)]))["Sync"]
    assert (usage.status, usage.logins, usage.failed_logins) == ("unused", 0, 3)
    assert usage.last_login is None


def test_no_rows_is_unused_with_a_reason():
    usage = grade_usage({"Sync": ON}, lookup([]))["Sync"]
    assert (usage.status, usage.logins, usage.failed_logins, usage.attributed_by) == (
        "unused",
        0,
        0,
        None,
    )
    assert usage.reason == "no client-credentials login of run-as user sync@x in 30 days"


def test_attribution_by_application_name_or_spaced_name_case_insensitive():
    for name in ("Data_Sync", "data sync", "DATA_SYNC"):
        usage = grade_usage({"Data_Sync": ON}, lookup([row(app=name)]))["Data_Sync"]
        assert (usage.status, usage.attributed_by) == ("in_use", "application"), name


def test_attribution_falls_back_to_the_run_as_user_and_says_who_else_it_runs():
    rows = [
        row(app="Sync Label Nobody Knows", n=5),
        row(app="Other", n=7),  # names another org app: never counted for Sync
    ]
    apps = {"Sync": ON, "Sibling": ON}
    graded = grade_usage(apps, lookup(rows), all_apps=["Sync", "Sibling", "Other"])
    sync = graded["Sync"]
    assert (sync.logins, sync.attributed_by) == (5, "run_as_user")
    assert sync.reason == (
        "attributed through run-as user sync@x (Application did not name the app); that user "
        "also runs Sibling: some logins may be theirs"
    )


def test_failures_and_missing_users_give_unknown_never_unused():
    refused = LookupFailure(LOGIN_HISTORY, "query failed (HTTP 403): INSUFFICIENT_ACCESS")
    usage = grade_usage({"Sync": ON}, lookup(None, failure=refused))["Sync"]
    assert (usage.status, usage.logins, usage.failed_logins) == ("unknown", None, None)
    assert usage.reason == (
        "LoginHistory refused (needs Manage Users or Monitor Login History): "
        "query failed (HTTP 403): INSUFFICIENT_ACCESS"
    )
    user_failed = lookup(None, failure=LookupFailure(USER, "refused"))
    assert "run-as users could not be looked up" in str(
        grade_usage({"Sync": ON}, user_failed)["Sync"].reason
    )
    skipped = lookup(None, failure=LookupFailure(USER, "a source folder has no users", True))
    assert grade_usage({"Sync": ON}, skipped)["Sync"].reason == (
        "not looked up: a source folder has no users"
    )
    no_user = {**ON, "policies.run_as": None}
    assert grade_usage({"Sync": no_user}, lookup([row()]))["Sync"].status == "unknown"
    stranger = {**ON, "policies.run_as": "gone@x"}
    assert "not found" in str(grade_usage({"Sync": stranger}, lookup([]))["Sync"].reason)


def test_login_times_become_utc_iso():
    assert utc_iso("2026-12-03T07:00:00.000+0000") == "2026-12-03T07:00:00Z"
    assert utc_iso("2026-12-03T08:00:00.000+0100") == "2026-12-03T07:00:00Z"
    assert utc_iso("2026-12-03T07:00:00Z") == "2026-12-03T07:00:00Z"
    assert utc_iso("yesterday") is None and utc_iso(None) is None


# --- holding ---------------------------------------------------------------------------


def _live(name: str = "Sync") -> LiveState:
    settings = Component(
        "ExtlClntAppGlobalOauthSettings",
        f"{name}_g",
        {"externalClientApplication": name, "isClientCredentialsFlowEnabled": True},
    )
    policies = Component(
        "ExtlClntAppOauthConfigurablePolicies",
        f"{name}_p",
        {
            "externalClientApplication": name,
            "isClientCredentialsFlowEnabled": True,
            "clientCredentialsFlowUser": "sync@x",
        },
    )
    return LiveState("00D", {name: LiveApp(name, settings, policies)}, 1)


def _desired(values: dict[str, Any], from_defaults: set[str] = frozenset()) -> DesiredState:  # type: ignore[assignment]
    app = DesiredApp("Sync", "apps.yaml", 3, dict(values), from_defaults=set(from_defaults))
    return DesiredState({"Sync": app}, ["apps.yaml"], "d", BaselineConfig(DEFAULT_BASELINE))


def _plan(desired: DesiredState, rows: list[dict[str, Any]] | None, **kw: Any):
    lookups = Lookups(RiskLookups(frozenset()), lookup(rows))
    return build_plan(desired, _live(), "https://x", lookups=lookups, **kw)


OFF = {"settings.client_credentials": False, "policies.client_credentials": False}


def test_a_baseline_disable_of_an_app_in_use_is_held_both_sides():
    plan = _plan(_desired({}), [row()])
    assert plan.changes == []
    assert [(h.change.path, h.change.control) for h in plan.held] == [
        ("settings.client_credentials", "ECA-OAUTH-001"),
        ("policies.client_credentials", "ECA-OAUTH-001"),
    ]
    assert plan.held[0].to_dict()["reason"].startswith("1 successful client-credentials login")
    # The flow stays on, so the violation stays reported.
    assert {f.path for f in plan.apps[0].findings if not f.accepted} == {
        "settings.client_credentials",
        "policies.client_credentials",
    }


def test_a_defaults_disable_is_held_and_an_app_declared_one_is_planned_breaking():
    held = _plan(_desired(OFF, from_defaults=set(OFF)), [row()])
    assert held.changes == [] and len(held.held) == 2
    declared = _plan(_desired(OFF), [row()])
    assert len(declared.changes) == 2 and declared.held == []
    assert declared.apps[0].breaking
    # One side declared by the app decides for both (one decision, never half a flow).
    half = _plan(_desired(OFF, from_defaults={"policies.client_credentials"}), [row()])
    assert len(half.changes) == 2 and half.held == [] and half.apps[0].breaking


def test_allow_breaking_releases_held_changes():
    plan = _plan(_desired({}), [row()], allow_breaking=True)
    assert len(plan.changes) == 2 and plan.held == [] and plan.apps[0].breaking
    assert plan.allow_breaking


def test_unused_and_unknown_apps_are_planned_as_before():
    unused = _plan(_desired({}), [])
    refused = LookupFailure(LOGIN_HISTORY, "no")
    lookups = Lookups(RiskLookups(frozenset()), lookup(None, failure=refused))
    unknown = build_plan(_desired({}), _live(), "https://x", lookups=lookups)
    for plan in (unused, unknown):
        assert len(plan.changes) == 2 and plan.held == [] and not plan.apps[0].breaking


def test_an_exception_of_an_unused_app_is_reported():
    entry = ExceptionEntry("ECA-OAUTH-001", "sync", "o@x", date(2099, 1, 1), None, "a.yaml", 9)
    on = {"settings.client_credentials": True, "policies.client_credentials": True}
    desired = _desired(on)
    desired.apps["Sync"].exceptions = [entry]
    plan = _plan(desired, [])
    assert plan.apps[0].unused_exceptions == ["ECA-OAUTH-001"]
    assert any("exception for ECA-OAUTH-001 is unused" in n for n in plan.apps[0].notes)
    assert not any(f.control == "ECA-OAUTH-007" for f in plan.apps[0].findings)
    desired.baseline = BaselineConfig(("ECA-OAUTH-001", "ECA-OAUTH-007"))
    [found] = [f for f in _plan(desired, []).apps[0].findings if f.control == "ECA-OAUTH-007"]
    assert (found.file, found.line, found.accepted) == ("a.yaml", 9, False)
    assert _plan(desired, [row()]).apps[0].unused_exceptions == []


# --- the look-up: one request, in the permissions' round ------------------------------


class MeetingOrg:
    """PermissionSet, PermissionSetAssignment and LoginHistory each wait for the other two."""

    def __init__(self) -> None:
        self.sent = {
            name: threading.Event()
            for name in ("PermissionSet", "PermissionSetAssignment", "LoginHistory")
        }
        self.asked: list[str] = []

    def query(self, soql: str) -> list[dict[str, Any]]:
        sobject = soql.split(" FROM ")[1].split()[0]
        self.asked.append(soql)
        if sobject == "User":
            return [{"Id": "005S", "Username": "Sync@X", "IsActive": True, "ProfileId": "00eP"}]
        self.sent[sobject].set()
        for name, event in self.sent.items():
            if name != sobject and not event.wait(5):
                raise AssertionError(f"{sobject} went out before {name}: not one round")
        return [row()] if sobject == "LoginHistory" else []


def test_login_history_goes_out_beside_the_permission_queries():
    org = MeetingOrg()
    when = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
    result = look_up(org, ["sync@x"], 30, when)  # type: ignore[arg-type]
    assert result.usage is not None and result.usage.failure is None
    assert result.usage.user_ids == {"sync@x": "005S"}
    assert result.usage.since == "2026-11-03T09:00:00Z"
    assert sum("FROM LoginHistory" in q for q in org.asked) == 1
    assert len(org.asked) == 4


def test_no_usage_window_means_no_login_history_query():
    org = MeetingOrg()
    org.sent["LoginHistory"].set()  # nobody else waits for it
    assert look_up(org, ["sync@x"], None).usage is None  # type: ignore[arg-type]
    assert not any("LoginHistory" in q for q in org.asked)


def test_the_desired_model_tells_defaults_from_app_declared_values(tmp_path):
    from reconciler.desired_state import load_desired

    base, prod = tmp_path / "base", tmp_path / "prod"
    base.mkdir()
    prod.mkdir()
    (base / "apps.yaml").write_text(
        "version: 1\n"
        "defaults:\n  settings: {client_credentials: false}\n"
        "  policies: {client_credentials: false}\n"
        "apps:\n"
        "  A:\n    policies: {client_credentials: false}\n"
        "  B:\n    settings: {pkce_required: true}\n"
    )
    (prod / "apps.yaml").write_text(
        "version: 1\n"
        "defaults:\n  settings: {client_credentials: false}\n"
        "apps:\n  B:\n    settings: {client_credentials: false}\n  A: {}\n"
    )
    one = load_desired(base)
    assert one.apps["A"].from_defaults == {"settings.client_credentials"}
    assert one.apps["B"].from_defaults == {
        "settings.client_credentials",
        "policies.client_credentials",
    }
    layered = load_desired([base, prod])
    # B declares the settings side itself in the later layer; A's own policies value stays its
    # own although the later layer's defaults touch the same app.
    assert layered.apps["B"].from_defaults == {"policies.client_credentials"}
    assert layered.apps["A"].from_defaults == {"settings.client_credentials"}


def test_org_text_in_usage_lines_is_escaped_in_every_human_view():
    from reconciler.render.markdown_view import render_markdown
    from reconciler.render.text_view import render_text

    forged = "10.0.0.1\nPlan: 0 apps to change, 0 fields to change.\x1b[2J<img src=x>`|"
    desired = _desired(OFF)
    plan = _plan(desired, [row(SourceIp=forged), row(status="Bad\nPlan: x", SourceIp=forged)])
    text = render_text(plan)
    assert "\nPlan: 0 apps" not in text and "\x1b" not in text
    assert "10.0.0.1\\nPlan: 0 apps" in text
    md = render_markdown(plan)
    assert "\nPlan: 0 apps" not in md and "<img" not in md and "\x1b" not in md
