"""`-o source:PATH`: an SFDX source folder as the org, through the real CLI.

The sample project examples/sfdx-project is copied for each test; apply must change exactly the
planned elements and leave every other byte (declaration, order, indentation, line endings,
comments, the files of unchanged apps) as it was. `emulator --from-source` must serve the same
apps, so a plan against it equals the plan against the folder.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from lxml import etree

from tests.e2e.conftest import (
    REPO,
    cli_env,
    finish_cli,
    read_banner,
    report_block,
    run,
    start_cli,
)

SAMPLE = REPO / "examples" / "sfdx-project"
DEFAULT = Path("force-app/main/default")
PAY_SETTINGS = DEFAULT / "extlClntAppGlobalOauthSets/Payments_Batch_glbloauth.ecaGlblOauth-meta.xml"
PAY_POLICY = DEFAULT / "extlClntAppOauthPolicies/Payments_Batch_oauthPlcy.ecaOauthPlcy-meta.xml"
INV_SETTINGS = (
    DEFAULT / "extlClntAppGlobalOauthSets/Inventory_Sync_glblSettings.ecaGlblOauth-meta.xml"
)
EXP_POLICY = DEFAULT / "extlClntAppOauthPolicies/Expense_Tracker_oauthPlcy.ecaOauthPlcy-meta.xml"

#: Changes on two of the three apps: a value flip on both sides, an enum, a URL list with
#: characters XML must escape, and a policy element the file lacks (requiredSessionLevel).
WANT = """\
version: 1
baseline: [ECA-OAUTH-001]
apps:
  Payments_Batch:
    settings: {client_credentials: false}
    policies: {client_credentials: false, ip_relaxation: enforce, session_level: high_assurance}
  Inventory_Sync:
    settings:
      pkce_required: true
      callback_url:
        - https://inventory.acme.example/oauth/callback
        - https://inventory-staging.acme.example/cb?a=1&b=2
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(SAMPLE, target)
    return target


