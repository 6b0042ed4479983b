"""Issue 6, point 6: hostile or broken desired state stops the run with file:line and exit 1.

Each case goes through the real CLI (`validate`, and `plan` against the HTTPS emulator) and
checks the exit code, the located message, that no traceback leaked, and that no plan was
printed. Each one was seen failing against the code before the fix: an unreadable folder was
skipped (exit 0), an alias bomb exhausted memory, a 50 MB file was parsed for minutes, deep
nesting was an `internal error (RecursionError)`, a 20-digit timeout reached the wire.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import Result

from .conftest import RECONCILER_BIN, assert_clean_error, cli_env, run

#: A folder's main file: every org app not listed is brought to the baseline (`enforce`).
ENFORCE_MAIN = """\
version: 1
baseline: [ECA-OAUTH-001]
unlisted: enforce
defaults:
  settings: {client_credentials: false}
  policies: {client_credentials: false}
apps:
  Legacy_Importer:
    settings: {pkce_required: true}
"""

#: The team file that holds Billing_Sync's exception. Skipping it turns its flow off.
BILLING = """\
version: 1
apps:
  Billing_Sync:
    settings: {client_credentials: true}
    policies:
      client_credentials: true
      run_as: billing.integration@acme.example
    exceptions:
      - control: ECA-OAUTH-001
        justification: nightly invoice sync from the billing server
        owner: payments-platform@acme.example
        expires: 2099-03-31
