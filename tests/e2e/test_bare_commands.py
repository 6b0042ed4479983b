"""Every command run bare, as a newcomer types it first: a result or a clean error, never a
traceback (a bare `reconciler validate` once crashed in the JSON-error argument scan).

These start the installed script cold, so each command's own imports run in a fresh
interpreter at least once in the suite (other process tests fork a warm one)."""

from __future__ import annotations

import shutil

import pytest

from .conftest import SHIPPED_DESIRED, run_cli

COMMANDS = ["validate", "plan", "apply", "audit", "export", "rollback"]


@pytest.mark.parametrize("command", COMMANDS)
def test_bare_command_never_crashes(tmp_path, command):
    shutil.copytree(SHIPPED_DESIRED, tmp_path / "desired")
    result = run_cli([command], tmp_path, cold=True)  # the entry point, imports and all
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    if command == "validate":
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Valid:"), result.stdout
    else:
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert result.stderr.strip(), "a bare org command must say what is missing"
