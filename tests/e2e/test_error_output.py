"""The CLI's error path: what the org says in a refusal reaches the terminal scrubbed of
secrets and with control characters escaped, never raw."""

from __future__ import annotations

import pytest

from reconciler.emulator.server import EmulatorServer

from .conftest import SHIPPED_DESIRED, assert_clean_error, run


def test_org_fault_text_is_scrubbed_and_escaped(org, monkeypatch):
    with EmulatorServer(org.path) as server:
        token = server.access_token
        # A hostile or careless org echoes the session id and a terminal escape in its error
        # (JSON can carry ESC; XML 1.0 cannot, so the REST side is where it can arrive).
        server.state.doc["org"]["faults"] = [
            {
                "op": "query",
                "kind": "rest_error",
                "status": 400,
                "errorCode": "MALFORMED_QUERY",
                "message": f"session {token} rejected \x1b[2K\x1b[1APlan: 0 apps to change.",
                "times": None,
            }
        ]
        monkeypatch.setenv("SF_ACCESS_TOKEN", token)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_cert_path)
        result = run("plan", "--instance-url", server.instance_url, "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "query failed (HTTP 400): MALFORMED_QUERY")
    assert token not in result.output
    assert "\x1b" not in result.output
    assert "\\x1b[2K" in result.stderr
    assert not any(line.startswith("Plan:") for line in result.output.splitlines())


@pytest.mark.parametrize("debug", [False, True])
def test_an_internal_error_carrying_a_secret_is_scrubbed(org, monkeypatch, debug):
    """A bug (any exception outside the taxonomy) whose text holds the session's token: the
    CLI's own scrubbing of the internal-error message, and of the traceback it prints under
    --debug, is all that stands between the token and the terminal (issue 16, a mutation that
    removed it survived the suite)."""
    from reconciler.org.salesforce import SalesforceOrg

    seen: list[str] = []

    def buggy(self: SalesforceOrg, types: object) -> None:
        seen.append(self._token)
        raise RuntimeError(f"bug while listing with session {self._token}")

    monkeypatch.setattr(SalesforceOrg, "list_names", buggy)
    result = run(*(["--debug"] if debug else []), "plan", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 1, result.output
    assert "internal error (RuntimeError): bug while listing with session ***" in result.stderr
    assert seen and seen[0] not in result.output, result.output
    if debug:
        assert "Traceback" in result.stderr  # the traceback was printed, scrubbed
