"""Apply under a changing, failing org: no lost updates, save retries, lost answers, partial
applies, a failing verification read, the API limit. Faults come from `org.faults` in the
emulator's state file; concurrent edits are made on a running emulator between plan and apply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import api
from reconciler.applying import apply_plan
from reconciler.emulator.server import EmulatorServer
from reconciler.org.connect import emulator_org
from reconciler.render.apply_view import app_messages, result_document

from .conftest import COMPONENTS, POLICIES, SETTINGS, policies_of, report_block, run, settings_of

YAML = """\
version: 1
baseline: []  # the mechanism under test, without baseline remedies
apps:
  Data_Warehouse_ETL:  # disabling: policies are written first, then settings
    settings:
      client_credentials: false
    policies:
      client_credentials: false
  Partner_Portal:
    policies:
      session_timeout_minutes: 60
  Mobile_Field_Service:
    policies:
      ip_relaxation: enforce
"""


def with_faults(*rules: dict[str, Any]):
    def mutate(doc: dict[str, Any]) -> None:
        doc["org"]["faults"] = list(rules)

    return mutate


def apply(org, path: Path, *extra: Any):
    return run("apply", "-o", org.target, "-d", path, "--auto-approve", *extra)


# -- no lost updates: a running org changed between plan and apply -------------------------


@pytest.fixture
def server(org) -> Iterator[EmulatorServer]:
    with EmulatorServer(org.path) as srv:
        yield srv


def _plan(server: EmulatorServer, desired_path: Path):
    org = emulator_org(server)
    plan, live = api.make_plan(org, api.load_desired(desired_path))
    return org, plan, live


def _edit(server: EmulatorServer, type_name: str, name: str, **fields: Any) -> None:
    """Someone else edits the org (in Setup, another pipeline) while our prompt waits."""
    with server.state.transaction() as doc:
        doc["metadata"][type_name][name].update(fields)


def test_a_planned_field_moved_since_the_plan_refuses_that_app_only(server, desired, tmp_path):
    org, plan, live = _plan(server, desired(YAML))
    _edit(server, POLICIES, COMPONENTS["Partner_Portal"][1], sessionTimeoutInMinutes=90)
    result = apply_plan(org, plan, live, backup_dir=tmp_path / "b")
    by_app = {r.name: r for r in result.results}
    portal = by_app["Partner_Portal"]
    assert portal.status == "not attempted"
    assert any(
        "stale" in m and "policies.session_timeout_minutes was 120 when planned, now 90" in m
        for m in app_messages(portal)
    ), app_messages(portal)
    assert by_app["Mobile_Field_Service"].status == "applied"
    assert by_app["Data_Warehouse_ETL"].status == "applied"
    assert not result.ok
    doc = server.state.doc
    assert policies_of(doc, "Partner_Portal")["sessionTimeoutInMinutes"] == 90  # theirs stays


def test_a_coupled_field_moved_since_the_plan_refuses_the_app(server, desired, tmp_path):
    """Issue 16: the refresh-token policy, period and unit are one setting. Only the policy is
    planned (period and unit are declared as the org held them); someone then changes the
    period. Writing the policy would make a setting nobody declared, so the app is stale."""
    yaml = """\
version: 1
baseline: []
apps:
  Partner_Portal:
    policies:
      refresh_token: {policy: specific_lifetime, period: 7, unit: days}
