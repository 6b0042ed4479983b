"""Usage evidence end to end (issue 15): real CLI, real emulator, real token endpoint.

Client-credentials tokens are minted through `POST /services/oauth2/token`
(grant_type=client_credentials); the emulator records each request in LoginHistory, as the org
does (eca reference §14), and `recorded` checks it did before the plan is asked.

Every org starts with LoginHistory emptied, so the demo org's own seeded rows (if any) do not
change the counts asserted here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import requests

from reconciler.emulator.server import EmulatorServer

from .conftest import SHIPPED_DESIRED, Org, field_lines, run, settings_of

APP = "Data_Warehouse_ETL"  # both switches on, run as etl.admin (active): tokens can be minted
LOCAL = "127.0.0.1"  # the address the emulator sees the test's token requests come from
NEEDS = "needs Manage Users or Monitor Login History"


def _quiet_org(make_org) -> Org:
    def mutate(doc: dict[str, Any]) -> None:
        doc["sobjects"]["LoginHistory"] = []

    return make_org(mutate)


def _user_id(doc: dict[str, Any], app: str) -> str:
    policies = next(
        p
        for p in doc["metadata"]["ExtlClntAppOauthConfigurablePolicies"].values()
        if p["externalClientApplication"] == app
    )
    username = policies["clientCredentialsFlowUser"].lower()
    return next(u["Id"] for u in doc["sobjects"]["User"] if u["Username"].lower() == username)


def mint(org: Org, app: str, times: int = 1, secret: str | None = None) -> list[int]:
    """Ask the emulator's token endpoint for client-credentials tokens; the HTTP statuses."""
    settings = settings_of(org.load(), app)
    statuses = []
    with EmulatorServer(org.path) as server:
        for _ in range(times):
            reply = requests.post(
                f"{server.instance_url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": settings["consumerKey"],
                    "client_secret": secret or settings["consumerSecret"],
                },
                verify=server.ca_cert_path,
                timeout=30,
            )
            statuses.append(reply.status_code)
    return statuses


def recorded(org: Org, app: str, since: str, ok: int, failed: int) -> None:
    """The emulator recorded exactly `ok` successful and `failed` failed client-credentials
    logins of `app`'s run-as user since `since`, from the tokens this test minted."""
    doc = org.load()
    user = _user_id(doc, app)
    mine = [
        r
        for r in doc["sobjects"].get("LoginHistory", [])
        if r.get("UserId") == user and r.get("LoginTime", "") >= since
    ]
    assert sum(1 for r in mine if r.get("Status") == "Success") == ok, mine
    assert sum(1 for r in mine if r.get("Status") != "Success") == failed, mine
    assert {r.get("SourceIp") for r in mine} <= {LOCAL}, mine


def in_use_org(make_org, ok: int = 3, failed: int = 1) -> Org:
    org = _quiet_org(make_org)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert mint(org, APP, ok) == [200] * ok
    if failed:
        assert mint(org, APP, failed, secret="not-the-secret") == [400] * failed
    recorded(org, APP, since, ok, failed)
    return org


def usage_of(doc: dict[str, Any], app: str) -> dict[str, Any]:
    return next(a for a in doc["apps"] if a["name"] == app)["usage"]


def test_plan_shows_the_minted_logins_in_text_json_and_markdown(make_org):
    org = in_use_org(make_org)
    text = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert text.exit_code == 0, text.output
    assert (
        f"  * {APP}: in use: 3 client-credentials logins in 30 days from 1 address ({LOCAL}), "
        "last 0 min ago\n"
        f"      1 failed client-credentials login from {LOCAL}\n"
    ) in text.stdout
    # The shipped desired state has Billing_Sync's flow on, used by nobody here.
    assert "  * Billing_Sync: no client-credentials logins in 30 days\n" in text.stdout

    doc = json.loads(
        run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--format", "json").stdout
    )
    usage = usage_of(doc, APP)
    assert usage["last_login"] and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", usage["last_login"]
    )
    assert usage["attributed_by"] in ("application", "run_as_user")
    assert {
        k: v for k, v in usage.items() if k not in ("last_login", "attributed_by", "reason")
    } == {
        "status": "in_use",
        "window_days": 30,
        "logins": 3,
        "failed_logins": 1,
        "sources": [{"ip": LOCAL, "logins": 3, "failed_logins": 1}],
    }
    assert list(usage) == [
        "status",
        "window_days",
        "logins",
        "failed_logins",
        "last_login",
        "sources",
        "attributed_by",
        "reason",
    ]
    # Apps without client credentials on carry no usage.
    assert usage_of(doc, "Mobile_Field_Service") is None

    md = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--format", "markdown").stdout
    assert (
        f"- `{APP}`: in use: 3 client-credentials logins in 30 days from 1 address ({LOCAL}), "
        "last 0 min ago\n   - 1 failed client-credentials login from 127.0.0.1"
    ) in md


