"""Start-up cost is kept down by importing heavy modules only where they are used (docs/scale.md,
issue 9): `--help` and `validate` never load the org stack, the planner or the plan
renderers, and no command loads DeepDiff (reconciler/diffing.py compares lists itself). Each
command runs in a fresh interpreter, which then reports which of the watched modules it
imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from deepdiff import DeepDiff

from reconciler.diffing import changed_paths
from tests.support import REPO, Org, policies_of

ORG_STACK = ("requests", "lxml", "simple_salesforce", "deepdiff", "tenacity", "zeep")
#: What painting a plan needs (reconciler.terminal imports it only to paint one). The views
#: registry (reconciler.render) itself is light: `validate` prints through it.
RENDERERS = (
    "reconciler.render.text_view",
    "reconciler.render.json_view",
    "reconciler.render.markdown_view",
)
SCRIPT = """
import sys
from click.testing import CliRunner
from reconciler.cli import main
result = CliRunner().invoke(main, sys.argv[1:])
assert result.exit_code == 0, result.output
print(result.output)
print("imported:" + ",".join(m for m in {watched!r} if m in sys.modules))
"""


def imported(args: list[str], watched: tuple[str, ...], cwd: Path = REPO) -> tuple[set[str], str]:
    """(watched modules the command imported, its output), from a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(watched=watched), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
    )
    *output, last = done.stdout.strip().splitlines()
    assert last.startswith("imported:"), done.stdout
    return set(filter(None, last.removeprefix("imported:").split(","))), "\n".join(output)


@pytest.mark.parametrize("args", [["--help"], ["validate", "-d", str(REPO / "desired")]])
def test_command_imports_no_org_stack_nor_renderers(args: list[str]) -> None:
    modules, _ = imported(args, ORG_STACK + RENDERERS)
    assert modules == set()


def _reporting_permission_sets(org: Org, value: str) -> None:
    """Set Reporting_JWT's permission sets in the org (desired/ declares two of them)."""

    def change(doc: dict[str, Any]) -> None:
        policies_of(doc, "Reporting_JWT")["commaSeparatedPermissionSet"] = value

    org.mutate(change)


def _plan(org: Org, tmp_path: Path) -> tuple[set[str], str]:
    args = ["plan", "-o", org.target, "-d", str(REPO / "desired"), "--no-color"]
    return imported(args, ("deepdiff",), cwd=tmp_path)


def test_plan_without_list_changes_shows_none(org: Org, tmp_path: Path) -> None:
    # The same two permission sets in the other order: equal as sets, so no change either.
    _reporting_permission_sets(org, "Data_Export_All,Billing_Integration")
    modules, output = _plan(org, tmp_path)
    assert "Plan: " in output and "permission_sets" not in output
    assert modules == set()


def test_plan_with_a_list_change_shows_it_without_deepdiff(org: Org, tmp_path: Path) -> None:
    """A list that differs is a change, decided without DeepDiff (no longer a dependency)."""
    _reporting_permission_sets(org, "Billing_Integration")
    modules, output = _plan(org, tmp_path)
    assert "permission_sets" in output
    assert modules == set()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["a", "b"], ["b", "a"]),  # order is not a change
        (["a", "a", "b"], ["b", "a"]),  # nor is a repeated name
        (["a"], ["a", "b"]),
        ([" a"], ["a"]),
        (["A"], ["a"]),
        ([], []),
        ([None], []),
        ([["a"]], [["a"]]),  # not names
        ([["a", "b"]], [["b", "a"]]),
        ([["a"]], [["b"]]),
        ([1], [1.0]),
        ([1], [2]),
        ([True], [1]),
        (30, 30.0),
        (30, "30"),
        ([{"a": 1}], [{"a": 1.0}]),
        ([{"a": 1}], [{"a": 2}]),
        ("ab", ["a", "b"]),
    ],
)
def test_comparison_agrees_with_deepdiff(before: Any, after: Any) -> None:
    """The hand-written comparison says what DeepDiff (ignore_order, numeric types ignored)
    said when it was asked, on every kind of value a field can hold."""
    options = {"ignore_order": True, "ignore_numeric_type_changes": True}
    diff = DeepDiff({"k": before}, {"k": after}, **options)
    expected = ["k"] if diff.affected_root_keys else []
    assert changed_paths({"k": before}, {"k": after}) == expected
