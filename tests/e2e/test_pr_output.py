"""Issue 8.4: output for pull requests and pipelines, through the CLI against the emulator.

- `plan --format markdown`: summary first, risk ranking, each change with its control id,
  exceptions (soon-expiring ones flagged), violations left in place, in <details> blocks, and
  never longer than GitHub's 65,536-character comment limit (saying what it cut).
- `validate --format github`: `::error file=...,line=...::` annotations, escaped per GitHub.
- `--format json` on validate/plan/audit: an error is one JSON object on stdout, exit 1.

Expected data comes from the JSON plan of the same org and YAML, so the Markdown is checked
against the plan, not against a copy of itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.model import LEVEL_ORDER
from tests.support import add_clones

from .conftest import SHIPPED_DESIRED, Org, demo_doc, run

LIMIT = 65_536
TODAY = datetime.now(UTC).date()
SOON = TODAY + timedelta(days=5)
LATER = TODAY + timedelta(days=200)

REVIEW_YAML = f"""\
version: 1
baseline: [ECA-OAUTH-001, ECA-OAUTH-004]
unlisted: report
exception_warning_days: 10
apps:
  Billing_Sync:
    settings: {{client_credentials: true}}
    policies: {{client_credentials: true, run_as: billing.integration@acme.example}}
    exceptions:
      - control: ECA-OAUTH-001
        justification: nightly sync
        owner: payments@acme.example
        ticket: SEC-1
        expires: {SOON.isoformat()}
  Support_Exporter:
    settings: {{client_credentials: true}}
    policies: {{client_credentials: true}}
    exceptions:
      - control: ECA-OAUTH-001
        justification: support exports
        owner: support@acme.example
        expires: {LATER.isoformat()}
  Legacy_Importer:
    settings: {{device: true}}
  Data_Warehouse_ETL:
    policies: {{ip_relaxation: enforce}}
