"""Issue 17 item 4: every hint the tool prints, pasted back, works. The run uses a
non-default desired folder and a relative emulator state, so a hint that forgets -d or the
org arguments fails here. Also: --json is --format json, and apply's JSON result."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

from .conftest import SHIPPED_DESIRED, run_cli, run_in_pty

HINT = re.compile(r"`(reconciler [^`]+)`")


def _hints(text: str, verb: str) -> list[list[str]]:
    """The suggested commands for `verb`, as argv without the program name."""
    found = [shlex.split(h)[1:] for h in HINT.findall(text)]
    return [argv for argv in found if argv[0] == verb]


def test_every_printed_hint_pasted_back_works(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_DESIRED, tmp_path / "ours")
    org = ["-o", "emulator:org.json"]
    planned = run_cli(["plan", *org, "-d", "ours", "--out", "saved.plan"], tmp_path)
    assert planned.returncode == 0, planned.stderr
    (apply_hint,) = _hints(planned.stderr, "apply")
    assert apply_hint == ["apply", "saved.plan", "-d", "ours", *org], planned.stderr

    applied = run_cli(apply_hint, tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    undo_hints = _hints(applied.stdout + applied.stderr, "rollback")
    assert len(undo_hints) == 2, (applied.stdout, applied.stderr)  # the notice and the report
    assert undo_hints[0] == undo_hints[1] and undo_hints[0][-2:] == org

    code, out = run_in_pty(undo_hints[0], "yes", tmp_path)
    assert code == 0, out
    assert "Rollback complete: 2 applied" in out, out


def test_json_is_format_json_and_apply_reports_per_app(tmp_path: Path) -> None:
    org = ["-o", f"emulator:{tmp_path / 'org.json'}", "-d", SHIPPED_DESIRED]
    as_flag = run_cli(["plan", *org, "--json"], tmp_path)
    as_format = run_cli(["plan", *org, "--format", "json"], tmp_path)
    assert as_flag.returncode == as_format.returncode == 0, as_flag.stderr
    assert json.loads(as_flag.stdout)["changes"] == json.loads(as_format.stdout)["changes"]

    applied = run_cli(["apply", *org, "--auto-approve", "--json"], tmp_path)
    assert applied.returncode == 0, applied.stderr
    report = json.loads(applied.stdout)  # stdout is the JSON document alone
    assert report["ok"] is True
    assert sorted(a["app"] for a in report["apps"]) == ["Data_Warehouse_ETL", "Legacy_Importer"]
    assert report["backup"]

    again = run_cli(["apply", *org, "--auto-approve", "--format", "json"], tmp_path)
    assert json.loads(again.stdout) == {**json.loads(again.stdout), "ok": True, "apps": []}

    broken = run_cli(["rollback", "missing.json", *org[:2], "--json"], tmp_path)
    assert broken.returncode == 1
    assert "error" in json.loads(broken.stdout), broken.stdout


def test_help_groups_options_and_ends_with_examples() -> None:
    from click.testing import CliRunner

    from reconciler.cli import main

    for command in ("plan", "apply", "rollback", "audit"):
        text = CliRunner().invoke(main, [command, "--help"]).output
        titles = [line for line in text.splitlines() if line.endswith(":") or "):" in line]
        assert any(t.startswith("Org (") for t in titles), text
        assert "Output:" in titles and "Examples:" in titles, text
        examples = text.split("Examples:\n", 1)[1].splitlines()
        assert 2 <= len(examples) <= 3 and all(
            e.strip().startswith(f"reconciler {command}") for e in examples
        ), examples
