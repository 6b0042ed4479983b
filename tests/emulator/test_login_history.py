"""Client-credentials logins recorded in LoginHistory, and the grouped query that reads them.

Tokens are minted through the real token endpoint over HTTPS (form body and HTTP Basic); the
LoginHistory query goes through the real simple-salesforce client.
"""

from __future__ import annotations

import base64
import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from reconciler.emulator import login_history as lh
from reconciler.emulator.demo_org import build_demo_org
from reconciler.emulator.rest_query import parse_datetime

SETTINGS = "ExtlClntAppGlobalOauthSettings"
POLICIES = "ExtlClntAppOauthConfigurablePolicies"
REST_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
USAGE_QUERY = (
    "SELECT UserId, Application, LoginType, LoginSubType, SourceIp, Status, COUNT(Id) logins, "
    "MAX(LoginTime) lastLogin FROM LoginHistory WHERE UserId IN ({users}) AND LoginTime >= "
    "{since} GROUP BY UserId, Application, LoginType, LoginSubType, SourceIp, Status"
)


# ------------------------------------------------------------------------------- helpers
def component(server, type_name: str, app: str) -> dict[str, Any]:
    return next(
        f
        for f in server.state.components(type_name).values()
        if f["externalClientApplication"] == app
    )


def user_id(server, username: str) -> str:
    user = server.state.find_user(username, active_only=False)
    assert user is not None
    return str(user["Id"])


