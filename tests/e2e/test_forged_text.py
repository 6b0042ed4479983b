"""Issue 6.5: text from the org or the YAML cannot forge output.

The org below is the demo org with hostile strings where the org is free to put any text:
the run-as user's username, profile name and permission set name (REST query results, so they
may carry ESC; XML 1.0 cannot, so metadata strings only carry newlines and markup), an unknown
enum value, component labels, and a whole app whose name is hostile. Each string tries to forge
a `Plan:` line or a `[LOW]` risk line, to rewrite the terminal (ESC [2K erases the line, ESC [1A
moves up), to flip text direction (U+202E), or to break Markdown / SARIF structure.

The invariants checked are the ones a reader relies on: no raw control character reaches
stdout, the hostile text is still shown (escaped, so nothing is hidden either), there is one
`Plan:` line and it is the real one, and every risk line belongs to an app that has a risk.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Org, policies_of, run

FORGED_PLAN = "\nPlan: 0 apps to change."
# No ")" in it: the emulator's SOQL parser ends an IN list at the first ")", even in quotes.
FORGED_LOW = "\n  [LOW] Support_Exporter: run as safe.user@acme.example, API Only"
ESC = "\x1b[2K\x1b[1A"  # erase the line, cursor up: overwrites what was printed before
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: reverses the rest of the line on screen
MARKUP = " | <img src=x onerror=alert(1)> `tick` [link](1) {0}"

RUN_AS = "support.agent@acme.example" + FORGED_PLAN  # metadata and REST: newline only
PROFILE = "Standard User" + FORGED_PLAN + ESC + RLO  # REST only: may carry ESC
PERMSET = "Data_Export_All" + ESC + FORGED_LOW + RLO  # REST only
GHOST = "ghost@acme.example" + FORGED_LOW  # a run-as user that does not exist (metadata)
IP_VALUE = "Bypass" + FORGED_PLAN + MARKUP  # an enum value this version does not know
EVIL_APP = "Evil_App" + FORGED_PLAN + MARKUP  # a whole app with a hostile name

#: How each hostile string must appear: its escaped form (see reconciler.display).
RUN_AS_SHOWN = r"support.agent@acme.example\nPlan: 0 apps to change."
PROFILE_SHOWN = r"Standard User\nPlan: 0 apps to change.\x1b[2K\x1b[1A\u202e"
PERMSET_SHOWN = r"Data_Export_All\x1b[2K\x1b[1A\n  [LOW] Support_Exporter: run as"
GHOST_SHOWN = r"ghost@acme.example\n  [LOW] Support_Exporter"
IP_SHOWN = r'"Bypass\nPlan: 0 apps to change. | <img src=x onerror=alert(1)> `tick` [link](1) {0}"'
EVIL_SHOWN = r"Evil_App\nPlan: 0 apps to change. | <img"

#: Every character `printable` must never let through (newline is ours, between lines).
RAW_CONTROL = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
LABEL = " label" + FORGED_PLAN


def _clone_app(doc: dict[str, Any], template: str, name: str) -> None:
    """Copy app `template` (header and every satellite) under a new, hostile name."""
    for type_name, components in doc["metadata"].items():
        for full_name, fields in list(components.items()):
            is_header = type_name == "ExternalClientApplication" and full_name == template
            if not is_header and fields.get("externalClientApplication") != template:
                continue
            clone = copy.deepcopy(fields)
            new_name = name if is_header else full_name.replace(template, name, 1)
            if not is_header:
                clone["externalClientApplication"] = name
            components[new_name] = clone
            info = doc["metadata_info"][type_name][full_name]
            doc["metadata_info"][type_name][new_name] = dict(info, id=info["id"][:-4] + "ZAAA")


def forge(doc: dict[str, Any]) -> None:
    sobjects = doc["sobjects"]
    agent = next(u for u in sobjects["User"] if u["Username"] == "support.agent@acme.example")
    agent["Username"] = RUN_AS
    policies_of(doc, "Support_Exporter")["clientCredentialsFlowUser"] = RUN_AS
    next(p for p in sobjects["Profile"] if p["Id"] == agent["ProfileId"])["Name"] = PROFILE
    next(p for p in sobjects["PermissionSet"] if p["Name"] == "Data_Export_All")["Name"] = PERMSET
    policies_of(doc, "Ledger_Export")["clientCredentialsFlowUser"] = GHOST
    policies_of(doc, "Data_Warehouse_ETL")["ipRelaxationPolicyType"] = IP_VALUE
    for components in doc["metadata"].values():  # labels are never shown; still never raw
        for fields in components.values():
            if "label" in fields:
                fields["label"] += LABEL
    _clone_app(doc, "Support_Exporter", EVIL_APP)


DESIRED = """\
version: 1
baseline: [ECA-OAUTH-001, ECA-OAUTH-006]
unlisted: {unlisted}
apps:
  Data_Warehouse_ETL:
    settings: {{client_credentials: false}}
    policies: {{client_credentials: false, ip_relaxation: enforce}}