"""
    org, plan, live = _plan(server, desired(yaml))
    assert [c.path for c in plan.changes] == ["policies.refresh_token.policy"]
    _edit(server, POLICIES, COMPONENTS["Partner_Portal"][1], refreshTokenValidityPeriod=30)
    result = apply_plan(org, plan, live, backup_dir=tmp_path / "b")
    (portal,) = result.results
    assert portal.status == "not attempted", app_messages(portal)
    assert any(
        "stale" in m
        and "policies.refresh_token.period was 7 when planned, now 30 (one setting with "
        "policies.refresh_token.policy)"
        in m
        for m in app_messages(portal)
    ), app_messages(portal)
    policies = policies_of(server.state.doc, "Partner_Portal")
    assert policies["refreshTokenPolicyType"] == "SpecificInactivity"  # nothing written
    assert policies["refreshTokenValidityPeriod"] == 30


def test_fields_nobody_declared_keep_what_the_org_holds_at_write_time(server, desired, tmp_path):
    org, plan, live = _plan(server, desired(YAML))
    name = COMPONENTS["Mobile_Field_Service"][1]
    # Changed after the plan read: an unmanaged field and a managed one this YAML is silent on.
    _edit(server, POLICIES, name, startUrl="https://new.acme.example/go")
    _edit(server, POLICIES, name, requiredSessionLevel="HIGH_ASSURANCE")
    _edit(server, SETTINGS, COMPONENTS["Data_Warehouse_ETL"][0], isPkceRequired=False)
    result = apply_plan(org, plan, live, backup_dir=tmp_path / "b")
    assert result.ok, [(r.name, r.status, app_messages(r)) for r in result.results]
    doc = server.state.doc
    mobile = policies_of(doc, "Mobile_Field_Service")
    assert mobile["ipRelaxationPolicyType"] == "Enforce"  # the planned change
    assert mobile["startUrl"] == "https://new.acme.example/go"
    assert mobile["requiredSessionLevel"] == "HIGH_ASSURANCE"
    etl = settings_of(doc, "Data_Warehouse_ETL")
    assert etl["isClientCredentialsFlowEnabled"] is False
    assert etl["isPkceRequired"] is False


class EditsAfterWrite:
    """The real org adapter, plus someone editing the org right after each of our writes."""

    def __init__(self, org: Any, edit: Any) -> None:
        self._org, self._edit = org, edit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._org, name)

    def update(self, type_name: str, components: Any) -> Any:
        outcomes = self._org.update(type_name, components)
        self._edit(type_name)
        return outcomes


def test_verification_reports_every_field_changed_behind_our_back(server, desired, tmp_path):
    org, plan, live = _plan(server, desired(YAML))
    name = COMPONENTS["Partner_Portal"][1]
    secret_holder = COMPONENTS["Data_Warehouse_ETL"][0]
    secret = server.state.doc["metadata"][SETTINGS][secret_holder]["consumerSecret"]

    def edit(written: str) -> None:  # after the write of each type, before verification
        if written == POLICIES:
            _edit(server, POLICIES, name, label="Renamed behind our back")
        else:
            _edit(server, SETTINGS, secret_holder, consumerSecret="rotated-by-someone-0123456789")

    result = apply_plan(EditsAfterWrite(org, edit), plan, live, backup_dir=tmp_path / "b")
    by_app = {r.name: r for r in result.results}
    portal = by_app["Partner_Portal"]
    assert portal.status == "applied"  # the planned change holds; the extra one is reported
    assert any(
        "changed by someone else" in m
        and 'label: "Partner Portal OAuth policy" -> "Renamed behind our back"' in m
        for m in app_messages(portal)
    ), app_messages(portal)
    etl = app_messages(by_app["Data_Warehouse_ETL"])
    assert any("consumerSecret (secret; value not shown)" in m for m in etl), etl
    everything = json.dumps(result_document(result))
    assert "rotated-by-someone" not in everything and secret not in everything


# -- save retries and lost answers, through the CLI ------------------------------------------


def lock_row_on_portal(times: int | None) -> dict[str, Any]:
    """UNABLE_TO_LOCK_ROW on Partner_Portal's policy save, `times` times (None: always)."""
    return {
        "op": "updateMetadata",
        "match": COMPONENTS["Partner_Portal"][1],
        "kind": "save_error",
        "statusCode": "UNABLE_TO_LOCK_ROW",
        "message": "unable to obtain exclusive access to this record",
        "times": times,
    }


def test_a_transient_save_error_is_retried_and_then_applied(org_file, desired):
    org = org_file(mutate=with_faults(lock_row_on_portal(times=1)))
    result = apply(org, desired(YAML))
    assert result.exit_code == 0, result.output
    assert report_block(result.stdout, "Partner_Portal")[0] == "Partner_Portal: applied"
    assert policies_of(org.load(), "Partner_Portal")["sessionTimeoutInMinutes"] == 60


def test_a_save_error_that_persists_fails_after_bounded_retries(org_file, desired):
    org = org_file(mutate=with_faults(lock_row_on_portal(times=None)))
    result = apply(org, desired(YAML))
    assert result.exit_code == 1, result.output
    portal = report_block(result.stdout, "Partner_Portal")
    assert portal[0] == "Partner_Portal: failed"
    assert any("UNABLE_TO_LOCK_ROW" in m and "(after 4 attempts)" in m for m in portal), portal
    assert report_block(result.stdout, "Mobile_Field_Service")[0] == "Mobile_Field_Service: applied"
    assert policies_of(org.load(), "Partner_Portal")["sessionTimeoutInMinutes"] == 120


