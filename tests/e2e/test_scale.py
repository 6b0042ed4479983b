"""Round trips at scale: the emulator enforces Salesforce's 10-per-call limit and counts calls.

Planning 30+ apps must batch reads and writes in tens (the emulator faults otherwise), and the
run-as risk lookups must cost the same few queries whatever the number of apps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from reconciler import api
from reconciler.applying import apply_plan
from reconciler.emulator.server import EmulatorServer
from reconciler.org.connect import emulator_org
from tests.support import add_clones, demo_doc

DESIRED = """\
version: 1
baseline: [ECA-OAUTH-001]
unlisted: enforce
apps: {}
"""


def _org_with_clones(tmp_path: Path, clones: int) -> tuple[Path, int]:
    doc = demo_doc()
    add_clones(doc, "Legacy_Importer", clones)  # settings side has client credentials on
    add_clones(doc, "Ledger_Export", clones)  # both sides on, with a run-as user
    path = tmp_path / f"org-{clones}.json"
    path.write_text(json.dumps(doc))
    return path, len(doc["metadata"]["ExternalClientApplication"])


def _plan_and_apply(tmp_path: Path, clones: int):
    state, apps = _org_with_clones(tmp_path, clones)
    desired_file = tmp_path / f"d-{clones}.yaml"
    desired_file.write_text(DESIRED)
    desired = api.load_desired(desired_file)
    with EmulatorServer(state) as server:
        org = emulator_org(server)
        plan, live = api.make_plan(org, desired)
        planning_calls = dict(server.metadata.calls)
        result = apply_plan(org, plan, live)
        after, _ = api.make_plan(org, desired)
        return apps, plan, planning_calls, dict(server.metadata.calls), result, after


def test_reads_and_writes_are_batched_in_tens(tmp_path):
    apps, plan, planning, total, result, after = _plan_and_apply(tmp_path, clones=15)
    assert apps == 40
    assert result.ok, [r for r in result.results if r.status != "applied"]
    assert after.changes == []
    # Four types (ConnectedApp too, issue 18): three per listMetadata call, so two calls.
    assert planning["listMetadata"] == 2
    # settings + policies, and the demo org's 3 Connected Apps in one read.
    assert planning["readMetadata"] == 2 * math.ceil(apps / 10) + 1
    settings = sum(1 for a in plan.changed_apps if a.changes_on("settings"))
    policies = sum(1 for a in plan.changed_apps if a.changes_on("policies"))
    assert settings > 10 and policies > 10  # so batching is really exercised
    # + one ConnectedApp call: the demo org's two Connected Apps with client credentials on.
    assert total["updateMetadata"] == math.ceil(settings / 10) + math.ceil(policies / 10) + 1


def test_risk_lookups_do_not_grow_with_the_number_of_apps(tmp_path):
    small = _plan_and_apply(tmp_path, clones=1)[2]
    large = _plan_and_apply(tmp_path, clones=12)[2]
    # org id + user, profile, assignment + LoginHistory (usage, one grouped query)
    assert small["query"] == large["query"] <= 5
