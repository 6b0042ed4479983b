"""Terminal manners: colour and progress only for a person at a terminal; --quiet, --no-color,
NO_COLOR, --debug after the subcommand, --out/--output everywhere.

TTY behaviour is checked in a real pseudo-terminal (the installed binary in a subprocess, see
conftest.run_in_pty); non-TTY behaviour with pipes, as a pipeline runs it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.e2e.conftest import SHIPPED_DESIRED, cli_env, run_cli, run_in_pty
from tests.support import run

ESC = "\x1b"
#: An ANSI colour (SGR) sequence wrapped around a mark, e.g. ESC[33m~ESC[0m.
COLOURED_UPDATE = re.compile(r"\x1b\[[0-9;]*m~\x1b\[0m app Data_Warehouse_ETL")
COLOURED_HIGH = re.compile(r"\x1b\[[0-9;]*m(?:\x1b\[[0-9;]*m)*\[HIGH\]\x1b\[0m Support_Exporter")
COLOURED_RAISES = re.compile(r"\x1b\[[0-9;]*m\[raises\]\x1b\[0m run-as user")
#: Apps counted (the demo org has 10), with the time since the command started.
PROGRESS = re.compile(r"\rReading ExtlClntAppOauthConfigurablePolicies: \d+/10 apps, \d+\.\d s")
#: What the run waits for where there is nothing to count, with how long it has waited.
WAITS = ("Logging in to the org", "Listing the org's apps", "Looking up run-as users")


@pytest.fixture
def terminal_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """run_in_pty passes os.environ on: start from no NO_COLOR and no token."""
    for name in ("NO_COLOR", "SF_ACCESS_TOKEN", "SF_TARGET_ORG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _plan_in_pty(org, tmp_path: Path, *extra: str) -> str:
    code, out = run_in_pty(
        ["plan", "-o", org.target, "-d", str(SHIPPED_DESIRED), *extra], "", tmp_path
    )
    assert code == 0, out
    return out


def test_terminal_gets_colour_and_progress(org, tmp_path, terminal_env):
    out = _plan_in_pty(org, tmp_path)
    assert COLOURED_UPDATE.search(out), out
    assert COLOURED_HIGH.search(out), out
    assert COLOURED_RAISES.search(out), out
    assert PROGRESS.search(out), out
    for wait in WAITS:
        assert re.search(rf"\r{wait}[^\r]*\.\.\. \d+\.\d s", out), (wait, out)
    # The progress line is erased with blanks, never with an escape sequence.
    progress_part = out[: out.index("Org ")]
    assert ESC not in progress_part, repr(progress_part)


def test_enabling_a_flow_is_coloured(org, tmp_path, terminal_env):
    org.mutate(
        lambda doc: next(
            s
            for s in doc["metadata"]["ExtlClntAppGlobalOauthSettings"].values()
            if s["externalClientApplication"] == "Mobile_Field_Service"
        ).update(isDeviceFlowEnabled=False)
    )
    out = _plan_in_pty(org, tmp_path)
    assert re.search(r"\x1b\[[0-9;]*m(?:\x1b\[[0-9;]*m)*!\x1b\[0m settings\.device", out), out


@pytest.mark.parametrize("value", ["1", "false", "anything"])
def test_no_color_environment_means_no_escape_codes(org, tmp_path, terminal_env, value):
    terminal_env.setenv("NO_COLOR", value)
    out = _plan_in_pty(org, tmp_path)
    assert ESC not in out, repr(out[:400])
    assert "~ app Data_Warehouse_ETL" in out
    assert PROGRESS.search(out), "NO_COLOR turns off colour, not progress"


def test_no_color_flag_means_no_escape_codes(org, tmp_path, terminal_env):
    out = _plan_in_pty(org, tmp_path, "--no-color")
    assert ESC not in out, repr(out[:400])
    assert "[HIGH] Support_Exporter" in out


def test_quiet_on_a_terminal_has_no_progress(org, tmp_path, terminal_env):
    out = _plan_in_pty(org, tmp_path, "--quiet")
    assert "Reading " not in out
    assert "Plan: 2 apps to change" in out  # the result itself stays


def test_apply_on_a_terminal_shows_write_progress(org, tmp_path, terminal_env):
    code, out = run_in_pty(["apply", "-o", org.target, "-d", str(SHIPPED_DESIRED)], "yes", tmp_path)
    assert code == 0, out
    assert re.search(r"\rWriting ExtlClntAppOauthConfigurablePolicies: 2/2 apps, \d+\.\d s", out)


def test_audit_report_file_is_never_coloured(org, tmp_path, terminal_env):
    report = tmp_path / "audit.txt"
    code, out = run_in_pty(
        ["audit", "-o", org.target, "-d", str(SHIPPED_DESIRED), "--output", str(report)],
        "",
        tmp_path,
    )
    assert code in (0, 3), out
    text = report.read_text(encoding="utf-8")
    assert "[HIGH] Support_Exporter" in text
    assert ESC not in text
    # ...while the same report on the terminal is coloured.
    code, out = run_in_pty(["audit", "-o", org.target, "-d", str(SHIPPED_DESIRED)], "", tmp_path)
    assert COLOURED_HIGH.search(out), out


def test_pipes_get_no_escape_codes_and_no_progress(org, tmp_path):
    result = run_cli(["plan", "-o", org.target, "-d", SHIPPED_DESIRED], tmp_path, cli_env())
    assert result.returncode == 0, result.stderr
    assert ESC not in result.stdout + result.stderr
    assert "\r" not in result.stderr
    assert "Reading " not in result.stderr
    assert "~ app Data_Warehouse_ETL" in result.stdout


def test_quiet_drops_notes_but_keeps_the_result_and_errors(org, tmp_path):
    plan_file = tmp_path / "plan.json"
    loud = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--out", plan_file)
    assert "Saved the plan" in loud.stderr
    quiet = run("--quiet", "plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--out", plan_file)
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    assert quiet.stdout.rstrip().endswith("fields to change.")
    # After the subcommand too, and errors still show.
    bad = run("validate", "-d", tmp_path / "missing", "-q")
    assert bad.exit_code == 1
    assert "no such file or folder" in bad.stderr


def test_quiet_drops_warnings(tmp_path, write_yaml):
    from datetime import date, timedelta

    soon = (date.today() + timedelta(days=3)).isoformat()
    path = write_yaml(
        "version: 1\napps:\n  A:\n    settings: {client_credentials: true}\n"
        "    policies: {client_credentials: true, run_as: a@b.example}\n"
        "    exceptions:\n      - {control: ECA-OAUTH-001, justification: j, owner: o, "
        f"expires: {soon}}}\n"
    )
    loud = run("validate", "-d", path)
    assert loud.exit_code == 0, loud.output
    assert "Warning:" in loud.stderr
    quiet = run("validate", "-d", path, "--quiet")
    assert quiet.exit_code == 0
    assert "Warning:" not in quiet.stderr
    assert quiet.stdout.startswith("Valid: 1 app(s)")


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_before_or_after_the_subcommand(org, tmp_path, where):
    args = ["plan", "-o", org.target, "-d", SHIPPED_DESIRED]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    result = run_cli(args, tmp_path, cli_env())
    assert result.returncode == 0, result.stderr
    assert "DEBUG reconciler" in result.stderr


def test_global_flags_after_a_double_dash_are_not_moved(tmp_path):
    # `--` ends the options: a file literally named --debug is an argument, not the flag.
    result = run("apply", "--", "--debug")
    assert result.exit_code == 1
    assert "--debug" in result.stderr


def test_out_and_output_are_the_same_on_every_command():
    both = {"--out", "--output"}
    with_file_option = []
    for name, command in main.commands.items():
        for param in command.params:
            spelled = set(param.opts) & both
            if spelled:
                assert spelled == both, (name, param.opts)
                with_file_option.append(name)
    assert {"plan", "audit", "export"} <= set(with_file_option)


@pytest.mark.parametrize(
    ("command", "spelling"),
    [
        ("plan", "--output"),
        ("audit", "--out"),
        ("export", "--out"),
        ("export", "--output"),
    ],
)
def test_each_spelling_writes_the_file(org, tmp_path, command, spelling):
    target = tmp_path / "written.out"
    args = [command, "-o", org.target, spelling, target]
    if command != "export":
        args += ["-d", SHIPPED_DESIRED]
    result = run(*args)
    assert result.exit_code in (0, 3), result.output
    text = target.read_text(encoding="utf-8")
    if command == "plan":
        assert json.loads(text)["changes"]
    elif command == "audit":
        assert "[HIGH] Support_Exporter" in text
    else:
        assert text.startswith("# Exported by `reconciler export`")
        assert result.stdout == ""
        assert run("validate", "-d", target).exit_code == 0