"""


def plan_json(org: Org, desired: Path, *extra: Any) -> dict[str, Any]:
    result = run("plan", "-o", org.target, "-d", desired, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def plan_markdown(org: Org, desired: Path, *extra: Any) -> str:
    result = run("plan", "-o", org.target, "-d", desired, "--format", "markdown", *extra)
    assert result.exit_code == 0, result.output
    return result.stdout


# -- Markdown content --------------------------------------------------------------------


@pytest.fixture
def review(org: Org, write_yaml: Callable[..., Path]) -> tuple[dict[str, Any], str]:
    desired = write_yaml(REVIEW_YAML)
    return plan_json(org, desired), plan_markdown(org, desired)


def test_markdown_summary_comes_first_with_the_plan_counts(review) -> None:
    doc, md = review
    s = doc["summary"]
    assert md.startswith(f"### reconciler plan for org `{doc['org_id']}`\n\n**Summary**\n")
    assert md.index("**Summary**") < md.index("<details")
    changed = sorted({c["app"] for c in doc["changes"]})
    # Billing_Sync and Support_Exporter are already as declared: 2 apps change.
    assert s["apps_to_change"] == len(changed) == 2
    line = next(x for x in md.splitlines() if x.startswith("- **Apps to change:**"))
    assert line.startswith(f"- **Apps to change:** {len(changed)} ({s['fields_to_change']} fields)")
    assert all(f"`{app}`" in line for app in changed)
    assert "- **Flows being enabled:** 1: `Legacy_Importer` `settings.device`\n" in md
    high = sorted(a["name"] for a in doc["apps"] if a["risk"] and a["risk"]["level"] == "high")
    assert high and s["high_risk_apps"] == len(high)
    assert (
        f"- **High-risk apps** (client credentials on): {len(high)}: "
        + ", ".join(f"`{n}`" for n in high)
        + "\n"
    ) in md
    assert "- **Exceptions in force:** 2, 1 expiring within 10 days\n" in md
    assert f"- **Baseline violations left in place:** {s['violations']}\n" in md


def test_markdown_risk_ranking_is_the_plans_risk_highest_first(review) -> None:
    doc, md = review
    risky = [a for a in doc["apps"] if a["risk"]]
    expected = sorted(risky, key=lambda a: (LEVEL_ORDER[a["risk"]["level"]], a["name"]))
    shown = re.findall(r"^1\. \*\*([A-Z]+)\*\* `([^`]+)`: run as `([^`]+)`", md, re.M)
    assert shown == [
        (a["risk"]["level"].upper(), a["name"], a["risk"]["run_as"]["username"]) for a in expected
    ]
    marks = {"+": "[raises]", "-": "[lowers]", "?": "[unknown]"}
    for app in expected:  # every factor, marked in words (never a bare +/-), under its app
        for factor in app["risk"]["factors"]:
            item = re.escape(marks[factor[0]] + " " + factor[2:].replace("_", "&#95;"))
            assert re.search(rf"^   - {item}$", md, re.M), factor


def test_markdown_lists_each_change_with_its_control_id(review) -> None:
    doc, md = review
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert len(rows) == len(doc["changes"])
    for c in doc["changes"]:
        start = f"| `{c['app']}` | `{c['component']}.{c['field']}` | "
        row = next(r for r in rows if r.startswith(start))
        if c["control"]:
            assert f"baseline `{c['control']}` (not declared)" in row, row
        if c["enables_flow"]:
            assert "**enables a flow**" in row, row
    # The declared client-credentials change serves ECA-OAUTH-001, though not injected by it.
    legacy_cc = next(r for r in rows if r.startswith("| `Legacy_Importer` | `settings.client_"))
    assert legacy_cc.endswith("| baseline `ECA-OAUTH-001` (not declared) |"), legacy_cc
    dwe = next(r for r in rows if r.startswith("| `Data_Warehouse_ETL` | `policies.ip_relaxation`"))
    assert dwe.endswith('| "bypass" | "enforce" |  |'), dwe  # no control covers it here


def test_markdown_exceptions_flag_the_soon_expiring(review) -> None:
    _, md = review
    billing = next(x for x in md.splitlines() if x.startswith("- `Billing_Sync`: `ECA-OAUTH-001`"))
    assert f"accepted until {SOON.isoformat()} **expires in 5 days**;" in billing
    assert "owner payments@acme.example, ticket SEC-1: nightly sync" in billing
    support = next(x for x in md.splitlines() if x.startswith("- `Support_Exporter`: `ECA-OAUTH"))
    assert f"accepted until {LATER.isoformat()};" in support
    assert "expires in" not in support
    assert md.index("- `Billing_Sync`: `ECA") < md.index("- `Support_Exporter`: `ECA")


def test_markdown_violations_left_in_place_and_details_blocks(review) -> None:
    doc, md = review
    found = [f for a in doc["apps"] for f in a["findings"] if f["exception"] is None]
    assert found
    section = md[md.index("Baseline violations left in place: ") :]
    for f in found:
        value = "true" if f["value"] is True else f'"{f["value"]}"'
        assert f"- `{f['app']}`: `{f['control']}` `{f['path']}` is {value}" in section, f
    opened = re.findall(r"^<details", md, re.M)
    # risk, usage, changes, exceptions, violations, warnings (the exception expiring in 5 days)
    assert len(opened) == md.count("</details>") == 6
    assert md.count("<summary>") == 6
    assert re.search(
        r"^- \S+apps\.yaml:10: apps\.Billing&#95;Sync\.exceptions: exception for ECA-OAUTH-001 "
        r"expires in 5 day\(s\)",
        md,
        re.M,
    )


# -- the size guard ----------------------------------------------------------------------


def big_org(make_org: Callable[..., Org], clones: int) -> Org:
    doc = demo_doc()
    add_clones(doc, "Legacy_Importer", clones)
    return make_org(doc=doc)


BIG_YAML = """\
version: 1
baseline: [ECA-OAUTH-001, ECA-OAUTH-004]
unlisted: {unlisted}
apps:
  Legacy_Importer:
    settings: {{device: true}}
  Data_Warehouse_ETL:
    policies: {{ip_relaxation: enforce}}
