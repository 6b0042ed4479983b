#!/usr/bin/env python3
"""Print the fault matrix as a Markdown table, from a real run of every scenario.

    python tools/fault_table.py [--workers N] [--only ID ...]

Runs the scenarios of tests/e2e/fault_scenarios.py (the list tests/e2e/test_fault_matrix.py
checks) through the real CLI against the HTTPS emulator: `plan`, `apply --auto-approve`, then
the next `plan` with the faults removed. Every cell is what that run printed or left in the
org, not what the scenario expects; rows that differ from their expectation are listed under
the table (known product bugs say so), so the table can be pasted into a report as evidence.
Exit status: 0 when every row matched its expectation or a known bug, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: import the test scenarios
    sys.path.insert(0, str(REPO))

from tests.e2e.fault_scenarios import (  # noqa: E402
    SCENARIOS,
    Observed,
    expected_next,
    key,
    run_all,
)


def cell(text: str, limit: int = 120) -> str:
    """One table cell: a single line, pipes escaped, long text cut."""
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_line(stderr: str) -> str:
    """The `Error: ...` line a failed command printed (its first line only)."""
    for line in stderr.splitlines():
        if line.startswith("Error: "):
            return line[len("Error: ") :]
    return stderr.strip().splitlines()[-1] if stderr.strip() else "(no message)"


def plan_cell(o: Observed) -> str:
    if o.plan.exit_code == 0 and o.plan_changes is not None:
        return f"exit 0, {len(o.plan_changes)} changes"
    return f"exit {o.plan.exit_code}: {error_line(o.plan.stderr)}"


def outcome_cell(o: Observed) -> str:
    if o.report:
        return "<br>".join(f"{app}: {state}" for app, state in sorted(o.report.items()))
    written = "nothing written" if o.after_bytes == o.before_bytes else "BUT THE ORG CHANGED"
    return f"no report: apply's own plan failed, {written}"


def next_plan_cell(o: Observed) -> str:
    if o.next_changes is None:
        return f"exit {o.next_plan.exit_code}: {error_line(o.next_plan.stderr)}"
    if not o.next_changes:
        return "no changes"
    sides: dict[str, set[str]] = defaultdict(set)
    for change in o.next_changes:
        sides[change["app"]].add(change["component"])
    where = "; ".join(f"{app} {'+'.join(sorted(s))}" for app, s in sorted(sides.items()))
    return f"{len(o.next_changes)} changes: {where}"


def deviations(o: Observed) -> list[str]:
    """How this run differs from what its scenario expects (empty: as expected)."""
    s = o.scenario
    out = []
    if o.plan.exit_code != s.plan_exit:
        out.append(f"plan exit {o.plan.exit_code}, expected {s.plan_exit}")
    if o.apply.exit_code != s.apply_exit:
        out.append(f"apply exit {o.apply.exit_code}, expected {s.apply_exit}")
    expected = {app: e.state for app, e in s.outcomes.items()}
    if o.report != expected:
        out.append(f"report {o.report}, expected {expected}")
    if o.next_changes is None or sorted(map(key, o.next_changes)) != sorted(
        map(key, expected_next(o))
    ):
        out.append(f"next plan: {next_plan_cell(o)}, expected {len(expected_next(o))} changes")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8, help="scenarios run at once")
    parser.add_argument("--only", nargs="+", metavar="ID", help="only these scenario ids")
    args = parser.parse_args(argv)
    scenarios = [s for s in SCENARIOS if not args.only or s.id in args.only]
    if not scenarios:
        parser.error(f"no scenario matches; ids: {', '.join(s.id for s in SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="fault-table-") as tmp:
        observed = run_all(scenarios, Path(tmp), workers=args.workers)
    print("| fault | call | plan | apply exit | per-app outcome | next plan |")
    print("|---|---|---|---|---|---|")
    for s in scenarios:
        o = observed[s.id]
        row = [
            s.fault,
            s.call,
            plan_cell(o),
            str(o.apply.exit_code),
            outcome_cell(o),
            next_plan_cell(o),
        ]
        print("| " + " | ".join(cell(c) for c in row) + " |")
    unexpected = 0
    notes = []
    for s in scenarios:
        found = deviations(observed[s.id])
        if found and s.xfail:
            notes.append(f"- `{s.id}` (known bug): {'; '.join(found)}. {s.xfail}")
        elif found:
            unexpected += 1
            notes.append(f"- `{s.id}` UNEXPECTED: {'; '.join(found)}")
        elif s.xfail:
            unexpected += 1
            notes.append(f"- `{s.id}`: behaves as expected now; the known-bug mark is stale")
    print()
    print(f"{len(scenarios)} scenarios, {sum(o.seconds for o in observed.values()):.1f} s of runs.")
    print("\n".join(notes) if notes else "Every row is as its scenario expects.")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
