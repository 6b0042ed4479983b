"""`--help` and `validate` never load the org stack or the planner (README, Scale): each runs
in a fresh interpreter, which then reports which heavy modules it imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPO

HEAVY = ("requests", "lxml", "simple_salesforce", "deepdiff", "tenacity", "zeep")
SCRIPT = """
import sys
from click.testing import CliRunner
from reconciler.cli import main
result = CliRunner().invoke(main, sys.argv[1:])
assert result.exit_code == 0, result.output
print("heavy:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["validate", "-d", str(REPO / "desired")]])
def test_command_imports_no_org_stack(args):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "heavy:", done.stdout