def token(server, session_factory, app: str, secret: str | None = None, basic=False, **headers):
    """POST grant_type=client_credentials for `app` (its real secret unless `secret`)."""
    settings = component(server, SETTINGS, app)
    key = settings["consumerKey"]
    secret = settings["consumerSecret"] if secret is None else secret
    data = {"grant_type": "client_credentials"}
    if basic:
        pair = base64.b64encode(f"{key}:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    else:
        data |= {"client_id": key, "client_secret": secret}
    return session_factory(server).post(
        f"{server.instance_url}/services/oauth2/token", data=data, headers=headers
    )


def logins(server) -> list[dict[str, Any]]:
    with server.state.lock:
        return list(server.state.sobjects("LoginHistory"))


def new_rows(server, before: int) -> list[dict[str, Any]]:
    return logins(server)[before:]


def soql_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------- token → LoginHistory
@pytest.mark.parametrize("basic", [False, True], ids=["body", "basic"])
def test_token_records_a_successful_login_with_the_callers_address(server, session_factory, basic):
    before = len(logins(server))
    started = datetime.now(UTC)
    # A forwarding header is the caller's to forge: the row keeps the connection's address.
    resp = token(
        server, session_factory, "Billing_Sync", basic=basic, **{"X-Forwarded-For": "1.2.3.4"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["token_type"] == "Bearer"
    [row] = new_rows(server, before)
    assert row["Id"].startswith("0Ya") and len(row["Id"]) == 18
    assert row["Id"] not in {r["Id"] for r in logins(server)[:before]}
    assert row["UserId"] == user_id(server, "billing.integration@acme.example")
    assert (row["LoginType"], row["LoginSubType"]) == ("Oauth2", "OauthClientCredentials")
    assert row["Application"] == "Billing_Sync"
    assert row["SourceIp"] == "127.0.0.1"
    assert row["Status"] == "Success"
    assert row["LoginUrl"] == f"127.0.0.1:{server.port}"
    assert row["Platform"] == "Unknown"
    assert row["AuthenticationServiceId"] is None
    assert REST_DATETIME.match(row["LoginTime"])
    when = parse_datetime(row["LoginTime"])
    assert when is not None
    assert started - timedelta(seconds=1) <= when <= datetime.now(UTC)
    # Persisted like any other change of state.
    on_disk = server.state.load(server.state.path).sobjects("LoginHistory")
    assert on_disk[-1] == row


def test_wrong_secret_is_refused_and_recorded_as_a_failed_login(server, session_factory):
    before = len(logins(server))
    resp = token(server, session_factory, "Data_Warehouse_ETL", secret="guessed", basic=True)
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }
    [row] = new_rows(server, before)
    assert row["Status"] == lh.WRONG_SECRET == "Invalid client credentials"
    assert row["UserId"] == user_id(server, "etl.admin@acme.example")
    assert (row["Application"], row["SourceIp"]) == ("Data_Warehouse_ETL", "127.0.0.1")


@pytest.mark.parametrize("side", [SETTINGS, POLICIES])
def test_flow_off_on_either_side_is_refused_and_recorded(server, session_factory, side):
    with server.state.lock:
        component(server, side, "Data_Warehouse_ETL")["isClientCredentialsFlowEnabled"] = False
    before = len(logins(server))
    resp = token(server, session_factory, "Data_Warehouse_ETL")
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "invalid_grant",
        "error_description": "no client credentials user enabled",
    }
    [row] = new_rows(server, before)
    assert row["Status"] == lh.FLOW_DISABLED == "Failed: Client Credentials Flow Disabled"
    assert row["UserId"] == user_id(server, "etl.admin@acme.example")
    assert row["LoginSubType"] == "OauthClientCredentials"


def test_inactive_run_as_user_is_refused_and_recorded(server, session_factory):
    before = len(logins(server))
    resp = token(server, session_factory, "Old_Payroll_Feed")  # former.integration: inactive
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant"
    [row] = new_rows(server, before)
    assert row["Status"] == lh.USER_INACTIVE
    assert row["UserId"] == user_id(server, "former.integration@acme.example")


def test_no_row_without_an_app_or_a_run_as_user(server, session_factory):
    before = len(logins(server))
    resp = session_factory(server).post(
        f"{server.instance_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "3MVG9nope", "client_secret": "x"},
    )
    assert resp.json()["error"] == "invalid_client_id"
    # Legacy_Importer: settings on, policy off and no run-as user. A row needs a UserId;
    # whether Salesforce records anything here is UNVERIFIED.
    resp = token(server, session_factory, "Legacy_Importer")
    assert resp.json()["error"] == "invalid_grant"
    assert new_rows(server, before) == []


def test_concurrent_token_requests_all_recorded_with_distinct_ids(server, session_factory):
    before = len(logins(server))
    statuses: list[int] = []

    def mint() -> None:
        statuses.append(token(server, session_factory, "Billing_Sync").status_code)

    threads = [threading.Thread(target=mint) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 12
    rows = new_rows(server, before)
    assert len(rows) == 12
    assert len({r["Id"] for r in logins(server)}) == len(logins(server))


# ----------------------------------------------------------------------- the grouped query
def test_usage_query_counts_minted_logins_per_group(server, sf, session_factory):
    billing = user_id(server, "billing.integration@acme.example")
    etl = user_id(server, "etl.admin@acme.example")
    since = datetime.now(UTC) - timedelta(seconds=2)
    for _ in range(3):
        assert token(server, session_factory, "Billing_Sync").status_code == 200
    for _ in range(2):
        assert token(server, session_factory, "Data_Warehouse_ETL", secret="x").status_code == 400
    res = sf.query(USAGE_QUERY.format(users=f"'{billing}', '{etl}'", since=soql_datetime(since)))
    assert res["done"] is True and "nextRecordsUrl" not in res
    assert res["totalSize"] == len(res["records"]) == 2
    by_status = {r["Status"]: r for r in res["records"]}
    ok, failed = by_status["Success"], by_status["Invalid client credentials"]
    assert ok == {
        "attributes": {"type": "AggregateResult"},
        "UserId": billing,
        "Application": "Billing_Sync",
        "LoginType": "Oauth2",
        "LoginSubType": "OauthClientCredentials",
        "SourceIp": "127.0.0.1",
        "Status": "Success",
        "logins": 3,
        "lastLogin": max(r["LoginTime"] for r in logins(server) if r["UserId"] == billing),
    }
    assert list(ok) == [
        "attributes",
        "UserId",
        "Application",
        "LoginType",
        "LoginSubType",
        "SourceIp",
        "Status",
        "logins",
        "lastLogin",
    ]
    assert (failed["UserId"], failed["logins"]) == (etl, 2)


def _seed(server, rows: list[tuple[str, str, str, str]]) -> None:
    """Replace LoginHistory with (UserId, LoginTime, SourceIp, Status) rows."""
    with server.state.lock:
        server.state.doc["sobjects"]["LoginHistory"] = [
            {
                "Id": lh.login_id(n),
                "UserId": uid,
                "LoginTime": when,
                "LoginType": "Oauth2",
                "LoginSubType": "OauthClientCredentials",
                "Application": "App",
                "SourceIp": ip,
                "Status": status,
                "LoginUrl": "acme.my.salesforce.com",
                "Platform": "Unknown",
                "AuthenticationServiceId": None,
            }
            for n, (uid, when, ip, status) in enumerate(rows, 1)
        ]


SEEDED = [
    ("005A", "2026-11-02T23:59:59.000+0000", "10.0.0.1", "Success"),
    ("005A", "2026-11-03T09:00:00.000+0000", "10.0.0.1", "Success"),
    ("005A", "2026-11-10T08:00:00.000+0000", "10.0.0.1", "Success"),
    ("005A", "2026-11-04T12:00:00.000+0000", "10.0.0.2", "Success"),
    ("005B", "2026-11-20T07:30:00.000+0000", "10.0.0.1", "Invalid client credentials"),
    ("005C", "2026-11-21T07:30:00.000+0000", "10.0.0.1", "Success"),
]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("LoginTime >= 2026-11-03T09:00:00Z", 5),
        ("LoginTime > 2026-11-03T09:00:00Z", 4),
        ("LoginTime < 2026-11-03T09:00:00Z", 1),
        ("LoginTime <= 2026-11-03T09:00:00Z", 2),
        # the same instant written with an offset: 10:00+01:00 is 09:00Z
        ("LoginTime >= 2026-11-03T10:00:00+01:00", 5),
        ("LoginTime > 2026-11-03T01:00:00-08:00", 4),
        # not a string comparison: "2026-11-03T09:00:00.000+0000" < "2026-11-03T09:00:00Z"
        ("LoginTime = 2026-11-03T09:00:00Z", 1),
    ],
)
def test_datetime_literals_compare_as_instants(server, sf, condition, expected):
    _seed(server, SEEDED)
    res = sf.query(f"SELECT COUNT(Id) n FROM LoginHistory WHERE {condition}")
    assert res["records"] == [{"attributes": {"type": "AggregateResult"}, "n": expected}]
    plain = sf.query(f"SELECT Id FROM LoginHistory WHERE {condition}")
    assert plain["totalSize"] == expected


