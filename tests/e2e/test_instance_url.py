"""Done-when 10: `--instance-url` with SF_ACCESS_TOKEN against an emulator started by the test."""

from __future__ import annotations

import pytest

from reconciler.emulator.server import EmulatorServer

from .conftest import SHIPPED_DESIRED, assert_shipped_summary, cli_env, run, run_cli


@pytest.fixture
def server(org):
    with EmulatorServer(org.path) as srv:
        yield srv


def test_instance_url_plan_works(server, org, monkeypatch):
    monkeypatch.setenv("SF_ACCESS_TOKEN", server.access_token)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_cert_path)
    before = org.bytes()
    result = run("plan", "--instance-url", server.instance_url, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    assert f"Org 00D000000000001EAA at {server.instance_url}" in result.stdout
    assert_shipped_summary(result.stdout)
    assert server.access_token not in result.output
    assert org.bytes() == before


def test_instance_url_apply_works(server, org, monkeypatch):
    monkeypatch.setenv("SF_ACCESS_TOKEN", server.access_token)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_cert_path)
    result = run(
        "apply", "--instance-url", server.instance_url, "-d", SHIPPED_DESIRED, "--auto-approve"
    )
    assert result.exit_code == 0, result.output
    assert "Apply complete: 2 applied" in result.stdout
    doc = org.load()
    glbl = doc["metadata"]["ExtlClntAppGlobalOauthSettings"]["Legacy_Importer_glbloauth"]
    assert glbl["isClientCredentialsFlowEnabled"] is False


def test_instance_url_bad_token(server, org, monkeypatch):
    bad = "00D000000000001!AQbadbadbadbadbadbadbadbadbad"
    monkeypatch.setenv("SF_ACCESS_TOKEN", bad)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_cert_path)
    before = org.bytes()
    result = run("plan", "--instance-url", server.instance_url, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ")
    assert "INVALID_SESSION_ID" in result.stderr or "session" in result.stderr.lower()
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    assert bad not in result.output
    assert org.bytes() == before


def test_instance_url_untrusted_certificate_is_a_clean_error(server, tmp_path):
    """Without REQUESTS_CA_BUNDLE the self-signed emulator must not be trusted.

    A subprocess: the emulator thread in this process logs the failed handshake to stderr,
    which must not be mistaken for the CLI's output.
    """
    env = cli_env(SF_ACCESS_TOKEN=server.access_token)
    result = run_cli(
        ["plan", "--instance-url", server.instance_url, "-d", SHIPPED_DESIRED], tmp_path, env
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: cannot reach"), result.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.access_token not in result.stdout + result.stderr