"""


def both_commands(org, path: Path) -> list[tuple[str, Result]]:
    return [
        ("validate", run("validate", "-d", path)),
        ("plan", run("plan", "-o", org.target, "-d", path)),
    ]


def assert_refused(org, path: Path, *needles: str) -> None:
    """validate and plan both exit 1 naming the problem; plan prints no plan, changes nothing."""
    before = org.bytes()
    for command, result in both_commands(org, path):
        assert_clean_error(result, "invalid desired state", *needles)
        assert result.stdout == "", (command, result.stdout)
        assert len(result.stderr) < 2000, (command, len(result.stderr))
    assert org.bytes() == before


# -- unreadable entries ------------------------------------------------------------------------


def _dangling_yaml_link(folder: Path) -> tuple[Path, str]:
    link = folder / "team" / "billing.yaml"
    link.parent.mkdir()
    link.symlink_to(folder / "team" / "moved-away.yaml")
    return link, "No such file or directory"


def _self_looping_link(folder: Path) -> tuple[Path, str]:
    link = folder / "team"
    link.symlink_to(link)  # resolving it never ends: ELOOP
    return link, "Too many levels of symbolic links"


def _link_back_to_parent(folder: Path) -> tuple[Path, str]:
    (folder / "team").mkdir()
    (folder / "team" / "billing.yaml").write_text(BILLING)
    link = folder / "team" / "again"
    link.symlink_to(folder)  # a walk that follows it never ends
    return link, "symbolic link loop"


@pytest.mark.parametrize(
    "make",
    [_dangling_yaml_link, _self_looping_link, _link_back_to_parent],
    ids=lambda f: f.__name__,
)
def test_unreadable_entry_is_an_issue_not_a_skip(make, org, desired):
    folder = desired(ENFORCE_MAIN, name="main.yaml").parent
    entry, reason = make(folder)
    assert_refused(org, folder, str(entry), reason)


def _drop_file_read_override() -> None:
    """In the child, as root: give up CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH for good, so
    mode 000 means what it says. (Dropping to uid 65534 is not possible here: the interpreter
    lives under /root, which that user cannot enter.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _can_deny_reads(locked: Path) -> bool:
    probe = subprocess.run(
        ["ls", str(locked)],
        preexec_fn=_drop_file_read_override if os.geteuid() == 0 else None,
        capture_output=True,
    )
    return probe.returncode != 0


def test_permission_denied_folder_stops_plan_with_unlisted_enforce(org, desired, tmp_path):
    """The reported bug: the exception's folder cannot be read, `unlisted: enforce` would then
    plan client credentials off for Billing_Sync. The run must stop instead."""
    folder = desired(ENFORCE_MAIN, name="main.yaml").parent
    locked = folder / "payments"
    locked.mkdir()
    (locked / "billing.yaml").write_text(BILLING)
    locked.chmod(0)
    try:
        if not _can_deny_reads(locked):
            pytest.skip("cannot make a folder unreadable here (no capability control)")
        before = org.bytes()
        for args in (["validate"], ["plan", "-o", org.target]):
            done = subprocess.run(
                [str(RECONCILER_BIN), *args, "-d", str(folder)],
                preexec_fn=_drop_file_read_override if os.geteuid() == 0 else None,
                cwd=tmp_path,
                env=cli_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 1, (args, done.stdout, done.stderr)
            assert f"{locked}: cannot read folder: Permission denied" in done.stderr
            assert "Traceback" not in done.stderr + done.stdout
            assert done.stdout == "", "no plan may be shown"
        assert org.bytes() == before
    finally:
        locked.chmod(0o755)
    # The same folder, readable: the exception is found and the plan goes ahead (exit 0).
    readable = run("plan", "-o", org.target, "-d", folder)
    assert readable.exit_code == 0, readable.output


# -- size, aliases, depth ---------------------------------------------------------------------


def test_oversized_file_is_refused_before_parsing(org, desired):
    padding = "# padding\n" * 630_000  # 6.3 MB of comments: valid YAML, nothing declared
    path = desired("version: 1\napps:\n  Legacy_Importer: {}\n" + padding)
    assert_refused(org, path, f"{path}: 6.3 MB is over the 5 MB limit for one desired-state file")


def _alias_bomb() -> tuple[str, int]:
    """A list field whose items are lists of aliases, 10x per level: 11 million nodes when
    expanded, from 20 lines. Returns (YAML, line of the alias that crosses the limit)."""
    lines = [
        "version: 1",
        "apps:",
        "  Legacy_Importer:",
        "    policies:",
        "      profiles:",
        "        - &l0 [" + ", ".join(["Standard User"] * 10) + "]",
    ]
    for level in range(1, 7):
        lines.append(f"        - &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    # l0..l5 expand to 123,457 nodes; l6 holds ten *l5 of 111,111 nodes each, so the 17th
    # alias of that line crosses 2,000,000.
    return "\n".join(lines) + "\n", len(lines)


def test_alias_bomb_stops_at_the_alias(org, desired):
    text, line = _alias_bomb()
    path = desired(text)
    assert_refused(
        org,
        path,
        f"{path}:{line}: the document expands to more than 2,000,000 YAML nodes, "
        "aliases included (at alias *l5); that is the limit for one file",
    )


def test_deep_nesting_is_located_not_a_recursion_error(org, desired):
    path = desired(
        "version: 1\napps:\n  Legacy_Importer:\n    policies:\n"
        "      profiles: " + "[" * 5000 + "]" * 5000 + "\n"
    )
    assert_refused(org, path, f"{path}:5: nested more than 64 levels deep (the limit)")


# -- what messages show -----------------------------------------------------------------------


def test_large_values_and_keys_are_cut_in_messages(org, desired):
    long_value = "y" * 100_000
    long_name = "N" * 900 + "-x"  # not an API name, so the name itself is reported
    path = desired(
        "version: 1\napps:\n  Legacy_Importer:\n    settings:\n"
        f"      device: '{long_value}'\n  {long_name}: {{}}\n"
    )
    assert_refused(
        org,
        path,
        f"{path}:5: apps.Legacy_Importer.settings.device: invalid value '{'y' * 79}…; "
        "allowed: true or false",
        f"{path}:6: apps.{'N' * 155}…: app names are",
    )


def test_int_beyond_xsd_int_never_reaches_the_wire(org, desired):
    path = desired(
        "version: 1\napps:\n  Partner_Portal:\n    policies:\n"
        "      session_timeout_minutes: 99999999999999999999\n"
    )
    expected = (
        f"{path}:5: apps.Partner_Portal.policies.session_timeout_minutes: invalid value "
        "99999999999999999999; allowed: a whole number from 0 to 2147483647"
    )
    assert_refused(org, path, expected)
    before = org.bytes()
    applied = run("apply", "-o", org.target, "-d", path, "--auto-approve")
    assert_clean_error(applied, expected)
    assert org.bytes() == before
