"""Issue 8 point 1: every way into a real org, through the CLI against the HTTPS emulator.

The emulator runs in this process (as a real org would run elsewhere); the CLI reaches it as
it would reach Salesforce: JWT bearer with the emulator as login URL, a Salesforce CLI alias
(tests/fixtures/fake_sf/sf prints sf's recorded JSON), an SFDX auth URL file. TLS is verified
against the emulator's certificate through REQUESTS_CA_BUNDLE, as for a private CA.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.certs import make_self_signed
from reconciler.emulator.server import EmulatorServer

from .conftest import (
    REPO,
    SHIPPED_DESIRED,
    Org,
    assert_clean_error,
    assert_shipped_summary,
    cli_argv,
    cli_env,
    run,
    run_cli,
    settings_of,
)

FAKE_SF = REPO / "tests" / "fixtures" / "fake_sf"
JWT_APP = "Reporting_JWT"
#: Pre-authorized for Reporting_JWT through the Billing_Integration permission set.
JWT_USER = "billing.integration@acme.example"
REFRESH_TOKEN = "5Aep861RefreshTokenForTheLoginTests.abcdefghijklmnop"
CLIENT_SECRET = "SecretOfTheLoginTestApp0123456789"
#: Every access token the emulator mints starts with the org id and "!AQ".
TOKEN_MARK = "00D000000000001!AQ"


@pytest.fixture(scope="module")
def signer() -> tuple[str, str]:
    """(private key PEM, certificate PEM) for the app the JWT logins use."""
    return make_self_signed("login tests")


def _prepare(doc: dict[str, Any], cert_pem: str) -> None:
    """Register our certificate on the JWT app, a refresh token, and no extra audiences:
    only the emulator's own URL is a valid `aud`, so a client that ignores its login URL
    fails here."""
    settings_of(doc, JWT_APP)["certificate"] = cert_pem
    doc["org"].pop("jwt_audiences", None)
    doc["org"]["refresh_tokens"] = {
        REFRESH_TOKEN: {"username": "admin@acme.example", "client_id": "PlatformCLI"},
        REFRESH_TOKEN + "S": {
            "username": "admin@acme.example",
            "client_id": "PlatformCLI",
            "client_secret": CLIENT_SECRET,
        },
    }


@pytest.fixture
def login_org(make_org: Callable[..., Org], signer: tuple[str, str]) -> Org:
    return make_org(lambda doc: _prepare(doc, signer[1]))


@pytest.fixture
def server(login_org: Org, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    for var in ("SF_TARGET_ORG", "SF_CLIENT_ID", "SF_USERNAME", "SF_JWT_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("SF_LOGIN_URL", raising=False)
    monkeypatch.delenv("SF_AUDIENCE_URL", raising=False)
    monkeypatch.delenv("SF_ACCESS_TOKEN", raising=False)
    with EmulatorServer(login_org.path) as srv:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", srv.ca_cert_path)
        yield srv


@pytest.fixture
def key_file(tmp_path: Path, signer: tuple[str, str]) -> Path:
    path = tmp_path / "server.key"
    path.write_text(signer[0], encoding="utf-8")
    return path


def client_id(org: Org) -> str:
    return str(settings_of(org.load(), JWT_APP)["consumerKey"])


def jwt_args(org: Org, server: EmulatorServer, key: Path, **override: str) -> list[str]:
    values = {
        "--client-id": client_id(org),
        "--username": JWT_USER,
        "--jwt-key-file": str(key),
        "--login-url": server.instance_url,
        **{f"--{k.replace('_', '-')}": v for k, v in override.items()},
    }
    return [item for pair in values.items() for item in pair]


def assert_no_secrets(text: str, *secrets: str) -> None:
    assert TOKEN_MARK not in text, "an access token was printed"
    assert "eyJ" not in text, "a JWT (assertion) was printed"
    for secret in secrets:
        assert secret not in text


def key_lines(signer: tuple[str, str]) -> list[str]:
    return [line for line in signer[0].splitlines() if not line.startswith("-----")]


# -- JWT bearer ------------------------------------------------------------------------------


def test_jwt_bearer_plan_works(server, login_org, key_file, signer):
    before = login_org.bytes()
    result = run("plan", "-d", SHIPPED_DESIRED, *jwt_args(login_org, server, key_file))
    assert result.exit_code == 0, result.output
    assert f"Org 00D000000000001EAA at {server.instance_url}" in result.stdout
    assert_shipped_summary(result.stdout)
    assert_no_secrets(result.output, client_id(login_org), *key_lines(signer))
    assert login_org.bytes() == before


def test_jwt_bearer_from_environment(server, login_org, key_file, monkeypatch):
    monkeypatch.setenv("SF_CLIENT_ID", client_id(login_org))
    monkeypatch.setenv("SF_USERNAME", JWT_USER)
    monkeypatch.setenv("SF_JWT_KEY_FILE", str(key_file))
    monkeypatch.setenv("SF_LOGIN_URL", server.instance_url)
    result = run("plan", "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    assert_shipped_summary(result.stdout)


@pytest.mark.parametrize(
    ("override", "error"),
    [
        (
            {"client_id": "3MVG9NotARegisteredConsumerKey"},
            "invalid_client_id: client identifier invalid",
        ),
        ({"username": "admin@acme.example"}, "invalid_grant: user hasn't approved this consumer"),
        # The same emulator under another name: the assertion's aud is not its login URL.
        ({"login_url": "localhost"}, "invalid_grant: audience is invalid"),
    ],
    ids=["unknown-client", "user-not-approved", "wrong-audience"],
)
def test_jwt_bearer_errors_reach_the_user(server, login_org, key_file, signer, override, error):
    if override.get("login_url") == "localhost":
        override = {"login_url": f"https://localhost:{server.port}"}
    before = login_org.bytes()
    args = jwt_args(login_org, server, key_file, **override)
    result = run("plan", "-d", SHIPPED_DESIRED, *args)
    assert_clean_error(result, "JWT bearer login refused (HTTP 400)", error)
    assert_no_secrets(result.output, client_id(login_org), *key_lines(signer))
    assert login_org.bytes() == before


def test_jwt_bearer_wrong_key_is_refused(server, login_org, tmp_path):
    other = tmp_path / "other.key"
    other.write_text(make_self_signed("someone else")[0], encoding="utf-8")
    result = run("plan", "-d", SHIPPED_DESIRED, *jwt_args(login_org, server, other))
    assert_clean_error(result, "invalid_grant: invalid assertion", "--jwt-key-file")


def test_jwt_bearer_relogin_on_invalid_session(server, login_org, key_file):
    """The session the JWT login got is revoked at the first readMetadata; the CLI logs in
    again with a new assertion and finishes the plan."""
    with server.state.transaction() as doc:
        doc["org"]["faults"] = [{"op": "readMetadata", "kind": "invalid_session", "times": 1}]
    result = run("plan", "-d", SHIPPED_DESIRED, *jwt_args(login_org, server, key_file))
    assert result.exit_code == 0, result.output
    assert "logging in again" in result.stderr
    assert_shipped_summary(result.stdout)


def test_login_url_must_be_salesforce_or_loopback(server, login_org, key_file):
    args = jwt_args(login_org, server, key_file, login_url="https://login.example.com")
    result = run("plan", "-d", SHIPPED_DESIRED, *args)
    assert_clean_error(result, "--login-url", "is not a Salesforce login host")


def test_jwt_bearer_missing_pieces_are_named(server, key_file):
    result = run("plan", "-d", SHIPPED_DESIRED, "--jwt-key-file", key_file)
    assert_clean_error(result, "--client-id (or SF_CLIENT_ID)", "--username (or SF_USERNAME)")


def test_bad_key_file_is_described_not_echoed(server, login_org, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nTopSecretGarbageLine0123456789\n", "utf-8")
    result = run("plan", "-d", SHIPPED_DESIRED, *jwt_args(login_org, server, bad))
    assert_clean_error(result, "not a PEM private key")
    assert "TopSecretGarbageLine" not in result.output


def test_two_logins_at_once_is_an_error(server, login_org, key_file):
    result = run("plan", "-o", "acme", *jwt_args(login_org, server, key_file))
    assert_clean_error(result, "give one way to reach the org", "-o/--target-org")


# -- Salesforce CLI alias ---------------------------------------------------------------------


@pytest.fixture
def fake_sf(server, tmp_path, monkeypatch) -> Path:
    """The stand-in sf on PATH, knowing alias `acme` at the emulator; returns its call log."""
    log = tmp_path / "sf-calls.jsonl"
    monkeypatch.setenv("PATH", f"{FAKE_SF}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SF_ALIASES", "acme")
    monkeypatch.setenv("FAKE_SF_INSTANCE_URL", server.instance_url)
    monkeypatch.setenv("FAKE_SF_ACCESS_TOKEN", server.access_token)
    monkeypatch.setenv("FAKE_SF_LOG", str(log))
    return log


def sf_calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_alias_with_redacted_display_token_uses_show_access_token(server, fake_sf, tmp_path):
    """A separate process whose stdin is an open pipe, as a terminal would be: sf must still
    get /dev/null, so it can never sit waiting for an answer to a prompt."""
    proc = subprocess.Popen(
        cli_argv(["plan", "-o", "acme", "-d", SHIPPED_DESIRED]),
        cwd=tmp_path,
        env=cli_env(REQUESTS_CA_BUNDLE=server.ca_cert_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"Org 00D000000000001EAA at {server.instance_url}" in out
    assert_shipped_summary(out)
    calls = sf_calls(fake_sf)
    assert [c["argv"] for c in calls] == [
        ["org", "display", "--target-org", "acme", "--json"],
        ["org", "auth", "show-access-token", "--target-org", "acme", "--json"],
    ]
    assert all(c["stdin_devnull"] for c in calls), "sf must run with stdin closed (no prompt)"
    assert_no_secrets(out + err, server.access_token)


def test_alias_with_plain_display_token_needs_no_second_call(server, fake_sf, monkeypatch):
    monkeypatch.setenv("FAKE_SF_SHAPE", "plain")
    result = run("plan", "--target-org", "acme", "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    assert_shipped_summary(result.stdout)
    assert [c["argv"][:2] for c in sf_calls(fake_sf)] == [["org", "display"]]


def test_no_org_given_uses_sfs_default_org_and_says_which(server, fake_sf, monkeypatch):
    monkeypatch.setenv("FAKE_SF_DEFAULT_ORG", "acme")
    result = run("plan", "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    assert_shipped_summary(result.stdout)
    assert "Using the Salesforce CLI's default org 'acme'" in result.stderr
    assert [c["argv"][:3] for c in sf_calls(fake_sf)][:2] == [
        ["config", "get", "target-org"],
        ["org", "display", "--target-org"],
    ]


def test_no_org_and_no_sf_default_is_the_usual_error(server, fake_sf):
    result = run("plan", "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "no org given")


def test_alias_from_sf_target_org(server, fake_sf, monkeypatch):
    monkeypatch.setenv("SF_TARGET_ORG", "acme")
    result = run("plan", "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    assert_shipped_summary(result.stdout)


def test_unknown_alias_exits_1_naming_it(server, fake_sf):
    result = run("plan", "-o", "nosuchorg", "-d", SHIPPED_DESIRED)
    assert_clean_error(
        result, "'nosuchorg'", "NamedOrgNotFoundError", "No authorization information found"
    )
    assert "sf org login web --alias nosuchorg" in result.stderr


#: The shape of a Salesforce access token (session id): the org id, "!", then the token body.
#: Never registered as a secret: the tool did not get it, sf only printed it in its error.
RELAYED_TOKEN = (
    "00D5g000004FxyzEAC!AQ4AQFa8xZ2vN0b9nD8m.KqzP3tYwR7sXkLmN_oP1qR2sT3uV4wX5yZ6aB7cD8eF9gH0iJ1"
)


def test_a_token_in_sfs_relayed_message_is_scrubbed(server, fake_sf, monkeypatch):
    """Issue 16 item 5: sf has printed tokens in its error text; the message it relays goes
    through the secret scrubber, whose patterns know a Salesforce access token's shape."""
    monkeypatch.setenv(
        "FAKE_SF_FAIL_MESSAGE",
        f"Error authenticating with the refresh token due to: session {RELAYED_TOKEN} expired",
    )
    result = run("plan", "-o", "acme", "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "AuthRefreshError", "Error authenticating with the refresh token")
    assert_no_secrets(result.output, RELAYED_TOKEN, RELAYED_TOKEN.partition("!")[2])
    assert "session *** expired" in result.stderr, result.stderr


def test_sf_missing_says_how_to_install_or_log_in_otherwise(server, tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = run("plan", "-o", "acme", "-d", SHIPPED_DESIRED)
    assert_clean_error(
        result, "`sf`) is not on PATH", "npm install --global @salesforce/cli", "--jwt-key-file"
    )


# -- SFDX auth URL ------------------------------------------------------------------------------


def sfdx_url_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auth-url.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_sfdx_url_file_plan_works(server, login_org, tmp_path):
    url = f"force://PlatformCLI::{REFRESH_TOKEN}@127.0.0.1:{server.port}"
    result = run("plan", "--sfdx-url-file", sfdx_url_file(tmp_path, url), "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    assert f"Org 00D000000000001EAA at {server.instance_url}" in result.stdout
    assert_shipped_summary(result.stdout)
    assert_no_secrets(result.output, REFRESH_TOKEN)


def test_sfdx_url_file_with_client_secret(server, login_org, tmp_path):
    url = f"force://PlatformCLI:{CLIENT_SECRET}:{REFRESH_TOKEN}S@127.0.0.1:{server.port}"
    result = run("plan", "--sfdx-url-file", sfdx_url_file(tmp_path, url), "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    wrong = f"force://PlatformCLI:WrongSecret0123:{REFRESH_TOKEN}S@127.0.0.1:{server.port}"
    result = run("plan", "--sfdx-url-file", sfdx_url_file(tmp_path, wrong), "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "SFDX auth URL login refused", "invalid_client")
    assert_no_secrets(result.output, REFRESH_TOKEN, "WrongSecret0123", CLIENT_SECRET)


def test_sfdx_url_refresh_token_of_another_client(server, login_org, tmp_path):
    url = f"force://SomeOtherClient::{REFRESH_TOKEN}@127.0.0.1:{server.port}"
    result = run("plan", "--sfdx-url-file", sfdx_url_file(tmp_path, url), "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "invalid_client_id: client identifier invalid")
    assert_no_secrets(result.output, REFRESH_TOKEN, "SomeOtherClient")


def test_sfdx_url_revoked_refresh_token(server, login_org, tmp_path):
    url = f"force://PlatformCLI::Revoked{REFRESH_TOKEN}@127.0.0.1:{server.port}"
    result = run("plan", "--sfdx-url-file", sfdx_url_file(tmp_path, url), "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "invalid_grant: expired access/refresh token")
    assert "Revoked" not in result.output


@pytest.mark.parametrize(
    "text",
    [
        f"https://PlatformCLI:{CLIENT_SECRET}:{REFRESH_TOKEN}@127.0.0.1",
        f"force://PlatformCLI:{CLIENT_SECRET}:{REFRESH_TOKEN}",
        f"force://PlatformCLI:{CLIENT_SECRET}:{REFRESH_TOKEN}@host with space",
    ],
    ids=["https-scheme", "no-instance", "bad-host"],
)
def test_malformed_sfdx_url_is_a_clean_error_without_the_secret(server, tmp_path, text):
    path = sfdx_url_file(tmp_path, text)
    result = run("plan", "--sfdx-url-file", path, "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "does not hold an SFDX auth URL", str(path))
    assert REFRESH_TOKEN not in result.output
    assert CLIENT_SECRET not in result.output


# -- access token, and nothing leaks with --debug ----------------------------------------------


def test_instance_url_without_token_hint_works_in_ci(server):
    result = run("plan", "--instance-url", server.instance_url, "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "SF_ACCESS_TOKEN")
    # Without --json, `sf org auth show-access-token` prompts (and fails unattended).
    assert "sf org auth show-access-token --target-org ALIAS --json" in result.stderr


@pytest.mark.parametrize("method", ["jwt", "alias", "sfdx-url"])
def test_debug_output_holds_no_credential(method, server, login_org, key_file, signer, tmp_path):
    """A separate process with --debug: every log line, the plan and stderr are free of the
    access token, private key, client id, assertion, refresh token and client secret."""
    env = cli_env(REQUESTS_CA_BUNDLE=server.ca_cert_path)
    if method == "jwt":
        args = jwt_args(login_org, server, key_file)
    elif method == "alias":
        env.update(
            PATH=f"{FAKE_SF}{os.pathsep}{env['PATH']}",
            FAKE_SF_ALIASES="acme",
            FAKE_SF_INSTANCE_URL=server.instance_url,
            FAKE_SF_ACCESS_TOKEN=server.access_token,
        )
        args = ["-o", "acme"]
    else:
        url = f"force://PlatformCLI:{CLIENT_SECRET}:{REFRESH_TOKEN}S@127.0.0.1:{server.port}"
        args = ["--sfdx-url-file", str(sfdx_url_file(tmp_path, url))]
    done = run_cli(["--debug", "plan", "-d", SHIPPED_DESIRED, *args], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "DEBUG" in done.stderr, "debug logging was not on"
    assert_shipped_summary(done.stdout)
    assert_no_secrets(
        done.stdout + done.stderr,
        server.access_token,
        client_id(login_org),
        REFRESH_TOKEN,
        CLIENT_SECRET,
        *key_lines(signer),
    )


# -- which audience, which login hosts (no org needed) -------------------------------------------


@pytest.mark.parametrize(
    ("login_url", "environ", "expected"),
    [
        ("https://login.salesforce.com", {}, ["https://login.salesforce.com"]),
        ("https://test.salesforce.com", {}, ["https://test.salesforce.com"]),
        ("https://127.0.0.1:8443", {}, ["https://127.0.0.1:8443"]),
        (
            "https://acme.my.salesforce.com",
            {},
            ["https://acme.my.salesforce.com", "https://login.salesforce.com"],
        ),
        (
            "https://acme--uat.sandbox.my.salesforce.com",
            {},
            ["https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"],
        ),
        (
            "https://acme.my.salesforce.com",
            {"SF_AUDIENCE_URL": "https://test.salesforce.com/"},
            ["https://test.salesforce.com"],
        ),
    ],
)
def test_jwt_audiences(login_url, environ, expected):
    from reconciler.org.login import jwt_audiences

    assert jwt_audiences(login_url, environ) == expected


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com/", "https://test.salesforce.com"),
        ("https://Acme.my.salesforce.com:443", "https://acme.my.salesforce.com"),
        ("https://localhost:8443", "https://localhost:8443"),
    ],
)
def test_login_origin_accepts(url, origin):
    from reconciler.org.login import login_origin

    assert login_origin(url, "--login-url") == origin


@pytest.mark.parametrize(
    "url",
    [
        "http://login.salesforce.com",
        "https://login.salesforce.com.evil.example",
        "https://acme.my.salesforce.com/services/oauth2/token",
        "https://user@login.salesforce.com",
        "login.salesforce.com",
    ],
)
def test_login_origin_refuses(url):
    from reconciler.org.login import LoginError, login_origin

    with pytest.raises(LoginError, match="--login-url"):
        login_origin(url, "--login-url")