"""


def test_huge_report_cuts_violations_before_any_change(make_org, write_yaml) -> None:
    org = big_org(make_org, 400)
    desired = write_yaml(BIG_YAML.format(unlisted="report"))
    doc = plan_json(org, desired)
    md = plan_markdown(org, desired)
    assert len(md) <= LIMIT
    violations = doc["summary"]["violations"]
    assert violations > 800
    assert f"- **Baseline violations left in place:** {violations}\n" in md
    # Every change is kept: violations are the less important detail.
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert len(rows) == len(doc["changes"])
    shown = len(re.findall(r"^- `Legacy_Importer_\d+`: `ECA-OAUTH", md, re.M))
    note = re.search(
        r"left out (?:(\d+) ranked apps, )?(?:\d+ usage lines, )?(\d+) violations \(least", md
    )
    assert note, md[:3000]
    assert shown + int(note[2]) == violations
    # The 400 clones' medium/low risk entries go only once every violation has gone.
    if note[1]:
        assert shown == 0
    ranked = len(re.findall(r"^1\. \*\*", md, re.M))
    assert ranked + int(note[1] or 0) == sum(1 for a in doc["apps"] if a["risk"])
    assert md.index("Cut to fit GitHub's 65,536-character comment limit") < md.index("<details")


def test_huge_plan_keeps_summary_and_says_how_many_changes_it_cut(make_org, write_yaml) -> None:
    org = big_org(make_org, 600)
    desired = write_yaml(BIG_YAML.format(unlisted="enforce"))
    doc = plan_json(org, desired)
    md = plan_markdown(org, desired)
    assert len(md) <= LIMIT
    s = doc["summary"]
    assert s["apps_to_change"] > 600
    line = f"- **Apps to change:** {s['apps_to_change']} ({s['fields_to_change']} fields)"
    assert line in md
    assert "> **Safety threshold:** the plan changes" in md  # never cut either
    assert f"<summary>Plan: {s['apps_to_change']} apps to change," in md
    apps_shown = {m for m in re.findall(r"^\| `([^`]+)` \|", md, re.M)}
    note = re.search(r"left out (?:[^.]*?, )?(\d+) changed apps", md)
    assert note, md[:3000]
    assert apps_shown and len(apps_shown) + int(note[1]) == s["apps_to_change"]
    # The flow being enabled ranks first and is never the part that is cut.
    assert "| `Legacy_Importer` | `settings.device` | false | true | **enables a flow** |" in md
    assert f"*… {note[1]} changed apps not shown (cut to fit; see the note).*" in md


# -- validate --format github ------------------------------------------------------------

BAD_YAML = """\
version: 1
apps:
  Partner_Portal:
    settings:
      "bad,key:x": true
      client_credentials: "50%"
      "two\\nlines": 1