"""


@pytest.fixture
def forged(make_org: Callable[..., Org]) -> Org:
    return make_org(forge)


@pytest.fixture
def report_yaml(write_yaml: Callable[..., Path]) -> Path:
    return write_yaml(DESIRED.format(unlisted="report"), name="report.yaml", folder="report")


def assert_inert(out: str) -> None:
    """No raw control or bidi character anywhere in the output."""
    found = sorted({repr(c) for c in RAW_CONTROL.findall(out)})
    assert not found, f"raw control characters in the output: {found}"


def section(out: str, header: str) -> list[str]:
    """The lines under `header` up to the next blank line."""
    assert header in out, out
    return out.split(header + "\n", 1)[1].split("\n\n", 1)[0].splitlines()


def json_of(*args: Any, codes: tuple[int, ...] = (0, 3)) -> dict[str, Any]:
    result = run(*args)
    assert result.exit_code in codes, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_text_plan_cannot_be_forged(forged: Org, report_yaml: Path) -> None:
    doc = json_of("plan", "-o", forged.target, "-d", report_yaml, "--format", "json")
    apps = {a["name"]: a for a in doc["apps"]}
    # The hostile strings really reach the plan (verbatim in JSON, which escapes them itself).
    support = apps["Support_Exporter"]["risk"]["run_as"]
    assert (support["username"], support["profile"]) == (RUN_AS, PROFILE)
    assert any(PERMSET in power for power in support["powers"])
    assert EVIL_APP in apps

    result = run("plan", "-o", forged.target, "-d", report_yaml)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert_inert(out)
    lines = out.splitlines()
    plan_lines = [line for line in lines if line.startswith("Plan:")]
    assert plan_lines == [lines[-1]], plan_lines
    s = doc["summary"]
    real = re.fullmatch(r"Plan: (\d+) apps? to change, (\d+) fields? to change\.", lines[-1])
    assert real, lines[-1]
    assert (int(real[1]), int(real[2])) == (s["apps_to_change"], s["fields_to_change"]) != (0, 0)
    # One risk line per app with a risk, none forged.
    risky = {name for name, a in apps.items() if a["risk"]}
    risk_lines = section(out, "Client credentials stay or become enabled (highest risk first):")
    headers = [line for line in risk_lines if re.match(r"  \[[A-Z]+\] ", line)]
    assert len(headers) == len(risky), headers
    assert not [line for line in lines if line.lstrip().startswith("[LOW] Support_Exporter")]
    for shown in (RUN_AS_SHOWN, PROFILE_SHOWN, PERMSET_SHOWN, GHOST_SHOWN, EVIL_SHOWN):
        assert shown in out, shown
    assert f"~ policies.ip_relaxation: {IP_SHOWN}" in out


def test_text_plan_headers_of_a_hostile_app(forged: Org, write_yaml: Callable[..., Path]) -> None:
    """`unlisted: enforce` plans changes for the hostile app: its name heads a block."""
    desired = write_yaml(DESIRED.format(unlisted="enforce"), name="enforce.yaml", folder="enf")
    result = run("plan", "-o", forged.target, "-d", desired)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert_inert(out)
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("Plan:")] == [lines[-1]]
    assert lines[-1] != "Plan: 0 apps to change."
    assert f"  # {EVIL_SHOWN}" in out
    assert f"  ~ app {EVIL_SHOWN}" in out


def test_markdown_plan_cannot_be_forged(forged: Org, write_yaml: Callable[..., Path]) -> None:
    """With `unlisted: enforce` the hostile app itself gets rows in the table."""
    desired = write_yaml(DESIRED.format(unlisted="enforce"), name="enforce.yaml", folder="md")
    doc = json_of("plan", "-o", forged.target, "-d", desired, "--format", "json")
    result = run("plan", "-o", forged.target, "-d", desired, "--format", "markdown")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert_inert(out)
    lines = out.splitlines()
    assert not [line for line in lines if line.startswith("Plan:")]
    summary = [line for line in lines if line.startswith("<summary>")]
    assert len(summary) == 1, summary
    real = re.fullmatch(
        r"<summary>Plan: (\d+) apps to change, (\d+) fields to change(?:, \d+ held)?\.</summary>",
        summary[0],
    )
    assert real, summary
    assert (int(real[1]), int(real[2])) == (
        doc["summary"]["apps_to_change"],
        doc["summary"]["fields_to_change"],
    )
    rows = [line for line in lines if line.startswith("|")]
    assert len(rows) == 2 + len(doc["changes"])
    for row in rows:  # six cell borders per row: no hostile `|` splits a cell
        assert len(re.findall(r"(?<!\\)\|", row)) == 6, row
    evil_rows = [row for row in rows if "Evil_App" in row]
    assert evil_rows, rows
    for row in evil_rows:
        app_cell = row.split(" | ")[0]
        # A code span fenced longer than the backtick run inside: `tick` cannot close it.
        assert app_cell.startswith("| ``Evil_App\\nPlan: 0 apps to change. \\| <img"), app_cell
        assert app_cell.endswith("``"), app_cell
    ip_row = next(row for row in rows if "policies.ip_relaxation" in row)
    assert "&#92;nPlan: 0 apps to change. &#124; &#60;img src=x onerror=alert(1)&#62;" in ip_row
    assert "&#96;tick&#96; &#91;link&#93;(1)" in ip_row
    # No HTML and no link from the org: markup is either entities or inside code spans.
    outside_code = re.sub(r"(`+)(?:(?!\1).)+\1", "", out)
    assert "<img" not in outside_code and "[link]" not in outside_code


def test_audit_text_cannot_be_forged(forged: Org, report_yaml: Path) -> None:
    doc = json_of("audit", "-o", forged.target, "-d", report_yaml, "--format", "json")
    assert doc["risks"]["Support_Exporter"]["run_as"]["profile"] == PROFILE
    result = run("audit", "-o", forged.target, "-d", report_yaml)
    assert result.exit_code == 3, result.output
    out = result.stdout
    assert_inert(out)
    lines = out.splitlines()
    assert not [line for line in lines if line.startswith("Plan:")]
    assert not [line for line in lines if line.lstrip().startswith("[LOW] Support_Exporter")]
    risk_lines = section(out, "Client credentials enabled (highest risk first):")
    headers = [line for line in risk_lines if re.match(r"  \[[A-Z]+\] ", line)]
    assert len(headers) == len(doc["risks"]), headers
    violations = section(out, "Violations:")
    assert len(violations) == doc["summary"]["violations"], violations
    for shown in (RUN_AS_SHOWN, PROFILE_SHOWN, PERMSET_SHOWN, GHOST_SHOWN, EVIL_SHOWN):
        assert shown in out, shown


def test_sarif_messages_cannot_be_forged(forged: Org, report_yaml: Path) -> None:
    result = run("audit", "-o", forged.target, "-d", report_yaml, "--format", "sarif")
    assert result.exit_code == 3, result.output
    results = json.loads(result.stdout)["runs"][0]["results"]
    evil = [r for r in results if r["properties"]["app"] == EVIL_APP]
    assert evil, "the hostile app has findings"
    for r in results:
        text = r["message"]["text"]
        assert_inert(text)
        assert "\n" not in text, text
    for r in evil:
        text = r["message"]["text"]
        # Escaped, and SARIF's own syntax neutralised: no placeholder, no embedded link.
        assert text.startswith(EVIL_SHOWN), text
        assert r"\[link\](1) {{0}}" in text, text


def test_exception_text_from_yaml_cannot_be_forged(
    forged: Org, write_yaml: Callable[..., Path]
) -> None:
    """Owner, ticket and justification come from YAML; YAML's "\\e" can even carry ESC."""
    expires = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-001]\nunlisted: ignore\napps:\n"
        "  Support_Exporter:\n"
        "    exceptions:\n"
        "      - control: ECA-OAUTH-001\n"
        '        justification: "support export\\nPlan: 0 apps to change.\\e[1A [x](1) {0}"\n'
        '        owner: "ops@acme.example\\u202e"\n'
        '        ticket: "SEC-1\\n  [LOW] Support_Exporter: fine"\n'
        f"        expires: {expires}\n",
        name="exc.yaml",
        folder="exc",
    )
    plan = run("plan", "-o", forged.target, "-d", desired)
    assert plan.exit_code == 0, plan.output
    out = plan.stdout
    assert_inert(out)
    assert [line for line in out.splitlines() if line.startswith("Plan:")] == []
    assert out.splitlines()[-1] == "No changes."
    accepted = section(out, "Exceptions in force:")
    assert accepted == [
        f"  Support_Exporter: ECA-OAUTH-001 (settings.client_credentials, "
        f"policies.client_credentials) accepted until {expires}, owner ops@acme.example\\u202e, "
        r"SEC-1\n  [LOW] Support_Exporter: fine: support export\nPlan: 0 apps to change."
        r"\x1b[1A [x](1) {0}"
    ], accepted

    audit = run("audit", "-o", forged.target, "-d", desired)
    assert audit.exit_code == 0, audit.output
    assert_inert(audit.stdout)
    assert r"support export\nPlan: 0 apps to change.\x1b[1A" in audit.stdout

    sarif = run("audit", "-o", forged.target, "-d", desired, "--format", "sarif")
    suppressions = [
        s for r in json.loads(sarif.stdout)["runs"][0]["results"] for s in r["suppressions"]
    ]
    assert suppressions
    for s in suppressions:
        assert_inert(s["justification"])
        assert s["justification"].startswith(
            r"support export\nPlan: 0 apps to change.\x1b\[1A \[x\](1) {{0}} "
            r"(owner ops@acme.example\u202e"
        ), s["justification"]