def test_aggregates_unaliased_are_expr_n_and_max_min_pick_instants(server, sf):
    _seed(server, SEEDED)
    res = sf.query(
        "SELECT SourceIp, COUNT(Id), MIN(LoginTime) first, MAX(LoginTime) FROM LoginHistory "
        "WHERE UserId IN ('005A', '005B') GROUP BY SourceIp"
    )
    by_ip = {r["SourceIp"]: r for r in res["records"]}
    assert by_ip["10.0.0.1"] == {
        "attributes": {"type": "AggregateResult"},
        "SourceIp": "10.0.0.1",
        "expr0": 4,
        "first": "2026-11-02T23:59:59.000+0000",
        "expr1": "2026-11-20T07:30:00.000+0000",
    }
    assert (by_ip["10.0.0.2"]["expr0"], by_ip["10.0.0.2"]["expr1"]) == (
        1,
        "2026-11-04T12:00:00.000+0000",
    )
    # no GROUP BY: one row over all; COUNT() alone: the count in totalSize
    [total] = sf.query("SELECT COUNT(Id) FROM LoginHistory")["records"]
    assert total["expr0"] == len(SEEDED)
    counted = sf.query("SELECT COUNT() FROM LoginHistory WHERE UserId = '005A'")
    assert (counted["totalSize"], counted["records"]) == (4, [])


def test_max_and_min_of_datetimes_written_with_other_offsets(server, sf):
    """A state file may carry dateTimes with another offset: MAX/MIN still pick instants."""
    _seed(
        server,
        [
            ("005A", "2026-11-10T08:00:00.000+0000", "10.0.0.1", "Success"),
            ("005A", "2026-11-10T09:30:00.000+0200", "10.0.0.1", "Success"),  # 07:30Z
            ("005A", "2026-11-10T07:45:00Z", "10.0.0.1", "Success"),
        ],
    )
    [row] = sf.query("SELECT MAX(LoginTime) last, MIN(LoginTime) first FROM LoginHistory")[
        "records"
    ]
    assert (row["last"], row["first"]) == (
        "2026-11-10T08:00:00.000+0000",
        "2026-11-10T09:30:00.000+0200",
    )


def test_group_by_with_limit_and_order(server, sf):
    _seed(server, SEEDED)
    res = sf.query(
        "SELECT UserId, COUNT(Id) n FROM LoginHistory GROUP BY UserId ORDER BY UserId DESC LIMIT 2"
    )
    assert [(r["UserId"], r["n"]) for r in res["records"]] == [("005C", 1), ("005B", 1)]
    assert res["totalSize"] == 2


