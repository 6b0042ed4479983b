"""Done-when 11: secrets never leak, not even with --debug.

Every command runs as a fresh `reconciler --debug ...` process (so nothing the pytest process
has already registered for masking can hide a leak) against an org whose consumer keys,
consumer secrets and certificate all carry a random marker. Neither the marker, nor any access
token, nor a line of the certificate may appear in any output or in any file the tool wrote.
"""

from __future__ import annotations

import json
import re
import secrets

import pytest

from reconciler.emulator.demo_org import build_demo_org
from reconciler.emulator.server import EmulatorServer

from .conftest import (
    SHIPPED_DESIRED,
    Org,
    cli_env,
    finish_cli,
    run_cli,
    settings_of,
    start_cli,
)

#: Tokens minted by the emulator for the demo org look like `00D000000000001!AQ<urlsafe>`.
TOKEN_SHAPE = re.compile(r"00D000000000001!AQ[A-Za-z0-9_-]{16,}")

FAIL_YAML = """\
version: 1
baseline: []  # the mechanism under test, without baseline remedies
apps:
  Partner_Portal:
    policies:
      session_timeout_minutes: 30
  Reporting_JWT:
    settings:
      jwt_access_tokens: true
"""


@pytest.fixture
def secret_world(tmp_path):
    marker = f"SEKRET-{secrets.token_hex(8)}"
    doc = build_demo_org(secret_marker=marker)
    cert = settings_of(doc, "Reporting_JWT")["certificate"]
    cert_lines = [
        line.strip()
        for line in cert.splitlines()
        if len(line.strip()) >= 16 and not line.startswith("-----")
    ]
    orgs = {}
    for name in ("a", "b", "c", "d"):
        org = Org(tmp_path / f"org-{name}.json")
        org.save(doc)
        orgs[name] = org
    orgs["d"].mutate(
        lambda d: d["org"].update(
            fail_updates={"Partner_Portal_oauthPlcy": {"statusCode": "UNKNOWN_EXCEPTION"}}
        )
    )
    assert marker in orgs["a"].path.read_text(), "the marker must be in the org's secrets"
    work = tmp_path / "work"
    work.mkdir()
    return marker, cert_lines, orgs, work


def _assert_clean(label, text, marker, cert_lines, tokens):
    assert marker not in text, f"{label}: secret marker leaked"
    for line in cert_lines:
        assert line not in text, f"{label}: certificate line leaked"
    for token in tokens:
        assert token not in text, f"{label}: access token leaked"
    assert not TOKEN_SHAPE.search(text), f"{label}: an access token leaked"