@pytest.mark.parametrize(("retries", "attempts"), [("0", None), ("1", "2")])
def test_save_retries_follow_the_retries_option(org_file, desired, retries, attempts):
    org = org_file(mutate=with_faults(lock_row_on_portal(times=None)))
    result = run(
        "apply", "-o", org.target, "-d", desired(YAML), "--auto-approve", "--retries", retries
    )
    assert result.exit_code == 1, result.output
    portal = report_block(result.stdout, "Partner_Portal")
    assert portal[0] == "Partner_Portal: failed"
    failure = next(m for m in portal if "UNABLE_TO_LOCK_ROW" in m)
    if attempts is None:
        assert "attempts" not in failure, failure  # --retries 0: one try, no retry
    else:
        assert f"(after {attempts} attempts)" in failure, failure


def test_a_lost_answer_is_settled_as_applied_by_a_re_read(org_file, desired):
    org = org_file(
        mutate=with_faults(
            {
                "op": "updateMetadata",
                "match": COMPONENTS["Partner_Portal"][1],
                "kind": "lost_response",  # the org saves, then the answer never arrives
                "times": 1,
            }
        )
    )
    result = apply(org, desired(YAML))
    assert result.exit_code == 0, result.output
    portal = report_block(result.stdout, "Partner_Portal")
    assert portal[0] == "Partner_Portal: applied"
    assert any("the answer was lost; a re-read shows the planned values" in m for m in portal)
    assert policies_of(org.load(), "Partner_Portal")["sessionTimeoutInMinutes"] == 60


def test_first_side_written_second_refused_is_partially_applied_and_plan_agrees(org_file, desired):
    org = org_file(
        mutate=with_faults(
            {
                "op": "updateMetadata",
                "match": COMPONENTS["Data_Warehouse_ETL"][0],  # its settings: written second
                "kind": "save_error",
                "statusCode": "FIELD_INTEGRITY_EXCEPTION",
                "message": "locked by a managed package",
                "times": None,
            }
        )
    )
    path = desired(YAML)
    result = apply(org, path)
    assert result.exit_code == 1, result.output
    etl = report_block(result.stdout, "Data_Warehouse_ETL")
    assert etl[0] == "Data_Warehouse_ETL: partially applied"
    assert "policies: updated Data_Warehouse_ETL_oauth_defaultPolicy" in etl
    assert any("FIELD_INTEGRITY_EXCEPTION: locked by a managed package" in m for m in etl), etl
    remaining = "settings.client_credentials: true -> false"
    assert f"written: policies; the next `reconciler plan` will show: {remaining}" in etl
    assert "1 partially applied, 0 unknown." in result.stdout
    after = run("plan", "-o", org.target, "-d", path)
    assert re.findall(r"^\s+[~!] (\S+: .+)$", after.stdout, re.M) == [remaining]


def test_a_failing_verification_read_still_reports_and_records(org_file, desired, tmp_path):
    only_portal = (
        "version: 1\nbaseline: []\napps:\n  Partner_Portal:\n    policies:\n"
        "      session_timeout_minutes: 60\n"
    )
    org = org_file(
        mutate=with_faults(
            {
                "op": "readMetadata",
                "match": COMPONENTS["Partner_Portal"][1],
                "after": 2,  # the plan's read and apply's fresh read pass; verification's fails
                "kind": "malformed",
                "times": None,
            }
        )
    )
    evidence = tmp_path / "ev"
    result = apply(org, desired(only_portal), "--evidence-dir", evidence)
    assert result.exit_code == 1, result.output
    portal = report_block(result.stdout, "Partner_Portal")
    assert portal[0] == "Partner_Portal: unknown"
    assert any("saved (the org answered success), but not verified" in m for m in portal)
    assert "Stopped: verification read failed" in result.stdout
    [record] = [json.loads(p.read_text()) for p in evidence.glob("*.json")]
    assert record["result"]["ok"] is False
    assert record["result"]["error"].startswith("verification read failed")
    assert record["result"]["apps"][0]["status"] == "unknown"
    assert policies_of(org.load(), "Partner_Portal")["sessionTimeoutInMinutes"] == 60


