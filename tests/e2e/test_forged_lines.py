"""Issue 16 item 1: text from the YAML can never print a line of its own.

A pull request controls the desired-state YAML. A newline or carriage return in an app name (a
YAML key), any other key, a value, an exception's owner, justification or ticket, or a file
name, printed raw, starts a new line on stdout or stderr: a forged `Plan:` summary, or a
GitHub workflow command (`::error file=…::…`) that the runner reads from the log. This test
runs validate, plan, apply and audit in every --format against the emulator, with such payloads
in keys and values of a YAML that is valid and of one that is not, and fails on any output line
(split wherever a terminal or a log reader would break it) that the tool did not write.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Org, run

WORKFLOW = "::error file=x::forged"
SUMMARY = "Plan: 0 apps to change, 0 fields to change. FORGED"
NL = f"\n{WORKFLOW}\n{SUMMARY}"
CR = f"\r{WORKFLOW}\r{SUMMARY}"
CRLF = f"\r\n{WORKFLOW}\r\n{SUMMARY}"
PROFILE = f"Standard User\r{WORKFLOW}"  # a list item may hold no comma
#: Where a terminal, a CI log or str.splitlines() starts a new line.
BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(text)


def valid_yaml() -> str:
    """Valid desired state whose free text (values, exception fields) carries the payloads;
    the exception expires within the warning window, so its owner is quoted in a warning."""
    soon = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    return f"""\
version: 1
baseline: [ECA-OAUTH-001]
apps:
  Support_Exporter:
    settings: {{client_credentials: true}}
    policies:
      client_credentials: true
      run_as: {q("support.agent@acme.example" + NL)}
    exceptions:
      - control: ECA-OAUTH-001
        justification: {q("nightly export" + CR)}
        owner: {q("owner@acme.example" + NL)}
        ticket: {q("SEC-1" + CRLF)}
        expires: {soon}
  Data_Warehouse_ETL:
    settings: {{client_credentials: false}}
    policies: {{client_credentials: false, profiles: [{q(PROFILE)}]}}
"""


def invalid_yaml() -> str:
    """Invalid desired state: hostile app names, keys and values, each reported as a problem."""
    return f"""\
version: 1
baseline: [ECA-OAUTH-001, {q("ECA-OAUTH-001" + NL)}]
unlisted: {q("report" + CR)}
apps:
  {q("Billing_Sync" + NL)}:
    policies: {{client_credentials: false}}
  {q("Ledger_Export" + CR)}:
    policies: {{client_credentials: false}}
  Partner_Portal:
    {q("policies" + CRLF)}: {{}}
    policies:
      {q("session_level" + NL)}: high
      ip_relaxation: {q("enforce" + NL)}
      refresh_token: {{policy: {q("zero" + CR)}}}
    exceptions:
      - control: {q("ECA-OAUTH-001" + CR)}
        justification: x
        owner: {q("o" + NL)}
        expires: {q("2027-01-01" + NL)}
"""


def forged_lines(text: str) -> list[str]:
    """Lines that begin with a payload: the tool never writes one there itself."""
    return [
        line
        for line in BREAKS.split(text)
        if line.lstrip().startswith((WORKFLOW, SUMMARY, "forged", "FORGED"))
    ]


COMMANDS: list[tuple[str, tuple[str, ...]]] = [
    *[("validate", ("--format", f)) for f in ("text", "github", "json")],
    *[("plan", ("--format", f)) for f in ("text", "json", "markdown")],
    ("apply", ("--auto-approve",)),
    *[("audit", ("--format", f)) for f in ("text", "json", "sarif")],
]


@pytest.mark.parametrize("which", ["valid", "invalid"])
@pytest.mark.parametrize(
    ("command", "args"), COMMANDS, ids=[" ".join(c[:1] + c[1]) for c in COMMANDS]
)
def test_no_output_line_is_forged_by_the_yaml(
    make_org: Callable[..., Org],
    write_yaml: Callable[..., Path],
    command: str,
    args: tuple[str, ...],
    which: str,
) -> None:
    org = make_org()
    desired = write_yaml(valid_yaml() if which == "valid" else invalid_yaml())
    target = () if command == "validate" else ("-o", org.target)
    result = run(command, *target, "-d", desired, *args)
    assert "Traceback" not in result.output, result.output
    if which == "invalid":
        assert result.exit_code == 1, result.output
    else:
        # The payloads really reached the output (escaped), or this test proves nothing.
        assert "owner@acme.example" in result.output or command in ("plan", "apply"), result.output
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert not forged_lines(text), (name, forged_lines(text), text)


def test_a_hostile_file_name_prints_no_line_of_its_own(
    make_org: Callable[..., Org], tmp_path: Path
) -> None:
    folder = tmp_path / "desired"
    folder.mkdir()
    (folder / f"apps{NL}.yaml").write_text("version: 1\napps: [\n", encoding="utf-8")
    for args in (("--format", "text"), ("--format", "github"), ("--format", "json")):
        result = run("validate", "-d", folder, *args)
        assert result.exit_code == 1, result.output
        for text in (result.stdout, result.stderr):
            assert not forged_lines(text), (args, text)


def test_a_hostile_name_of_a_valid_file_prints_no_line_of_its_own(
    make_org: Callable[..., Org], tmp_path: Path
) -> None:
    org = make_org()
    folder = tmp_path / "valid"
    folder.mkdir()
    (folder / f"apps{NL}.yaml").write_text(
        "version: 1\napps:\n  Billing_Sync:\n    settings: {client_credentials: true}\n",
        encoding="utf-8",
    )
    for command in (("validate",), ("plan", "-o", org.target), ("audit", "-o", org.target)):
        result = run(*command, "-d", folder)
        assert "Traceback" not in result.output, result.output
        for text in (result.stdout, result.stderr):
            assert not forged_lines(text), (command, text)
