"""Issue 8.5: the safety valve. `apply` refuses, with nothing written, a plan that changes more
than 30% of an org of 10 apps or more (the demo org has exactly 10); `--max-changes N` or
`N%` moves the limit; `plan` says when the threshold would stop an apply.

Each plan here turns `settings.introspect_all_tokens` (false on every demo app) on for a chosen
number of apps, with no baseline, so the number of apps to change is exactly the number declared.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import SETTINGS, Org, assert_clean_error, demo_doc, run

DEMO_APPS = sorted(demo_doc()["metadata"]["ExternalClientApplication"])
assert len(DEMO_APPS) == 10, "these tests are written for the 10-app demo org"


def introspect_on(apps: list[str]) -> str:
    """Desired state that changes exactly `apps` (one field each) and nothing else."""
    body = "".join(f"  {app}:\n    settings: {{introspect_all_tokens: true}}\n" for app in apps)
    return f"version: 1\nbaseline: []\nunlisted: ignore\napps:\n{body}"


def drop_app(doc: dict[str, Any], app: str) -> None:
    """Remove an app (header and satellites) from an org document."""
    for type_name, components in doc["metadata"].items():
        for full_name, fields in list(components.items()):
            header = type_name == "ExternalClientApplication" and full_name == app
            if header or fields.get("externalClientApplication") == app:
                del components[full_name]
                doc.get("metadata_info", {}).get(type_name, {}).pop(full_name, None)


def introspect_values(org: Org) -> dict[str, Any]:
    return {
        fields["externalClientApplication"]: fields.get("isIntrospectAllTokens")
        for fields in org.load()["metadata"][SETTINGS].values()
    }


def assert_nothing_written(org: Org, before: bytes, state_dir: Path) -> None:
    assert org.bytes() == before
    backups = state_dir / "backups"
    assert not backups.exists() or not any(backups.rglob("*.json")), list(backups.rglob("*"))


@pytest.fixture
def four(write_yaml: Callable[..., Path]) -> Path:
    """Four of the ten demo apps change: 40%, above the default 30%."""
    return write_yaml(introspect_on(DEMO_APPS[:4]), folder="four")


def test_default_threshold_refuses_with_nothing_written(
    org: Org, four: Path, own_state_dir: Path
) -> None:
    before = org.bytes()
    result = run("apply", "-o", org.target, "-d", four, "--auto-approve")
    assert_clean_error(
        result,
        "refusing to apply: the plan changes 4 apps (40% of the org's 10 apps), more than the "
        "default safety threshold allows (30% = 3 apps). Nothing was written.",
        "re-run with --max-changes 4 (or --max-changes 40%)",
    )
    assert "Apply complete" not in result.stdout
    assert_nothing_written(org, before, own_state_dir)


def test_default_threshold_lets_three_of_ten_through(org: Org, write_yaml) -> None:
    three = write_yaml(introspect_on(DEMO_APPS[:3]))
    result = run("apply", "-o", org.target, "-d", three, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 3 applied" in result.stdout
    values = introspect_values(org)
    assert [app for app in DEMO_APPS if values[app] is True] == DEMO_APPS[:3]


@pytest.mark.parametrize(
    ("limit", "allowed"),
    [("4", True), ("3", False), ("40%", True), ("39%", False), ("100%", True), ("0", False)],
)
def test_max_changes_count_and_percent(
    org: Org, four: Path, own_state_dir: Path, limit: str, allowed: bool
) -> None:
    before = org.bytes()
    result = run("apply", "-o", org.target, "-d", four, "--auto-approve", "--max-changes", limit)
    if allowed:
        assert result.exit_code == 0, result.output
        assert "Apply complete: 4 applied" in result.stdout
        assert sum(v is True for v in introspect_values(org).values()) == 4
    else:
        shown = f"{limit} apps" if not limit.endswith("%") else f"{limit} = 3 apps"
        assert_clean_error(result, f"more than --max-changes allows ({shown})")
        assert_nothing_written(org, before, own_state_dir)


def test_apply_planfile_is_held_to_the_threshold(
    org: Org, four: Path, tmp_path: Path, own_state_dir: Path
) -> None:
    saved = tmp_path / "plan.json"
    planned = run("plan", "-o", org.target, "-d", four, "--out", saved)
    assert planned.exit_code == 0, planned.output
    before = org.bytes()
    refused = run("apply", saved, "-o", org.target, "-d", four)
    assert_clean_error(refused, "refusing to apply: the plan changes 4 apps", "Nothing was written")
    assert_nothing_written(org, before, own_state_dir)
    applied = run("apply", saved, "-o", org.target, "-d", four, "--max-changes", "4")
    assert applied.exit_code == 0, applied.output
    assert sum(v is True for v in introspect_values(org).values()) == 4


def test_plan_says_when_the_threshold_would_stop_apply(org: Org, four: Path, write_yaml) -> None:
    text = run("plan", "-o", org.target, "-d", four)
    assert text.exit_code == 0, text.output
    assert text.stdout.strip().splitlines()[-1] == "Plan: 4 apps to change, 4 fields to change."
    assert (
        "Warning: safety threshold: the plan changes 4 apps (40% of the org's 10 apps), more "
        "than the default safety threshold allows (30% = 3 apps); apply will refuse it unless "
        "given --max-changes 4" in text.stderr
    )
    doc = json.loads(run("plan", "-o", org.target, "-d", four, "--format", "json").stdout)
    assert doc["safety"] == {
        "org_apps": 10,
        "apps_to_change": 4,
        "threshold": "30%",
        "threshold_source": "default",
        "max_apps": 3,
        "apply_would_refuse": True,
    }
    markdown = run("plan", "-o", org.target, "-d", four, "--format", "markdown").stdout
    assert "> **Safety threshold:** the plan changes 4 apps" in markdown

    raised = run("plan", "-o", org.target, "-d", four, "--max-changes", "4", "--format", "json")
    assert json.loads(raised.stdout)["safety"]["apply_would_refuse"] is False
    assert "safety threshold" not in raised.stderr
    three = write_yaml(introspect_on(DEMO_APPS[:3]), folder="three")
    quiet = run("plan", "-o", org.target, "-d", three)
    assert "safety threshold" not in quiet.stderr
    md = run("plan", "-o", org.target, "-d", three, "--format", "markdown").stdout
    assert "Safety threshold" not in md


def test_the_org_counts_all_its_apps_even_when_narrowed(org: Org, four: Path) -> None:
    """`--app` narrows what is read, not the denominator: 1 of 10 apps, not 1 of 1."""
    result = run("plan", "-o", org.target, "-d", four, "--app", DEMO_APPS[0], "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["safety"]["org_apps"] == 10
    assert json.loads(result.stdout)["safety"]["apply_would_refuse"] is False


def test_orgs_under_ten_apps_have_no_default_threshold(make_org, write_yaml) -> None:
    org = make_org(mutate=lambda doc: drop_app(doc, DEMO_APPS[-1]))
    eight = write_yaml(introspect_on(DEMO_APPS[:8]))
    plan = run("plan", "-o", org.target, "-d", eight, "--format", "json")
    assert json.loads(plan.stdout)["safety"]["org_apps"] == 9
    assert json.loads(plan.stdout)["safety"]["threshold"] is None
    result = run("apply", "-o", org.target, "-d", eight, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 8 applied" in result.stdout


def test_an_explicit_limit_holds_on_a_small_org(make_org, write_yaml, own_state_dir) -> None:
    org = make_org(mutate=lambda doc: drop_app(doc, DEMO_APPS[-1]))
    before = org.bytes()
    two = write_yaml(introspect_on(DEMO_APPS[:2]))
    result = run("apply", "-o", org.target, "-d", two, "--auto-approve", "--max-changes", "1")
    assert_clean_error(result, "the plan changes 2 apps (22% of the org's 9 apps)")
    assert_nothing_written(org, before, own_state_dir)


@pytest.mark.parametrize("bad", ["abc", "150%", "-1", "5 apps"])
def test_max_changes_spelling_is_a_usage_error(org: Org, four: Path, bad: str) -> None:
    before = org.bytes()
    result = run("apply", "-o", org.target, "-d", four, "--auto-approve", "--max-changes", bad)
    assert result.exit_code == 1, result.output
    assert "--max-changes" in result.stderr
    assert org.bytes() == before


def test_a_rollback_is_not_held_to_the_threshold(org: Org, four: Path) -> None:
    """The default threshold guards a desired state nobody reviewed; a rollback restores what
    a reviewed apply changed, so undoing an apply of 4 of 10 apps needs no --max-changes (the
    rollback plan carries no org app count; an explicit limit still holds it: tests/library)."""
    applied = run("apply", "-o", org.target, "-d", four, "--auto-approve", "--max-changes", "4")
    assert applied.exit_code == 0, applied.output
    backup = next(
        line.split()[1] for line in applied.stdout.splitlines() if line.startswith("Backup: ")
    )
    undone = run("rollback", backup, "-o", org.target, "--auto-approve")
    assert undone.exit_code == 0, undone.output
    assert "Rollback complete: 4 applied" in undone.stdout
    assert not any(introspect_values(org).values())
