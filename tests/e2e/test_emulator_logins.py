"""Issue 17 item 5: `reconciler emulator` prints ready-to-paste settings for every login
method, and each block, pasted into a shell as printed, logs in to the running emulator.

The emulator runs as its own process (`reconciler emulator`); each block runs in a fresh
`bash -eo pipefail` with the installed `reconciler` on PATH, as a person would paste it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import (
    RECONCILER_BIN,
    SHIPPED_DESIRED,
    cli_env,
    finish_cli,
    read_banner,
    start_cli,
)


def _blocks(banner: str) -> dict[str, list[str]]:
    """Title -> the indented lines under it."""
    out: dict[str, list[str]] = {}
    title = None
    for line in banner.splitlines():
        if line.startswith("# "):
            title = line[2:]
            out[title] = []
        elif title is not None and line.startswith("  "):
            out[title].append(line[2:])
    return out


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("emulator_logins")
    proc = start_cli(["emulator", "--state", folder / "org.json", "--port", "0"], cwd=folder)
    try:
        yield read_banner(proc), folder
    finally:
        proc.terminate()
        finish_cli(proc)


def test_the_banner_offers_every_login_method(emulator):
    banner, _ = emulator
    titles = list(_blocks(banner))
    assert [t.split(" (")[0] for t in titles] == [
        "Access token",
        "JWT bearer",
        "SFDX auth URL",
    ], banner
    assert all(_blocks(banner).values()), banner


@pytest.mark.parametrize("method", ["Access token", "JWT bearer", "SFDX auth URL"])
def test_each_printed_block_pasted_into_a_shell_logs_in(emulator, tmp_path: Path, method: str):
    banner, _ = emulator
    lines = next(v for k, v in _blocks(banner).items() if k.startswith(method))
    shutil.copytree(SHIPPED_DESIRED, tmp_path / "desired")
    env = cli_env(PATH=f"{RECONCILER_BIN.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for name in ("SF_TARGET_ORG", "SF_CLIENT_ID", "SF_USERNAME", "SF_JWT_KEY_FILE"):
        env.pop(name, None)
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", "\n".join(lines)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (lines, done.stdout, done.stderr)
    assert re.search(r"^Plan: ", done.stdout, re.M), done.stdout
    # The credentials are the emulator's own; still, the run itself prints none of them.
    assert "!AQ" not in done.stdout + done.stderr
    assert "5Aep861" not in done.stdout + done.stderr