"""


@pytest.fixture
def bad_yaml(write_yaml: Callable[..., Path]) -> Path:
    return write_yaml(BAD_YAML, folder="a,b:c")  # a folder name with GitHub's separators


def test_validate_github_annotations_escape_per_github(bad_yaml: Path) -> None:
    result = run("validate", "-d", bad_yaml, "--format", "github")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert all(line.startswith("::error file=") for line in lines), lines
    file = str(bad_yaml).replace(",", "%2C").replace(":", "%3A")
    assert "a%2Cb%3Ac" in file
    assert lines[0].startswith(
        f"::error file={file},line=5,title=apps.Partner_Portal.settings.bad%2Ckey%3Ax::"
        "unknown key. Allowed: "
    )
    assert lines[1] == (
        f"::error file={file},line=6,title=apps.Partner_Portal.settings.client_credentials::"
        "invalid value '50%25'; allowed: true or false"
    )
    assert lines[2].startswith(
        f"::error file={file},line=7,title=apps.Partner_Portal.settings.two\\nlines::"
    )
    assert len(lines) == 3
    assert "Error: invalid desired state (3 problem(s))" in result.stderr


def test_validate_github_warnings_and_text_stays_default(write_yaml) -> None:
    path = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-001]\napps:\n  Billing_Sync:\n"
        "    policies: {client_credentials: true, run_as: a@b.example}\n"
        "    exceptions:\n      - control: ECA-OAUTH-001\n        justification: sync\n"
        f"        owner: o@b.example\n        expires: {SOON.isoformat()}\n"
    )
    github = run("validate", "-d", path, "--format", "github")
    assert github.exit_code == 0, github.output
    assert (
        f"::warning file={str(path).replace(':', '%3A')},line=7,"
        "title=apps.Billing_Sync.exceptions::exception for ECA-OAUTH-001 expires in 5 day(s)"
    ) in github.stdout
    text = run("validate", "-d", path)
    assert text.exit_code == 0
    assert "::" not in text.stdout and "Warning: " in text.stderr
    assert text.stdout.startswith("Valid: 1 app(s)")


# -- --format json errors ----------------------------------------------------------------


def issues_of(stdout: str) -> list[dict[str, Any]]:
    doc = json.loads(stdout)  # the whole of stdout is one JSON document
    assert list(doc) == ["error"] and set(doc["error"]) == {"message", "issues"}
    return doc["error"]["issues"]


@pytest.mark.parametrize("command", ["validate", "plan", "audit"])
def test_json_desired_state_errors_on_stdout(command: str, bad_yaml: Path, org: Org) -> None:
    target = [] if command == "validate" else ["-o", org.target]
    result = run(command, *target, "-d", bad_yaml, "--format", "json")
    assert result.exit_code == 1, result.output
    issues = issues_of(result.stdout)
    assert [(i["file"], i["line"], i["key"]) for i in issues] == [
        (str(bad_yaml), 5, "apps.Partner_Portal.settings.bad,key:x"),
        (str(bad_yaml), 6, "apps.Partner_Portal.settings.client_credentials"),
        (str(bad_yaml), 7, "apps.Partner_Portal.settings.two\nlines"),
    ]
    assert issues[1]["message"] == "invalid value '50%'; allowed: true or false"
    assert json.loads(result.stdout)["error"]["message"] == "invalid desired state (3 problem(s))"
    assert "Error: invalid desired state" in result.stderr


def test_json_org_side_error_has_no_issues(org: Org, write_yaml) -> None:
    path = write_yaml("version: 1\napps:\n  Billing_Sync: {}\n")
    result = run("plan", "-o", org.target, "-d", path, "--app", "Nope", "--format", "json")
    assert result.exit_code == 1, result.output
    assert issues_of(result.stdout) == []
    assert json.loads(result.stdout)["error"]["message"].startswith(
        "not declared in the desired state: Nope"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--format", "json", "--no-such-flag"],
        ["plan", "--format=json", "--max-changes", "lots"],
        ["audit", "--format", "json", "--no-such-flag"],
        ["validate", "--no-such-flag", "--format", "json"],
    ],
)
def test_json_usage_errors_exit_1_as_json(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 1, result.output
    issues_of(result.stdout)
    message = json.loads(result.stdout)["error"]["message"]
    assert "--no-such-flag" in message or "--max-changes" in message, message


def test_text_errors_stay_off_stdout(bad_yaml: Path) -> None:
    result = run("validate", "-d", bad_yaml)
    assert result.exit_code == 1
    assert result.stdout == ""
    usage = run("plan", "--no-such-flag")
    assert usage.exit_code == 1 and usage.stdout == ""


def test_markdown_names_the_control_a_declared_change_serves(org: Org) -> None:
    """Shipped desired/: `client_credentials: false` comes from the YAML's defaults (declared),
    so the row names the control covering the field rather than `baseline ... (not declared)`."""
    md = plan_markdown(org, SHIPPED_DESIRED)
    row = "| `Legacy_Importer` | `settings.client_credentials` | true | false | `ECA-OAUTH-001` |"
    assert row in md.splitlines()