def test_the_api_limit_stops_at_once_and_says_so(org_file, desired, tmp_path):
    org = org_file(mutate=with_faults({"op": "updateMetadata", "kind": "request_limit"}))
    before = org.load()
    evidence = tmp_path / "ev"
    result = apply(org, desired(YAML), "--evidence-dir", evidence)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(r"^Stopped: .*REQUEST_LIMIT_EXCEEDED", result.stdout, re.M), result.stdout
    for app in ("Data_Warehouse_ETL", "Partner_Portal", "Mobile_Field_Service"):
        lines = report_block(result.stdout, app)  # their policies were in the one refused call
        assert lines[0] == f"{app}: failed", result.stdout
        assert any("refused:" in m and "REQUEST_LIMIT_EXCEEDED" in m for m in lines), lines
    assert "settings: not attempted: the run stopped before it" in report_block(
        result.stdout, "Data_Warehouse_ETL"
    )
    assert org.load()["metadata"] == before["metadata"]
    [record] = [json.loads(p.read_text()) for p in evidence.glob("*.json")]
    assert "REQUEST_LIMIT_EXCEEDED" in record["result"]["error"]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_save_answered_by_an_error_page_is_settled_by_a_re_read(org_file, desired, status):
    """Issue 16 item 2: the org saved, then a proxy's HTML page replaced the answer. Only a
    well-formed SOAP fault proves a save did not happen, so this is in doubt, and the re-read
    shows it applied (not `failed` with `written: []`)."""
    org = org_file(
        mutate=with_faults(
            {
                "op": "updateMetadata",
                "match": COMPONENTS["Partner_Portal"][1],
                "kind": "http_error",
                "status": status,
                "body": "<html><body>Internal Server Error</body></html>",
                "processed": True,
                "times": 1,
            }
        )
    )
    result = apply(org, desired(YAML))
    assert result.exit_code == 0, result.output
    portal = report_block(result.stdout, "Partner_Portal")
    assert portal[0] == "Partner_Portal: applied", portal
    assert any("the answer was lost; a re-read shows the planned values" in m for m in portal)
    assert policies_of(org.load(), "Partner_Portal")["sessionTimeoutInMinutes"] == 60


def test_a_soap_fault_still_proves_the_save_did_not_happen(org_file, desired):
    """The other side of item 2: a well-formed SOAP fault is a refusal, not a doubt."""
    org = org_file(
        mutate=with_faults(
            {
                "op": "updateMetadata",
                "match": COMPONENTS["Partner_Portal"][1],
                "kind": "soap_fault",
                "code": "INVALID_CROSS_REFERENCE_KEY",
                "message": "no such user",
                "times": None,
            }
        )
    )
    result = apply(org, desired(YAML))
    assert result.exit_code == 1, result.output
    portal = report_block(result.stdout, "Partner_Portal")
    assert portal[0] == "Partner_Portal: failed", portal
    assert any("INVALID_CROSS_REFERENCE_KEY" in m for m in portal), portal
    assert not any("outcome unknown" in m for m in portal), portal


@pytest.mark.parametrize(
    ("ignored", "path", "planned", "held"),
    [
        ("sessionTimeoutInMinutes", "policies.session_timeout_minutes", "60", "120"),
        ("requiredSessionLevel", "policies.session_level", '"standard"', '"high_assurance"'),
    ],
)
def test_a_save_that_reports_success_but_does_not_stick_fails_verification(
    org_file, desired, ignored, path, planned, held
):
    """The org answers success for the save but keeps one planned field as it was: only
    verification can notice, and it must check every planned field (each one in turn here)."""
    org = org_file(
        mutate=with_faults(
            {
                "op": "updateMetadata",
                "match": COMPONENTS["Partner_Portal"][1],
                "kind": "ignored_field",
                "field": ignored,
                "times": None,
            }
        )
    )
    two_fields = YAML.replace(
        "      session_timeout_minutes: 60\n",
        "      session_timeout_minutes: 60\n      session_level: standard\n",
    )
    result = apply(org, desired(two_fields))
    assert result.exit_code == 1, result.output
    portal = report_block(result.stdout, "Partner_Portal")
    assert portal[0] == "Partner_Portal: failed", portal
    wrong = f"verification: {path} is {held} after apply, expected {planned}"
    assert any(wrong in m for m in portal), portal
    assert report_block(result.stdout, "Mobile_Field_Service")[0] == "Mobile_Field_Service: applied"