BASELINE_ONLY = f"""\
version: 1
baseline: [ECA-OAUTH-001]
unlisted: ignore
apps:
  {APP}:
    policies:
      ip_relaxation: bypass
"""

EXPLICIT_OFF = f"""\
version: 1
baseline: [ECA-OAUTH-001]
unlisted: ignore
apps:
  {APP}:
    settings:
      client_credentials: false
    policies:
      client_credentials: false
"""


def test_a_baseline_only_disable_is_held_and_allow_breaking_releases_it(make_org, write_yaml):
    org = in_use_org(make_org, failed=0)
    desired = write_yaml(BASELINE_ONLY)
    before = org.load()["metadata"]

    held = run("plan", "-o", org.target, "-d", desired, "--detailed-exitcode")
    assert held.exit_code == 0, held.output  # only held entries: no changes
    assert "held: would break an integration in use" in held.stdout
    assert f"  {APP}: policies.client_credentials: true -> false  # baseline ECA-OAUTH-001" in (
        held.stdout
    )
    assert held.stdout.splitlines()[-1] == (
        "No changes. (2 changes held: would break an integration in use; see above)"
    )
    doc = json.loads(run("plan", "-o", org.target, "-d", desired, "--format", "json").stdout)
    assert doc["changes"] == []
    assert [(h["app"], h["component"], h["field"], h["before"], h["after"], h["control"])
            for h in doc["held"]] == [
        (APP, "settings", "client_credentials", True, False, "ECA-OAUTH-001"),
        (APP, "policies", "client_credentials", True, False, "ECA-OAUTH-001"),
    ]  # fmt: skip
    assert all("3 successful client-credentials login(s)" in h["reason"] for h in doc["held"])
    md = run("plan", "-o", org.target, "-d", desired, "--format", "markdown").stdout
    assert "held: would break an integration in use: 2 changes" in md

    applied = run("apply", "-o", org.target, "-d", desired, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert org.load()["metadata"] == before  # held: nothing written

    released = run(
        "plan", "-o", org.target, "-d", desired, "--detailed-exitcode", "--allow-breaking"
    )
    assert released.exit_code == 2, released.output
    assert "held: would break" not in released.stdout
    assert "policies.client_credentials: true -> false  # BREAKS an integration in use" in (
        released.stdout
    )
    applied = run("apply", "-o", org.target, "-d", desired, "--auto-approve", "--allow-breaking")
    assert applied.exit_code == 0, applied.output
    assert f"turns client credentials off for integrations in use: {APP}" in applied.stdout
    assert org.policies(APP)["isClientCredentialsFlowEnabled"] is False

    # audit reports the violation of an app whose disable is held.
    org2 = in_use_org(make_org, failed=0)
    audit = run("audit", "-o", org2.target, "-d", desired, "--format", "json")
    assert audit.exit_code == 3, audit.output
    report = json.loads(audit.stdout)
    assert report["usage"][APP]["status"] == "in_use"
    assert any(f["app"] == APP and f["control"] == "ECA-OAUTH-001" for f in report["findings"])


def test_an_explicit_disable_is_applied_marked_breaking_and_then_tokens_are_refused(
    make_org, write_yaml
):
    org = in_use_org(make_org, failed=0)
    desired = write_yaml(EXPLICIT_OFF)
    planned = run("plan", "-o", org.target, "-d", desired, "--format", "json")
    doc = json.loads(planned.stdout)
    assert doc["held"] == []
    assert [(c["field"], c["breaking"]) for c in doc["changes"]] == [
        ("client_credentials", True),
        ("client_credentials", True),
    ]
    applied = run("apply", "-o", org.target, "-d", desired, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "settings.client_credentials: true -> false  # BREAKS an integration in use" in (
        applied.stdout
    )
    assert f"turns client credentials off for integrations in use: {APP}" in applied.stdout
    assert mint(org, APP) == [400]  # the emulator refuses the flow now


def test_a_refused_login_history_query_gives_unknown_and_a_warning(make_org):
    clean = _quiet_org(make_org)

    def refuse(doc: dict[str, Any]) -> None:
        doc["org"]["faults"] = [
            {
                "op": "query",
                "match": "FROM LoginHistory",
                "kind": "rest_error",
                "status": 403,
                "errorCode": "INSUFFICIENT_ACCESS",
                "message": "Insufficient Privileges",
                "times": None,
            }
        ]

    refused = make_org(refuse, doc=clean.load(), name="refused.json")
    a = run("plan", "-o", clean.target, "-d", SHIPPED_DESIRED, "--detailed-exitcode")
    b = run("plan", "-o", refused.target, "-d", SHIPPED_DESIRED, "--detailed-exitcode")
    assert a.exit_code == b.exit_code == 2, (a.output, b.output)
    assert field_lines(b.stdout) == field_lines(a.stdout) != []
    assert b.stdout.splitlines()[-1] == a.stdout.splitlines()[-1]
    assert f"  * Billing_Sync: usage unknown: LoginHistory refused ({NEEDS}):" in b.stdout
    assert (
        f"usage look-up failed: query on LoginHistory ({NEEDS}): query failed (HTTP 403): "
        # 6 ECAs and the demo org's 2 Connected Apps with client credentials on (issue 18).
        "INSUFFICIENT_ACCESS: Insufficient Privileges; usage of 8 app(s) is unknown"
    ) in b.stdout
    doc = json.loads(
        run("plan", "-o", refused.target, "-d", SHIPPED_DESIRED, "--format", "json").stdout
    )
    assert usage_of(doc, "Billing_Sync")["status"] == "unknown"
    assert usage_of(doc, "Billing_Sync")["logins"] is None
    audit = run("audit", "-o", refused.target, "-d", SHIPPED_DESIRED, "--format", "json")
    assert audit.exit_code == 3
    assert json.loads(audit.stdout)["usage"]["Billing_Sync"]["status"] == "unknown"


UNUSED_007 = """\
version: 1
baseline: [ECA-OAUTH-001, ECA-OAUTH-007]
unlisted: ignore
apps:
  Billing_Sync:
    settings:
      client_credentials: true
    policies:
      client_credentials: true
    exceptions:
      - control: ECA-OAUTH-001
        justification: nightly invoice sync
        owner: payments@acme.example
        expires: 2099-01-01
"""


def test_an_exception_with_no_logins_is_reported_unused(make_org, write_yaml):
    org = _quiet_org(make_org)
    note = (
        "exception for ECA-OAUTH-001 is unused: no client-credentials login in 30 days; "
        "its justification may no longer hold"
    )
    text = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert f"  Billing_Sync: {note}" in text.stdout
    doc = json.loads(
        run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--format", "json").stdout
    )
    billing = next(a for a in doc["apps"] if a["name"] == "Billing_Sync")
    assert billing["unused_exceptions"] == ["ECA-OAUTH-001"]
    md = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--format", "markdown").stdout
    assert f"- `Billing_Sync`: {note}" in md
    audit = run("audit", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert f"  Billing_Sync: {note}" in audit.stdout
    sarif = json.loads(
        run("audit", "-o", org.target, "-d", SHIPPED_DESIRED, "--format", "sarif").stdout
    )
    results = sarif["runs"][0]["results"]
    accepted = [r for r in results if r["properties"]["app"] == "Billing_Sync"]
    assert accepted and all(r["properties"]["exceptionUnused"] for r in accepted)
    assert all(r["properties"]["usage"]["status"] == "unused" for r in accepted)

    # With ECA-OAUTH-007 selected, the unused exception is a (low) violation of its own.
    desired = write_yaml(UNUSED_007)
    audit = run("audit", "-o", org.target, "-d", desired, "--format", "sarif")
    assert audit.exit_code == 3
    [result] = [r for r in json.loads(audit.stdout)["runs"][0]["results"]
                if r["ruleId"] == "ECA-OAUTH-007"]  # fmt: skip
    assert result["level"] == "note"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 11


def test_an_exception_in_use_is_not_reported_unused(make_org):
    org = _quiet_org(make_org)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert mint(org, "Billing_Sync") == [200]
    recorded(org, "Billing_Sync", since, 1, 0)
    text = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert "is unused" not in text.stdout
    assert "  * Billing_Sync: in use: 1 client-credentials login in 30 days" in text.stdout


def test_a_saved_plan_keeps_its_allow_breaking_and_evidence_records_usage(
    make_org, write_yaml, tmp_path
):
    org = in_use_org(make_org, failed=0)
    desired = write_yaml(BASELINE_ONLY)
    evidence = tmp_path / "evidence"
    held_file, released_file = tmp_path / "held.json", tmp_path / "released.json"
    made = run(
        "plan", "-o", org.target, "-d", desired, "--out", held_file, "--evidence-dir", evidence
    )
    assert made.exit_code == 0, made.output
    [record] = [json.loads(p.read_text()) for p in evidence.glob("*.json")]
    assert record["usage"][APP]["status"] == "in_use"
    assert [h["field"] for h in record["held"]] == ["client_credentials", "client_credentials"]

    widened = run("apply", held_file, "-o", org.target, "-d", desired, "--allow-breaking")
    assert widened.exit_code == 1
    assert "--allow-breaking cannot widen a saved plan" in widened.stderr

    run("plan", "-o", org.target, "-d", desired, "--out", released_file, "--allow-breaking")
    assert json.loads(released_file.read_text())["allow_breaking"] is True
    applied = run("apply", released_file, "-o", org.target, "-d", desired)
    assert applied.exit_code == 0, applied.output
    assert org.settings(APP)["isClientCredentialsFlowEnabled"] is False
