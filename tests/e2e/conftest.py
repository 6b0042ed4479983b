"""End-to-end fixtures: the real CLI against the real HTTPS org emulator, no mocks.

Every test writes an org state JSON file (the demo org, optionally mutated), drives the CLI with
`-o emulator:<file>` (the CLI starts the emulator in-process; simple-salesforce and zeep talk to
it over HTTPS), and inspects the state file afterwards.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests import forked_cli
from tests.support import (  # noqa: F401 - re-exported to the e2e tests
    POLICIES,
    REPO,
    SETTINGS,
    Org,
    components_of,
    demo_doc,
    org_factory,
    policies_of,
    run,
    settings_of,
    yaml_writer,
)

SHIPPED_DESIRED = REPO / "desired"
RECONCILER_BIN = Path(sys.executable).parent / "reconciler"
#: App -> (settings fullName, policies fullName) in the demo org.
COMPONENTS = components_of(demo_doc())


@pytest.fixture
def org_file(make_org: Callable[..., Org]) -> Callable[..., Org]:
    """This suite's name for the shared `make_org` fixture."""
    return make_org


@pytest.fixture
def desired(write_yaml: Callable[..., Path]) -> Callable[..., Path]:
    """This suite's name for the shared `write_yaml` fixture."""
    return write_yaml


@pytest.fixture
def cli() -> Callable[..., Result]:
    return run


def assert_clean_error(result: Result, *needles: str) -> None:
    """Exit 1, every needle in stderr, and no Python traceback anywhere."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment minus anything that could point the CLI at another org."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SF_ACCESS_TOKEN", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    }
    env.update(extra)
    return env


def cli_argv(args: list[Any], cold: bool = False) -> list[str]:
    """argv running the installed `reconciler` script in a process of its own: forked from a
    warm interpreter that has only imported the modules (tests/forked_cli.py), or `cold`, the
    script itself from scratch (~0.8 s more CPU per run, spent importing)."""
    text = [str(a) for a in args]
    if cold:
        return [str(RECONCILER_BIN), *text]
    return forked_cli.argv_for(str(RECONCILER_BIN), text)


def start_cli(
    args: list[Any], cwd: Path, env: dict[str, str] | None = None, cold: bool = False
) -> subprocess.Popen:
    """Start the installed `reconciler` script as a separate process: nothing shared with
    pytest (see cli_argv)."""
    return subprocess.Popen(
        cli_argv(args, cold),
        cwd=cwd,
        env=env if env is not None else cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_cli(proc: subprocess.Popen, timeout: float = 60.0) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_cli(args: list[Any], cwd: Path, env: dict[str, str] | None = None, cold: bool = False):
    return finish_cli(start_cli(args, cwd, env, cold))


#: The summary line of a plan of the shipped desired/ against the demo org (2 apps drift).
SHIPPED_SUMMARY = re.compile(r"^Plan: 2 apps to change, (\d+) fields to change\.$")


def field_lines(plan_text: str) -> list[str]:
    """The `~ path: before -> after` (or `!` for enabling) lines of a text plan."""
    return re.findall(r"^\s+[~!] (?:settings|policies)\.\S+: .+ -> .+$", plan_text, re.M)


def assert_shipped_summary(plan_text: str) -> int:
    """The last line is the shipped plan's summary and its count matches the field lines."""
    last = plan_text.strip().splitlines()[-1]
    m = SHIPPED_SUMMARY.match(last)
    assert m, last
    n = int(m.group(1))
    assert n >= 7, "at least the 7 drifted fields of Data_Warehouse_ETL and Legacy_Importer"
    assert len(field_lines(plan_text)) == n, plan_text
    return n


def run_in_pty(args: list[str], answer: str, cwd: Path, timeout: float = 60.0) -> tuple[int, str]:
    """Run the reconciler script (see cli_argv) with a real terminal on stdin/stdout/stderr.

    Waits for the confirmation prompt, types `answer` + Enter, and returns (exit code, all
    terminal output).
    """
    master, slave = os.openpty()
    proc = subprocess.Popen(
        cli_argv(args),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        close_fds=True,
        env={**os.environ, "TERM": "dumb", "COLUMNS": "200"},
    )
    os.close(slave)
    out = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if not answered and b"Only 'yes' will be accepted:" in out:
                os.write(master, answer.encode() + b"\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, out.decode("utf-8", "replace")


def read_banner(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> str:
    """`reconciler emulator`'s startup text, read from the raw pipe until "Press Ctrl-C" (a
    buffered readline would hide lines from select)."""
    assert proc.stdout is not None
    text = ""
    deadline = time.monotonic() + timeout
    while "Press Ctrl-C" not in text and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            text += chunk.decode("utf-8", "replace")
    assert "Press Ctrl-C" in text, text
    return text


def report_block(stdout: str, app: str) -> list[str]:
    """The apply report lines of one app: `  APP: status` and its indented messages."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^  {app}: \w", line))
    out = [lines[start].strip()]
    for line in lines[start + 1 :]:
        if not line.startswith("      "):
            break
        out.append(line.strip())
    return out
