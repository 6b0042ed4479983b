"""Fault matrix: every wire fault the emulator can inject, on chosen calls, through the real CLI.

For each scenario in fault_scenarios.SCENARIOS the shipped desired/ (2 apps to change) is
planned and applied against a demo org whose `org.faults` holds the scenario's rules, and:

- plan and apply exit as expected (0 / 1) without a traceback or an HTML error page;
- apply's report gives each app the expected state (`<app>: <state>`);
- every component holds, for its planned fields, all its before values or all its planned
  after values (one updateMetadata replaces a component whole: never a mix, never a third
  value), and the side the report says was written is the one holding the after values;
- every field nobody planned, in every component of the org, is byte-equal to before;
- the next plan (faults removed) shows exactly the work left: the changes of every side not
  written, nothing of what was applied.

The single-fault behaviours (save retries, lost answers, session renewal, complete reads) have
focused tests in test_apply_reliability.py and test_complete_reads.py; this file checks the
same invariants across all of them at once, and tools/fault_table.py prints it as a table.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler import fields as F
from tests.support import components_of

from .fault_scenarios import (
    HTML_MARKER,
    RETRYING,
    SCENARIOS,
    Observed,
    Scenario,
    expected_next,
    key,
    run_all,
)

SIDE_TYPE = {"settings": F.SETTINGS_TYPE, "policies": F.POLICIES_TYPE}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Observed]:
    """One real run per scenario (plan, apply, next plan), all at once, shared by the checks."""
    return run_all(SCENARIOS, tmp_path_factory.mktemp("faults"))


@pytest.fixture(params=SCENARIOS, ids=[s.id for s in SCENARIOS])
def observed(request: pytest.FixtureRequest, matrix: dict[str, Observed]) -> Observed:
    scenario: Scenario = request.param
    if scenario.xfail and request.function.__name__ in scenario.xfail_checks:
        request.applymarker(pytest.mark.xfail(strict=True, reason=scenario.xfail))
    return matrix[scenario.id]


def _planned(observed: Observed) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(type, fullName) -> {wire field: change} for every planned field."""
    names = components_of(observed.before)
    out: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for change in observed.reference:
        side = change["component"]
        full_name = names[change["app"]][0 if side == "settings" else 1]
        spec = F.BY_PATH[f"{side}.{change['field']}"]
        out.setdefault((SIDE_TYPE[side], full_name), {})[spec.wire] = change
    return out


# -- exit codes and what was printed --------------------------------------------------------


def test_exit_codes_and_clean_output(observed: Observed) -> None:
    s = observed.scenario
    plan, apply = observed.plan, observed.apply
    assert plan.exit_code == s.plan_exit, plan.output
    assert apply.exit_code == s.apply_exit, apply.output
    for result in (plan, apply, observed.next_plan):
        assert "Traceback" not in result.output
        assert "internal error" not in result.output
        assert HTML_MARKER not in result.output  # an HTML error page is never echoed
    if s.plan_exit == 0:  # the fault cost retries, never a different plan
        assert sorted(map(key, observed.plan_changes or [])) == sorted(map(key, observed.reference))
    else:
        # No partial plan: stdout is empty, or (`--format json`) only the JSON error object.
        assert plan.stdout == "" or list(json.loads(plan.stdout)) == ["error"], plan.stdout
        for needle in s.plan_error:
            assert needle in plan.stderr, (needle, plan.stderr)
            assert needle in apply.stderr, (needle, apply.stderr)


def test_report_names_each_app_state(observed: Observed) -> None:
    s = observed.scenario
    expected = {app: e.state for app, e in s.outcomes.items()}
    assert observed.report == expected, observed.apply.output
    if s.outcomes:
        ok = all(e.state == "applied" for e in s.outcomes.values())
        summary = "Apply complete:" if ok else "Apply incomplete:"
        assert summary in observed.apply.stdout, observed.apply.stdout
    for needle in s.apply_stdout:
        assert needle in observed.apply.stdout, (needle, observed.apply.stdout)
    for needle in s.apply_stderr:
        assert needle in observed.apply.stderr, (needle, observed.apply.stderr)
    if s.retried is not None:
        assert (RETRYING in observed.apply.stderr) is s.retried, observed.apply.stderr


# -- what the org holds afterwards -----------------------------------------------------------


def test_planned_fields_hold_before_or_after_never_a_third(observed: Observed) -> None:
    outcomes = observed.scenario.outcomes
    for (type_name, full_name), by_wire in _planned(observed).items():
        old = observed.before["metadata"][type_name][full_name]
        new = observed.after["metadata"][type_name][full_name]
        side = next(iter(by_wire.values()))["component"]
        app = next(iter(by_wire.values()))["app"]
        decoded = F.decode_component(side, new)
        at_before, at_after = [], []
        for wire, change in by_wire.items():
            spec = F.BY_PATH[f"{side}.{change['field']}"]
            path = f"{side}.{change['field']}"
            if new.get(wire) == old.get(wire) and (wire in new) == (wire in old):
                assert decoded[path] == change["before"], (full_name, wire)
                at_before.append(wire)
            elif new.get(wire) == spec.to_wire(change["after"]):
                assert decoded[path] == change["after"], (full_name, wire)
                at_after.append(wire)
            else:
                pytest.fail(
                    f"{full_name}.{wire} holds {new.get(wire)!r}: neither before "
                    f"{old.get(wire)!r} nor planned {spec.to_wire(change['after'])!r}"
                )
        # One write replaces the component whole: its planned fields move together.
        assert not (at_before and at_after), (full_name, at_before, at_after)
        written = side in (outcomes[app].written if app in outcomes else frozenset())
        assert bool(at_after) is written, (full_name, "expected written" if written else "")


def test_unplanned_fields_and_components_are_untouched(observed: Observed) -> None:
    if not observed.scenario.outcomes:  # apply stopped before writing: not a byte moved
        assert observed.after_bytes == observed.before_bytes
        return
    planned = _planned(observed)
    before, after = observed.before, observed.after
    assert {k: v for k, v in after.items() if k not in ("metadata", "metadata_info")} == {
        k: v for k, v in before.items() if k not in ("metadata", "metadata_info")
    }
    assert sorted(after["metadata"]) == sorted(before["metadata"])
    for type_name, components in before["metadata"].items():
        assert sorted(after["metadata"][type_name]) == sorted(components), type_name
        for full_name, old in components.items():
            new = after["metadata"][type_name][full_name]
            skip = set(planned.get((type_name, full_name), {}))
            for wire in (set(old) | set(new)) - skip:
                assert (wire in old) == (wire in new), (full_name, wire)
                assert json.dumps(new.get(wire)) == json.dumps(old.get(wire)), (full_name, wire)


def test_next_plan_shows_exactly_the_unfinished_work(observed: Observed) -> None:
    assert observed.next_plan.exit_code == 0, observed.next_plan.output
    assert observed.next_changes is not None
    assert sorted(map(key, observed.next_changes)) == sorted(map(key, expected_next(observed)))
