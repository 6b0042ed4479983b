"""The CLI's error path: what the org says in a refusal reaches the terminal scrubbed of
secrets and with control characters escaped, never raw."""

from __future__ import annotations

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
