"""One apply per org at a time: the lock file, its holder, waiting, and dead holders."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import api, planfile
from reconciler.emulator.server import EmulatorServer
from reconciler.org.connect import emulator_org
from reconciler.planfile import PlanMismatchError

from .conftest import SHIPPED_DESIRED, run, settings_of

ORG_ID = "00D000000000001EAA"
POLICIES = "ExtlClntAppOauthConfigurablePolicies"
DWH_POLICIES = "Data_Warehouse_ETL_oauth_defaultPolicy"


def _holder(pid: int) -> dict[str, object]:
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "started": "2026-01-01T00:00:00+00:00",
        "command": "apply",
        "org_id": ORG_ID,
        "token": "0123456789abcdef",
    }


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process that is alive for the whole test (the lock's holder)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def lock_file(own_state_dir: Path) -> Path:
    path = own_state_dir / "locks" / f"{ORG_ID}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _apply(org, *extra: object):
    return run("apply", "-o", org.target, "-d", SHIPPED_DESIRED, "--auto-approve", *extra)


def test_a_held_lock_fails_at_once_naming_the_holder(org, lock_file, live_pid):
    lock_file.write_text(json.dumps(_holder(live_pid)))
    before = org.bytes()
    started = time.monotonic()
    result = _apply(org)
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 10
    assert f"org {ORG_ID} is locked by `apply` (pid {live_pid} on {socket.gethostname()}" in (
        result.stderr
    )
    assert "--lock-timeout" in result.stderr
    assert org.bytes() == before
    assert json.loads(lock_file.read_text())["pid"] == live_pid  # not ours to remove


def test_a_run_refused_at_the_lock_leaves_a_named_evidence_record(
    org, lock_file, live_pid, tmp_path
):
    """Issue 16: a refusal at the lock is an outcome of its own, in the record as on stderr."""
    lock_file.write_text(json.dumps(_holder(live_pid)))
    result = _apply(org, "--evidence-dir", tmp_path / "ev")
    assert result.exit_code == 1, result.output
    (path,) = (tmp_path / "ev").glob("*-apply-*.json")
    assert f"Evidence: {path}" in result.stderr
    outcome = json.loads(path.read_text())["result"]
    assert outcome["ok"] is False and outcome["refused"] == "LockHeld"
    assert f"is locked by `apply` (pid {live_pid}" in outcome["reason"]
    assert outcome["apps"] == []


def test_a_dead_holders_lock_is_taken_over_with_a_warning(org, lock_file):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock_file.write_text(json.dumps(_holder(gone.pid)))
    result = _apply(org)
    assert result.exit_code == 0, result.output
    assert f"Warning: taking over the lock {lock_file} left by `apply` (pid {gone.pid}" in (
        result.stderr
    )
    assert not lock_file.exists()  # released at the end
    assert settings_of(org.load(), "Legacy_Importer")["isClientCredentialsFlowEnabled"] is False


def test_lock_timeout_waits_for_the_holder_to_finish(org, lock_file, live_pid):
    lock_file.write_text(json.dumps(_holder(live_pid)))
    release = threading.Timer(1.5, lock_file.unlink)
    release.start()
    started = time.monotonic()
    try:
        result = _apply(org, "--lock-timeout", "20")
    finally:
        release.cancel()
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1.5
    assert "waiting up to 20s for the lock held by `apply`" in result.stderr
    assert "Apply complete" in result.stdout


def test_lock_timeout_gives_up_after_the_time_given(org, lock_file, live_pid):
    lock_file.write_text(json.dumps(_holder(live_pid)))
    started = time.monotonic()
    result = _apply(org, "--lock-timeout", "1")
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started >= 1
    assert "(waited 1s)" in result.stderr


def test_the_lock_is_held_during_the_run_and_released_after(org, lock_file, own_state_dir):
    """Seen from outside: the lock file exists while apply runs and is gone afterwards."""
    seen: list[dict[str, object]] = []

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not seen:
            try:
                seen.append(json.loads(lock_file.read_text()))
            except (OSError, ValueError):
                time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = _apply(org)
    watcher.join()
    assert result.exit_code == 0, result.output
    assert seen and seen[0]["command"] == "apply" and seen[0]["org_id"] == ORG_ID
    assert not lock_file.exists()
    assert not list((own_state_dir / "locks").glob(".*"))  # no temp files left behind


def test_a_run_that_waited_for_the_lock_plans_again(org, lock_file, live_pid, monkeypatch):
    """The holder set a planned field to a third value before releasing the lock: the waiting
    apply must plan again from what it left (and apply that), not write its older plan, which
    the stale check would refuse."""
    lock_file.write_text(json.dumps(_holder(live_pid)))
    with EmulatorServer(org.path) as server:
        monkeypatch.setenv("SF_ACCESS_TOKEN", server.access_token)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_cert_path)

        def holder_finishes() -> None:
            with server.state.transaction() as doc:
                doc["metadata"][POLICIES][DWH_POLICIES]["ipRelaxationPolicyType"] = "Bypass_2factor"
            lock_file.unlink()

        release = threading.Timer(1.5, holder_finishes)
        release.start()
        try:
            result = run(
                "apply",
                "--instance-url",
                server.instance_url,
                "-d",
                SHIPPED_DESIRED,
                "--auto-approve",
                "--lock-timeout",
                "20",
            )
        finally:
            release.cancel()
        policy = server.state.doc["metadata"][POLICIES][DWH_POLICIES]
    assert result.exit_code == 0, result.output
    assert "waiting up to 20s for the lock" in result.stderr
    assert "stale" not in result.output
    assert policy["ipRelaxationPolicyType"] == "Enforce"
    assert policy["isClientCredentialsFlowEnabled"] is False


def test_a_saved_plan_is_checked_again_after_waiting_for_the_lock(
    org, lock_file, live_pid, tmp_path
):
    """apply PLANFILE through the library: the fresh plan is compared with the file again once
    the lock is held, so a change the holder made in the meantime refuses the file instead of
    being missed."""
    desired = api.load_desired((Path(SHIPPED_DESIRED),))
    lock_file.write_text(json.dumps(_holder(live_pid)))
    with EmulatorServer(org.path) as server:
        connection = emulator_org(server)
        saved, _ = api.make_plan(connection, desired)
        saved_file = planfile.write(saved, tmp_path / "saved.json")

        def holder_finishes() -> None:
            with server.state.transaction() as doc:
                doc["metadata"][POLICIES][DWH_POLICIES]["ipRelaxationPolicyType"] = "Bypass_2factor"
            lock_file.unlink()

        release = threading.Timer(1.0, holder_finishes)
        release.start()
        request = api.ApplyRequest(
            (Path(SHIPPED_DESIRED),),
            connection,
            safety=api.Safety(lock_timeout=20),
            plan_file=saved_file,
        )
        try:
            with pytest.raises(PlanMismatchError, match="ip_relaxation"):
                api.apply(request, api.Hooks(confirm=api.auto_approve))
        finally:
            release.cancel()
        after = json.loads(json.dumps(server.state.doc, sort_keys=True))
    assert after["metadata"][POLICIES][DWH_POLICIES]["ipRelaxationPolicyType"] == "Bypass_2factor"
    assert after["metadata"][POLICIES][DWH_POLICIES]["isClientCredentialsFlowEnabled"] is True