def test_ungrouped_field_is_refused(sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT UserId, SourceIp, COUNT(Id) FROM LoginHistory GROUP BY UserId")
    assert exc.value.content == [
        {"message": "Field must be grouped or aggregated: SourceIp", "errorCode": "MALFORMED_QUERY"}
    ]


def test_more_than_2000_groups_is_an_error_not_a_page(server, sf):
    _seed(
        server,
        [
            ("005A", "2026-11-04T12:00:00.000+0000", f"10.{i // 250}.{i % 250}.1", "Success")
            for i in range(2001)
        ],
    )
    query = "SELECT SourceIp, COUNT(Id) FROM LoginHistory GROUP BY SourceIp"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(query)
    [error] = exc.value.content
    assert error["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert error["message"].startswith("Aggregate query does not support queryMore()")
    res = sf.query(query + " LIMIT 2000")
    assert res["totalSize"] == len(res["records"]) == 2000
    assert res["done"] is True and "nextRecordsUrl" not in res
    with server.state.lock:
        server.state.doc["sobjects"]["LoginHistory"].pop()
    assert sf.query(query)["totalSize"] == 2000  # exactly 2,000 still fits one batch


def test_empty_login_history_is_still_queryable(server, sf):
    with server.state.lock:
        server.state.doc["sobjects"].pop("LoginHistory", None)
    res = sf.query(USAGE_QUERY.format(users="'005A'", since="2026-11-03T09:00:00Z"))
    assert (res["totalSize"], res["records"]) == (0, [])


@pytest.mark.parametrize(
    "refusal",
    [
        {
            "status": 400,
            "errorCode": "INVALID_TYPE",
            "message": "sObject type 'LoginHistory' is not supported.",
        },
        {"status": 403, "errorCode": "INSUFFICIENT_ACCESS", "message": "Insufficient Privileges"},
    ],
)
def test_fault_matching_from_login_history_refuses_only_that_query(server, sf, refusal):
    with server.state.lock:
        server.state.org["faults"] = [
            {"op": "query", "kind": "rest_error", "match": "FROM LoginHistory", "times": None}
            | refusal
        ]
    server.faults.reset()
    usage = USAGE_QUERY.format(users="'005000000000002AAA'", since="2026-11-03T09:00:00Z")
    expected = SalesforceMalformedRequest if refusal["status"] == 400 else SalesforceRefusedRequest
    with pytest.raises(expected) as exc:
        sf.query(usage)
    assert exc.value.content == [{"message": refusal["message"], "errorCode": refusal["errorCode"]}]
    assert sf.query("SELECT Id FROM User WHERE IsActive = true")["totalSize"] == 4
    with pytest.raises(expected):
        sf.query("SELECT COUNT() FROM LoginHistory")


# ------------------------------------------------------------------------ the demo org's rows
def test_demo_org_login_history():
    now = datetime(2026, 12, 3, 11, 15, 2, 500000, tzinfo=UTC)
    doc = build_demo_org(now=now)
    users = {u["Username"]: u["Id"] for u in doc["sobjects"]["User"]}
    rows = doc["sobjects"]["LoginHistory"]
    assert len({r["Id"] for r in rows}) == len(rows) < 150  # the state file stays small
    window = [r for r in rows if parse_datetime(r["LoginTime"]) >= now - timedelta(days=30)]
    cc = Counter(
        (r["Application"], r["SourceIp"], r["Status"], r["UserId"])
        for r in window
        if (r["LoginType"], r["LoginSubType"]) == ("Oauth2", "OauthClientCredentials")
    )
    billing, etl = users["billing.integration@acme.example"], users["etl.admin@acme.example"]
    admin = users["admin@acme.example"]
    assert cc == {
        ("Billing_Sync", "203.0.113.10", "Success", billing): 28,
        ("Billing_Sync", "198.51.100.7", "Success", billing): 56,
        ("Data_Warehouse_ETL", "192.0.2.66", "Invalid client credentials", etl): 5,
        # The demo org's Connected Apps (issue 18).
        ("Legacy_CRM_Sync", "203.0.113.77", "Success", admin): 10,
        ("Warehouse_Loader", "203.0.113.12", "Success", billing): 20,
    }
    last = max(parse_datetime(r["LoginTime"]) for r in rows if r["Application"] == "Billing_Sync")
    assert last == datetime(2026, 12, 3, 9, 15, 2, tzinfo=UTC)  # 2 h before creation
    failed = [parse_datetime(r["LoginTime"]) for r in window if r["SourceIp"] == "192.0.2.66"]
    assert min(failed) >= now - timedelta(days=3)
    etl_ok = [
        parse_datetime(r["LoginTime"])
        for r in rows
        if r["Application"] == "Data_Warehouse_ETL" and r["Status"] == "Success"
    ]
    assert etl_ok and max(etl_ok) < now - timedelta(days=30)  # idle: none in the window
    assert not [r for r in rows if r["Application"] == "Legacy_Importer"]
    others = {(r["LoginType"], r["LoginSubType"]) for r in window} - {
        ("Oauth2", "OauthClientCredentials")
    }
    assert others == {("Application", None), ("Oauth2", None)}  # a client must filter
    assert all(REST_DATETIME.match(r["LoginTime"]) for r in rows)


def test_org_seeded_from_source_has_no_logins():
    """The demo's logins name the demo's apps; a folder-seeded org has none of its own."""
    from reconciler.emulator.seed import build_from_source

    folder = Path(__file__).resolve().parents[2] / "examples" / "sfdx-project"
    doc, _ = build_from_source(folder)
    assert doc["sobjects"]["LoginHistory"] == []
