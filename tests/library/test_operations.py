"""A Python caller of the library gets exactly the CLI's guarantees: the org lock, the re-plan
after waiting, the safety valve, the confirmation, the backup, the evidence record, and a
report when stopped. Driven through `reconciler.api` against the real emulator over HTTPS."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from reconciler import api
from reconciler.locking import LockHeld, lock_path
from reconciler.safety import UnsafePlan
from reconciler.stopping import StopRequest
from tests.support import REPO, Org, policies_of

DESIRED = (REPO / "desired",)
ORG_ID = "00D000000000001EAA"


def target(org: Org) -> api.OrgTarget:
    return api.OrgTarget(target=f"emulator:{org.path}")


def records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_plan_is_read_only_and_records_evidence(org: Org, tmp_path: Path) -> None:
    before = org.bytes()
    outcome = api.plan(api.PlanRequest(DESIRED, target(org), evidence_dir=tmp_path / "ev"))
    assert outcome.plan.changes and org.bytes() == before
    (record,) = records(tmp_path / "ev")
    assert record["command"] == "plan" and record["result"] == {"outcome": "changes"}


def test_default_hooks_never_write(org: Org, tmp_path: Path) -> None:
    """No confirmation given: the library refuses, as the CLI does without a terminal."""
    before = org.bytes()
    request = api.ApplyRequest(DESIRED, target(org), evidence_dir=tmp_path / "ev")
    with pytest.raises(api.Cancelled, match="apply cancelled; nothing was written"):
        api.apply(request)
    assert org.bytes() == before
    (record,) = records(tmp_path / "ev")
    assert record["result"]["ok"] is False and record["result"]["refused"] == "Cancelled"


def test_apply_writes_backs_up_verifies_and_records(org: Org, tmp_path: Path) -> None:
    seen: list[int] = []
    hooks = api.Hooks(show=lambda plan: seen.append(len(plan.changes)), confirm=api.auto_approve)
    request = api.ApplyRequest(
        DESIRED, target(org), evidence_dir=tmp_path / "ev", backup_dir=tmp_path / "b"
    )
    outcome = api.apply(request, hooks)
    assert outcome.ok and outcome.result is not None
    assert seen == [len(outcome.plan.changes)]
    assert (
        outcome.result.backup is not None and outcome.result.backup.parent.parent == tmp_path / "b"
    )
    assert policies_of(org.load(), "Data_Warehouse_ETL")["ipRelaxationPolicyType"] == "Enforce"
    (record,) = records(tmp_path / "ev")
    assert record["command"] == "apply" and record["result"]["ok"] is True
    assert {a["status"] for a in record["result"]["apps"]} == {"applied"}
    again = api.plan(api.PlanRequest(DESIRED, target(org)))
    assert not again.plan.changes


def test_a_held_lock_refuses_the_apply_and_says_so_in_evidence(org: Org, tmp_path: Path) -> None:
    """Another live run holds the org's lock: nothing is written, and the refusal is a record."""
    lock = lock_path(ORG_ID)
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = {"pid": 1, "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    lock.write_text(json.dumps({**holder, "command": "apply", "org_id": ORG_ID, "token": "x"}))
    before = org.bytes()
    request = api.ApplyRequest(DESIRED, target(org), evidence_dir=tmp_path / "ev")
    with pytest.raises(LockHeld):
        api.apply(request, api.Hooks(confirm=api.auto_approve))
    assert org.bytes() == before
    (record,) = records(tmp_path / "ev")
    assert record["result"]["refused"] == "LockHeld" and "lock" in record["result"]["reason"]


def test_the_safety_valve_refuses_a_plan_over_the_threshold(org: Org, tmp_path: Path) -> None:
    before = org.bytes()
    request = api.ApplyRequest(
        DESIRED, target(org), safety=api.Safety(max_changes="1"), evidence_dir=tmp_path / "ev"
    )
    confirmed: list[bool] = []
    with pytest.raises(UnsafePlan, match="more than --max-changes allows"):
        api.apply(request, api.Hooks(confirm=lambda plan: confirmed.append(True) or True))
    assert org.bytes() == before
    assert not confirmed  # refused before anyone was asked
    (record,) = records(tmp_path / "ev")
    assert record["result"]["refused"] == "UnsafePlan"


def test_a_stop_request_ends_the_apply_with_a_report_and_evidence(org: Org, tmp_path: Path) -> None:
    """The library equivalent of SIGINT: the caller sets the stop flag once the backup is
    written (before the first write); the apply stops, reports every app, records evidence."""
    stop = StopRequest()

    def notify(message: str) -> None:
        if message.startswith("Backup of"):
            stop.event.set()

    before = org.bytes()
    request = api.ApplyRequest(DESIRED, target(org), evidence_dir=tmp_path / "ev", stop=stop)
    outcome = api.apply(request, api.Hooks(confirm=api.auto_approve, notify=notify))
    assert outcome.result is not None and outcome.result.interrupted
    assert not outcome.ok
    assert {r.status for r in outcome.result.results} == {"not attempted"}
    assert org.bytes() == before
    (record,) = records(tmp_path / "ev")
    assert record["result"]["interrupted"] is True


def test_an_open_org_is_used_as_it_is(org: Org) -> None:
    """A caller holding a connection (a notebook) passes it instead of a target."""
    from reconciler.emulator.server import EmulatorServer
    from reconciler.org.connect import emulator_org

    with EmulatorServer(org.path) as server:
        connection = emulator_org(server)
        report = api.audit(connection, DESIRED)
    assert not report.compliant and "Data_Warehouse_ETL" in report.risks


def test_a_rollback_is_held_only_to_an_explicit_limit(org: Org, tmp_path: Path) -> None:
    """A rollback plan has no org app count, so the default threshold never applies; a limit
    the caller gives does, with nothing written."""
    hooks = api.Hooks(confirm=api.auto_approve)
    applied = api.apply(api.ApplyRequest(DESIRED, target(org), backup_dir=tmp_path / "b"), hooks)
    assert applied.result is not None and applied.result.backup is not None
    backup = applied.result.backup
    after_apply = org.bytes()
    limited = api.RollbackRequest(backup, target(org), api.Safety(max_changes="1"))
    with pytest.raises(UnsafePlan, match="more than --max-changes allows"):
        api.rollback(limited, hooks)
    assert org.bytes() == after_apply
    undone = api.rollback(api.RollbackRequest(backup, target(org)), hooks)
    assert undone.ok and undone.result is not None
    assert len(undone.result.results) == len(applied.result.results) >= 2
