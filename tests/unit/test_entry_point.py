"""The console script exits without the collector's last walk over every live object."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path

import reconciler

REPO = Path(__file__).parents[2]

SCRIPT = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count()))
sys.argv = ["reconciler", "--help"]
from reconciler.cli import run
run()
"""


def test_the_installed_script_is_cli_run():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "reconciler"]
    assert script.value == "reconciler.cli:run"


def test_run_freezes_the_collectors_objects_before_the_interpreter_exits():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    frozen = int(done.stdout.rsplit("frozen ", 1)[1])
    assert frozen > 10_000  # every object the imports made, not a handful


def test_python_dash_m_runs_the_cli_and_prints_the_one_version():
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"reconciler, version {reconciler.__version__}\n"


def test_the_installed_distribution_is_eca_reconciler_at_the_package_version():
    """pyproject.toml reads the version from reconciler/__init__.py (one source)."""
    assert version("eca-reconciler") == reconciler.__version__
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert f"## [{reconciler.__version__}]" in (REPO / "CHANGELOG.md").read_text()