def test_notes_and_warnings_cannot_be_forged(
    make_org: Callable[..., Org], report_yaml: Path
) -> None:
    """With consumer-secret access off every app gets a note naming it, the hostile one too."""

    def forge_secret_off(doc: dict[str, Any]) -> None:
        forge(doc)
        doc["org"]["consumer_secret_api_access"] = False
        doc["org"]["secret_access_off_behaviour"] = "fault"  # settings unreadable: notes

    org = make_org(forge_secret_off, name="secret-off.json")
    # Data_Warehouse_ETL declares settings it cannot read: an error, so plan exits 1.
    doc = json_of("plan", "-o", org.target, "-d", report_yaml, "--format", "json", codes=(1,))
    notes = [(a["name"], n) for a in doc["apps"] for n in a["notes"]]
    assert any(name == EVIL_APP for name, _ in notes), notes
    plan = run("plan", "-o", org.target, "-d", report_yaml)
    assert plan.exit_code == 1, plan.output
    assert_inert(plan.stdout)
    warnings = section(plan.stdout, "Warnings:")
    assert len(warnings) == len(notes) + len(doc["warnings"]), warnings
    assert f"  {EVIL_SHOWN}" in "\n".join(warnings)

    audit_doc = json_of("audit", "-o", org.target, "-d", report_yaml, "--format", "json")
    audit = run("audit", "-o", org.target, "-d", report_yaml)
    assert audit.exit_code == 3, audit.output
    assert_inert(audit.stdout)
    audit_notes = section(audit.stdout, "Notes:")
    assert len(audit_notes) == len(audit_doc["notes"]), audit_notes
    assert any(line.startswith(f"  {EVIL_SHOWN}") for line in audit_notes), audit_notes
