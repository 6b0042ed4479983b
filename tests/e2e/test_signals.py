"""Signals during apply: a real `reconciler` process, interrupted while its first write is in
flight (a latency fault holds updateMetadata open). It must finish or abandon that call, print
the per-app report, write the evidence record, and leave every planned field either as it was
or as planned, never anything else."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from reconciler import fields as F

from .conftest import (
    COMPONENTS,
    POLICIES,
    SETTINGS,
    SHIPPED_DESIRED,
    finish_cli,
    report_block,
    start_cli,
)

SIDE_TYPE = {"settings": SETTINGS, "policies": POLICIES}


def _slow_writes(seconds: float):
    def mutate(doc: dict[str, Any]) -> None:
        doc["org"]["faults"] = [
            {"op": "updateMetadata", "kind": "latency", "seconds": seconds, "times": None}
        ]

    return mutate


def _start_and_wait_for_first_write(org, tmp_path: Path):
    evidence = tmp_path / "ev"
    args = ["apply", "-o", org.target, "-d", SHIPPED_DESIRED, "--auto-approve"]
    proc = start_cli([*args, "--evidence-dir", evidence], cwd=tmp_path)
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while "Backup of the components to be written" not in seen:  # printed just before it
        line = proc.stderr.readline()
        assert line and time.monotonic() < deadline, seen
        seen += line
    time.sleep(0.8)  # the first updateMetadata is now inside the emulator's latency
    return proc, evidence, seen


def _planned(record: dict[str, Any]) -> list[dict[str, Any]]:
    return record["plan"]["changes"]


def _value(doc: dict[str, Any], change: dict[str, Any]) -> Any:
    app, side, field = change["app"], change["component"], change["field"]
    name = COMPONENTS[app][0 if side == "settings" else 1]
    fields = doc["metadata"][SIDE_TYPE[side]][name]
    return F.decode_component(side, fields)[f"{side}.{field}"]


def test_sigint_finishes_the_call_in_flight_then_reports_and_exits_130(org_file, tmp_path):
    org = org_file(mutate=_slow_writes(2.5))
    proc, evidence, _ = _start_and_wait_for_first_write(org, tmp_path)
    proc.send_signal(signal.SIGINT)
    done = finish_cli(proc)
    assert done.returncode == 130, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    assert "Stopping after the call in flight" in done.stderr
    assert "Interrupted by SIGINT" in done.stdout
    # Policies go first for both apps (disabling); that call finished, settings never started.
    for app in ("Data_Warehouse_ETL", "Legacy_Importer"):
        lines = report_block(done.stdout, app)
        assert lines[0] == f"{app}: partially applied", done.stdout
        assert "settings: not attempted: interrupted" in lines, lines
    [record] = [json.loads(p.read_text()) for p in evidence.glob("*.json")]
    assert record["result"]["interrupted"] is True
    assert {a["app"]: a["status"] for a in record["result"]["apps"]} == {
        "Data_Warehouse_ETL": "partially applied",
        "Legacy_Importer": "partially applied",
    }
    doc = org.load()
    for change in _planned(record):
        expected = change["after"] if change["component"] == "policies" else change["before"]
        assert _value(doc, change) == expected, change


def test_a_second_signal_abandons_the_call_and_still_reports(org_file, tmp_path):
    org = org_file(mutate=_slow_writes(4))
    proc, evidence, _ = _start_and_wait_for_first_write(org, tmp_path)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    done = finish_cli(proc)
    assert done.returncode == 143, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    assert "Interrupted by SIGTERM" in done.stdout
    for app in ("Data_Warehouse_ETL", "Legacy_Importer"):
        lines = report_block(done.stdout, app)
        assert lines[0] == f"{app}: unknown", done.stdout
        assert any("interrupted while the write was in flight" in m for m in lines), lines
    [record] = [json.loads(p.read_text()) for p in evidence.glob("*.json")]
    assert record["result"]["interrupted"] is True
    doc = org.load()
    for change in _planned(record):
        assert _value(doc, change) in (change["before"], change["after"]), change