@pytest.fixture
def want(tmp_path: Path) -> Path:
    path = tmp_path / "want.yaml"
    path.write_text(WANT, encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[Path, tuple[bytes, int, int]]:
    """Every file's bytes, inode and mtime: 'not touched' means all three unchanged."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            out[path.relative_to(root)] = (path.read_bytes(), stat.st_ino, stat.st_mtime_ns)
    return out


def children(data: bytes) -> list[tuple[str, str]]:
    root = etree.fromstring(data)
    return [(etree.QName(c).localname, c.text or "") for c in root if isinstance(c.tag, str)]


def splice(data: bytes, *edits: tuple[str, str]) -> bytes:
    """`data` with each (old, new) text replaced exactly once: the expected file, byte for byte."""
    text = data.decode("utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text.encode("utf-8")


def test_apply_changes_only_the_planned_elements(project: Path, want: Path) -> None:
    before = snapshot(project)
    result = run("apply", "-o", f"source:{project}", "-d", want, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 2 applied, 0 failed" in result.output
    after = snapshot(project)
    changed = {PAY_SETTINGS, PAY_POLICY, INV_SETTINGS}
    assert set(after) == set(before)
    for path in set(before) - changed:  # other apps' files, other sides, sfdx-project.json
        assert after[path] == before[path], f"{path} was touched"

    # Byte for byte: the original with exactly the planned element texts replaced.
    assert after[PAY_SETTINGS][0] == splice(
        before[PAY_SETTINGS][0],
        (
            "<isClientCredentialsFlowEnabled>true<",
            "<isClientCredentialsFlowEnabled>false<",
        ),
    )
    assert after[PAY_POLICY][0] == splice(
        before[PAY_POLICY][0],
        ("<ipRelaxationPolicyType>Bypass<", "<ipRelaxationPolicyType>Enforce<"),
        ("<isClientCredentialsFlowEnabled>true<", "<isClientCredentialsFlowEnabled>false<"),
        # missing element: inserted where retrieve puts it (alphabetical: last here)
        (
            "<refreshTokenValidityUnit>Days</refreshTokenValidityUnit>\n",
            "<refreshTokenValidityUnit>Days</refreshTokenValidityUnit>\n"
            "    <requiredSessionLevel>HIGH_ASSURANCE</requiredSessionLevel>\n",
        ),
    )
    assert after[INV_SETTINGS][0] == splice(
        before[INV_SETTINGS][0],
        (
            "<callbackUrl>https://inventory.acme.example/oauth/callback<",
            "<callbackUrl>https://inventory.acme.example/oauth/callback\n"
            "https://inventory-staging.acme.example/cb?a=1&amp;b=2<",
        ),
        ("<isPkceRequired>false<", "<isPkceRequired>true<"),
    )

    # Element by element: same names in the same order, only the planned ones differ.
    old, new = dict(children(before[PAY_POLICY][0])), children(after[PAY_POLICY][0])
    assert [name for name, _ in new] == sorted(name for name, _ in new)
    assert {n for n, v in new if old.get(n) != v} == {
        "ipRelaxationPolicyType",
        "isClientCredentialsFlowEnabled",
        "requiredSessionLevel",
    }

    again = run("plan", "-o", f"source:{project}", "-d", want, "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert again.output.rstrip().endswith("No changes.")


def test_round_trip_source_export_plan_is_no_changes(project: Path, tmp_path: Path) -> None:
    before = snapshot(project)
    exported = run("export", "-o", f"source:{project}")
    assert exported.exit_code == 0, exported.output
    for app in ("Expense_Tracker", "Inventory_Sync", "Payments_Batch"):
        assert f"\n  {app}:\n" in exported.stdout
    assert "run_as: payments.integration@acme.example" in exported.stdout
    assert "secret_required_for_token_exchange: true" in exported.stdout  # Setup default kept
    (tmp_path / "exported.yaml").write_text(exported.stdout, encoding="utf-8")
    plan = run(
        "plan", "-o", f"source:{project}", "-d", tmp_path / "exported.yaml", "--detailed-exitcode"
    )
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.rstrip().endswith("No changes.")
    assert snapshot(project) == before  # plan and export never write


def test_risk_lookups_are_skipped_with_a_note(project: Path) -> None:
    result = run("audit", "-o", f"source:{project}")
    assert result.exit_code == 3, result.output  # Payments_Batch has client credentials on
    assert "risk lookups skipped: a source folder has no users" in result.output
    assert "risk lookup failed" not in result.output
    assert f"Audit of org source:{project.resolve()}" in result.output


def test_line_endings_comments_and_indentation_survive(project: Path, write_yaml) -> None:
    path = project / EXP_POLICY
    text = path.read_text(encoding="utf-8").replace("    <", "\t<")
    text = text.replace("\t<label>", "\t<!-- reviewed by security, SEC-9 -->\n\t<label>").replace(
        "\n", "\r\n"
    )
    path.write_bytes(text.encode("utf-8"))
    original = path.read_bytes()
    yaml = write_yaml(
        "version: 1\nbaseline: []\napps:\n  Expense_Tracker:\n    policies:\n"
        "      refresh_token: {policy: specific_inactivity, period: 12, unit: hours}\n"
    )
    result = run("apply", "-o", f"source:{project}", "-d", yaml, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == splice(
        original,
        ("<refreshTokenPolicyType>Infinite<", "<refreshTokenPolicyType>SpecificInactivity<"),
        (
            "\t<requiredSessionLevel>",  # two missing elements, in order, CRLF and tab kept
            "\t<refreshTokenValidityPeriod>12</refreshTokenValidityPeriod>\r\n"
            "\t<refreshTokenValidityUnit>Hours</refreshTokenValidityUnit>\r\n"
            "\t<requiredSessionLevel>",
        ),
    )


SECRET = "shhh-SOURCE-SECRET-0123456789abcdef"


def test_secrets_in_the_files_are_never_printed(project: Path, want: Path, tmp_path: Path) -> None:
    path = project / PAY_SETTINGS
    key = re.search(rb"<consumerKey>([^<]+)<", path.read_bytes())
    assert key is not None
    path.write_bytes(
        path.read_bytes().replace(
            b"    <externalClientApplication>",
            f"    <consumerSecret>{SECRET}</consumerSecret>\n".encode()
            + b"    <externalClientApplication>",
        )
    )
    outputs = []
    for args in (
        ("export", "-o", f"source:{project}"),
        ("plan", "-o", f"source:{project}", "-d", want, "--format", "json"),
        ("audit", "-o", f"source:{project}", "--format", "sarif"),
        ("--debug", "apply", "-o", f"source:{project}", "-d", want, "--auto-approve"),
    ):
        result = run(*args)
        assert result.exit_code in (0, 3), result.output
        outputs.append(result.output)
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*.json") if ".reconciler" in str(p))
    for secret in (SECRET, key.group(1).decode()):
        assert all(secret not in out for out in outputs), secret
        assert secret.encode() not in written  # backups hold no secret either
    # The apply edited the file around the secret and kept it.
    assert f"<consumerSecret>{SECRET}</consumerSecret>".encode() in path.read_bytes()
    assert b"<isClientCredentialsFlowEnabled>false<" in path.read_bytes()


def test_bad_source_folders_are_clean_errors(tmp_path: Path, project: Path) -> None:
    export = run("export", "-o", f"source:{tmp_path / 'nope'}")
    assert export.exit_code == 1 and "not a folder" in export.stderr
    (project / PAY_POLICY).write_text("<?xml version='1.0'?>\n<ExtlClntApp", encoding="utf-8")
    broken = run("export", "-o", f"source:{project}")
    assert broken.exit_code == 1
    assert "Payments_Batch_oauthPlcy.ecaOauthPlcy-meta.xml:2: not well-formed XML" in broken.stderr
    assert "Traceback" not in broken.output


def _plan_json(*org: str, desired: Path) -> list[dict]:
    result = run("plan", *org, "-d", desired, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["changes"]


def test_emulator_seeded_from_the_folder_plans_the_same(project: Path, want: Path) -> None:
    from_source = _plan_json("-o", f"source:{project}", desired=want)
    from_emulator = _plan_json("-o", f"emulator:{project}", desired=want)
    assert len(from_source) == 6
    assert from_emulator == from_source
    before = snapshot(project)
    result = run("apply", "-o", f"emulator:{project}", "-d", want, "--auto-approve")
    assert result.exit_code == 0, result.output  # the added run-as user makes the save valid
    assert snapshot(project) == before  # the seeded org lives in memory: the folder is untouched


def _read_banner(proc, timeout: float = 30.0) -> dict[str, str]:
    """The emulator's startup lines, read from the raw pipe (a buffered readline would hide
    lines from select)."""
    text = read_banner(proc, timeout)
    found = {"lines": text}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("instance URL", "access token", "CA cert"):
            found[key.strip()] = value.strip()
    return found


def test_emulator_command_from_source_serves_the_folders_apps(
    project: Path, want: Path, tmp_path: Path
) -> None:
    state = tmp_path / "seeded.json"
    proc = start_cli(
        ["emulator", "--from-source", project, "--state", state, "--port", "0"], cwd=tmp_path
    )
    try:
        banner = _read_banner(proc)
        assert "CA cert" in banner, banner
        assert "Seeded from" in banner["lines"] and "3 app(s)" in banner["lines"]
        assert "payments.integration@acme.example" in banner["lines"]
        env = cli_env(SF_ACCESS_TOKEN=banner["access token"], REQUESTS_CA_BUNDLE=banner["CA cert"])
        result = run(
            "plan",
            "--instance-url",
            banner["instance URL"],
            "-d",
            want,
            "--format",
            "json",
            env=env,
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["changes"] == _plan_json(
            "-o", f"source:{project}", desired=want
        )
    finally:
        proc.terminate()
        finish_cli(proc)
    # --state keeps the seeded org: -o emulator:FILE continues from it.
    assert _plan_json("-o", f"emulator:{state}", desired=want) == _plan_json(
        "-o", f"source:{project}", desired=want
    )
    doc = json.loads(state.read_text(encoding="utf-8"))
    settings = doc["metadata"]["ExtlClntAppGlobalOauthSettings"]["Payments_Batch_glbloauth"]
    assert settings["consumerSecret"]  # generated, as a deploy generates it


def test_rotation_triggers_in_the_file_are_kept(project: Path, want: Path) -> None:
    """`shouldRotateConsumerKey` true in a source file is the author's instruction for the next
    deploy; the applier clears a read-back true for live orgs, but must not rewrite the file."""
    path = project / PAY_SETTINGS
    path.write_bytes(
        splice(
            path.read_bytes(),
            ("<shouldRotateConsumerKey>false<", "<shouldRotateConsumerKey>true<"),
        )
    )
    original = path.read_bytes()
    result = run("apply", "-o", f"source:{project}", "-d", want, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == splice(
        original,
        ("<isClientCredentialsFlowEnabled>true<", "<isClientCredentialsFlowEnabled>false<"),
    )


def test_secrets_read_from_files_are_registered_for_redaction(project: Path) -> None:
    """Every secret the adapter reads is masked wherever it shows up later (logs, errors)."""
    from reconciler.org.source import SourceOrg
    from reconciler.redaction import scrub

    path = project / PAY_SETTINGS
    path.write_bytes(
        path.read_bytes().replace(
            b"    <externalClientApplication>",
            f"    <consumerSecret>{SECRET}-2</consumerSecret>\n".encode()
            + b"    <externalClientApplication>",
        )
    )
    org = SourceOrg(project)
    [component] = org.read("ExtlClntAppGlobalOauthSettings", ["Payments_Batch_glbloauth"])
    key = component.fields["consumerKey"]
    assert component.fields["consumerSecret"] == f"{SECRET}-2"
    assert scrub(f"a {SECRET}-2 b {key}") == "a *** b ***"
    assert SECRET not in repr(component)


def test_apply_keeps_each_edited_files_mode(project: Path, want: Path) -> None:
    """Issue 16 item 4: an edited file keeps its permissions (not the temp file's 0600)."""
    modes = {PAY_SETTINGS: 0o640, PAY_POLICY: 0o664, INV_SETTINGS: 0o604}
    for path, mode in modes.items():
        (project / path).chmod(mode)
    result = run("apply", "-o", f"source:{project}", "-d", want, "--auto-approve")
    assert result.exit_code == 0, result.output
    for path, mode in modes.items():
        assert (project / path).stat().st_mode & 0o7777 == mode, path


def test_a_read_only_file_is_refused_naming_it(project: Path, want: Path) -> None:
    """A 0444 file is the team's way of saying "do not edit": refused before it is written,
    naming the file; the other app is still applied."""
    path = project / PAY_POLICY
    path.chmod(0o444)
    before = snapshot(project)
    result = run("apply", "-o", f"source:{project}", "-d", want, "--auto-approve")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    payments = report_block(result.stdout, "Payments_Batch")
    assert payments[0] == "Payments_Batch: failed", payments
    assert any(str(path) in m and "read-only" in m for m in payments), payments
    assert report_block(result.stdout, "Inventory_Sync")[0] == "Inventory_Sync: applied"
    after = snapshot(project)
    for unchanged in (PAY_POLICY, PAY_SETTINGS):  # its settings wait for its policies
        assert after[unchanged] == before[unchanged], unchanged
    assert path.stat().st_mode & 0o7777 == 0o444


def test_a_symlinked_file_is_refused_naming_it(project: Path, want: Path, tmp_path: Path) -> None:
    """Replacing a symlink would turn it into a regular file and leave its target as it was:
    refused, naming the link, with the link and its target untouched."""
    link = project / INV_SETTINGS
    target = tmp_path / "elsewhere.ecaGlblOauth-meta.xml.txt"
    target.write_bytes(link.read_bytes())
    link.unlink()
    link.symlink_to(target)
    data = target.read_bytes()
    result = run("apply", "-o", f"source:{project}", "-d", want, "--auto-approve")
    assert result.exit_code == 1, result.output
    inventory = report_block(result.stdout, "Inventory_Sync")
    assert inventory[0] == "Inventory_Sync: failed", inventory
    assert any(str(link) in m and "symbolic link" in m for m in inventory), inventory
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_bytes() == data
    assert report_block(result.stdout, "Payments_Batch")[0] == "Payments_Batch: applied"