def test_no_secret_in_any_output_or_written_file_with_debug(secret_world, tmp_path):
    marker, cert_lines, orgs, work = secret_world
    a, b, d = orgs["a"].target, orgs["b"].target, orgs["d"].target
    desired_dir = tmp_path / "fail"
    desired_dir.mkdir()
    (desired_dir / "apps.yaml").write_text(FAIL_YAML)
    dbg = ["--debug"]
    plan_file = work / "p.json"

    # Read-only commands (and writes to separate org copies) run side by side.
    first = {
        "validate": dbg + ["validate", "-d", SHIPPED_DESIRED],
        "plan text": dbg + ["plan", "-o", a, "-d", SHIPPED_DESIRED],
        "plan json": dbg + ["plan", "-o", a, "-d", SHIPPED_DESIRED, "--format", "json"],
        "plan markdown": dbg + ["plan", "-o", a, "-d", SHIPPED_DESIRED, "--format", "markdown"],
        "plan --out": dbg + ["plan", "-o", a, "-d", SHIPPED_DESIRED, "--out", plan_file],
        "export": dbg + ["export", "-o", a],
        "apply --auto-approve": dbg + ["apply", "-o", b, "-d", SHIPPED_DESIRED, "--auto-approve"],
        "apply failing": dbg + ["apply", "-o", d, "-d", desired_dir, "--auto-approve"],
    }
    # The two applies run at once against copies of one org (same org id): the second waits
    # for the first's org lock instead of being refused.
    for label in ("apply --auto-approve", "apply failing"):
        first[label] += ["--lock-timeout", "60"]
    procs = {label: start_cli(args, work) for label, args in first.items()}
    results = {label: finish_cli(p) for label, p in procs.items()}
    (work / "export.yaml").write_text(results["export"].stdout)

    results["apply PLANFILE"] = run_cli(
        dbg + ["apply", plan_file, "-o", a, "-d", SHIPPED_DESIRED], work
    )

    with EmulatorServer(orgs["c"].path) as server:
        env = cli_env(SF_ACCESS_TOKEN=server.access_token, REQUESTS_CA_BUNDLE=server.ca_cert_path)
        url = ["--instance-url", server.instance_url]
        second = {
            "url plan": dbg + ["plan", *url, "-d", SHIPPED_DESIRED, "--format", "json"],
            "url export": dbg + ["export", *url],
        }
        procs = {label: start_cli(args, work, env) for label, args in second.items()}
        results.update({label: finish_cli(p) for label, p in procs.items()})
        results["url apply"] = run_cli(
            dbg + ["apply", *url, "-d", SHIPPED_DESIRED, "--auto-approve"], work, env
        )
        bad_token = "00D000000000001!AQ" + secrets.token_urlsafe(40)
        bad_env = {**env, "SF_ACCESS_TOKEN": bad_token}
        results["url bad token"] = run_cli(
            dbg + ["plan", *url, "-d", SHIPPED_DESIRED], work, bad_env
        )
        tokens = [server.access_token, bad_token]

    expected_codes = {"apply failing": 1, "url bad token": 1}
    for label, result in results.items():
        assert result.returncode == expected_codes.get(label, 0), (label, result.stderr)
        assert "Traceback" not in result.stderr, label
        _assert_clean(f"{label} stdout", result.stdout, marker, cert_lines, tokens)
        _assert_clean(f"{label} stderr", result.stderr, marker, cert_lines, tokens)
        if label != "validate":
            # --debug really produced debug output, so a leak there would have been seen.
            assert re.search(r"^DEBUG \S+: ", result.stderr, re.M), (label, result.stderr)

    # The commands did their jobs (so the outputs scanned above are the real thing).
    assert json.loads(results["plan json"].stdout)["summary"]["fields_to_change"] >= 7
    assert "Apply complete: 2 applied" in results["apply PLANFILE"].stdout
    assert "Apply complete: 2 applied" in results["apply --auto-approve"].stdout
    assert "Apply complete: 2 applied" in results["url apply"].stdout
    assert "Partner_Portal: failed" in results["apply failing"].stdout
    assert "Reporting_JWT: applied" in results["apply failing"].stdout
    assert "INVALID_SESSION_ID" in results["url bad token"].stderr
    assert "Billing_Sync:" in results["export"].stdout

    # Every file the tool wrote (plan file, redirected export, anything else in its cwd).
    written = [p for p in work.rglob("*") if p.is_file()]
    assert plan_file in written and work / "export.yaml" in written
    for path in written:
        _assert_clean(str(path), path.read_text(errors="replace"), marker, cert_lines, tokens)
    # The orgs' own state files still hold the (unchanged) secrets: the test was meaningful.
    for org in orgs.values():
        assert marker in org.path.read_text()


CONNECTED_YAML = """\
version: 1
baseline: [ECA-OAUTH-001]
unlisted: ignore
connected_apps:
  Legacy_CRM_Sync:
    pkce_required: true
"""


def test_connected_app_secrets_never_leak_with_debug(secret_world, tmp_path, monkeypatch):
    """Issue 18: a Connected App's consumer key and secret sit inside oauthConfig. Audit (all
    formats), plan, apply (backup, verification) and export --as-eca run with --debug against
    an org whose Connected App credentials carry the marker: none of it may show."""
    marker, cert_lines, orgs, work = secret_world
    state = work / "state"
    monkeypatch.setenv("RECONCILER_DIR", str(state))
    org = orgs["a"].target
    desired = tmp_path / "connected"
    desired.mkdir()
    (desired / "apps.yaml").write_text(CONNECTED_YAML)
    connected = json.loads(orgs["a"].path.read_text())["metadata"]["ConnectedApp"]
    assert all(marker in c["oauthConfig"]["consumerSecret"] for c in connected.values())
    dbg = ["--debug"]
    runs = {
        "audit": dbg + ["audit", "-o", org],
        "audit json": dbg + ["audit", "-o", org, "--format", "json"],
        "audit sarif": dbg + ["audit", "-o", org, "--format", "sarif"],
        "plan": dbg + ["plan", "-o", org, "-d", desired, "--out", work / "ca-plan.json"],
        "apply": dbg + ["apply", "-o", org, "-d", desired, "--auto-approve"],
        "export --as-eca": dbg
        + ["export", "-o", org, "--as-eca", "--out", work / "eca.yaml"]
        + ["--source-dir", work / "eca-src"],
    }
    expected = {"audit": 3, "audit json": 3, "audit sarif": 3}
    for label, args in runs.items():
        result = run_cli(args, work, cli_env(RECONCILER_DIR=str(state)))
        assert result.returncode == expected.get(label, 0), (label, result.stderr)
        _assert_clean(f"{label} stdout", result.stdout, marker, cert_lines, [])
        _assert_clean(f"{label} stderr", result.stderr, marker, cert_lines, [])
    written = [p for p in work.rglob("*") if p.is_file()]
    backups = [p for p in written if "backups" in p.parts]
    assert backups, "apply wrote a backup of the Connected App"
    for path in written:
        _assert_clean(str(path), path.read_text(errors="replace"), marker, cert_lines, [])
    assert marker in orgs["a"].path.read_text()  # the org still holds them: the test meant it
