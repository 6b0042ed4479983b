"""docs/library.md's example runs as written, against the emulator, and does what it says."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import REPO


def _example() -> str:
    text = (REPO / "docs" / "library.md").read_text()
    section = text[text.index("# Use it as a library") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/library.md has no python example"
    return match.group(1)


def test_the_readme_library_example_runs_and_applies(tmp_path: Path) -> None:
    shutil.copytree(REPO / "desired", tmp_path / "desired")
    env = {**os.environ, "RECONCILER_DIR": str(tmp_path / ".reconciler")}
    done = subprocess.run(
        [sys.executable, "-c", _example()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Plan:" in done.stdout
    assert "Apply complete:" in done.stdout
    # The shipped baseline keeps violations on unlisted apps (reported, not changed).
    assert done.stdout.rstrip().endswith("violations remain")
    (record,) = list((tmp_path / ".reconciler" / "evidence").glob("*.json"))
    assert json.loads(record.read_text())["result"]["ok"] is True
    assert list((tmp_path / ".reconciler" / "backups").rglob("*.json"))
