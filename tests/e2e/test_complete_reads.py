"""Complete reads or none: plan, apply and audit never report on a partial view of the org.

Each test injects a fault on the wire (emulator `org.faults`) and checks the CLI stops with exit
1 and an error that names the call, printing no plan or verdict, or (for transient faults)
retries its way to the same answer as a clean run.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.emulator.server import EmulatorServer
from reconciler.errors import IncompleteResponse, RequestLimitExceeded, SessionExpired
from reconciler.live_state import read_live
from reconciler.org.connect import emulator_org
from reconciler.org.retry import RetryPolicy

from .conftest import SHIPPED_DESIRED, assert_clean_error, assert_shipped_summary, run

POLICIES = "ExtlClntAppOauthConfigurablePolicies"
FAST = ["--retry-max-seconds", "5"]


def with_faults(*rules: dict[str, Any]):
    def mutate(doc: dict[str, Any]) -> None:
        doc["org"]["faults"] = list(rules)

    return mutate


def assert_no_report(result) -> None:
    """Nothing that reads like a plan or an audit verdict reached stdout."""
    assert "Plan:" not in result.stdout
    assert "No changes" not in result.stdout
    assert "compliant" not in result.stdout.lower()


@pytest.mark.parametrize("kind", ["truncate", "malformed"])
@pytest.mark.parametrize("command", ["plan", "audit"])
def test_broken_read_reply_stops_plan_and_audit(org_file, kind, command):
    org = org_file(with_faults({"op": "readMetadata", "kind": kind, "times": None}))
    result = run(command, "-o", org.target, "-d", SHIPPED_DESIRED, *FAST)
    assert_clean_error(result, "readMetadata", "not well-formed XML")
    assert_no_report(result)


def test_truncated_list_reply_stops_the_run(org_file):
    org = org_file(with_faults({"op": "listMetadata", "kind": "truncate", "times": None}))
    result = run("audit", "-o", org.target, "-d", SHIPPED_DESIRED, *FAST)
    assert_clean_error(result, "listMetadata", "not well-formed XML")
    assert_no_report(result)


def test_nil_record_for_a_listed_component_is_a_read_error(org_file):
    org = org_file(
        with_faults({"op": "readMetadata", "kind": "nil_record", "match": "Billing_Sync"})
    )
    result = run("audit", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "readMetadata returned no record", "Billing_Sync")
    assert_no_report(result)


def test_apply_writes_nothing_after_a_broken_read(org_file):
    org = org_file(with_faults({"op": "readMetadata", "kind": "malformed", "times": None}))
    before = org.bytes()
    result = run("apply", "-o", org.target, "-d", SHIPPED_DESIRED, "--auto-approve", *FAST)
    assert_clean_error(result, "readMetadata")
    assert org.bytes() == before


def test_oversized_reply_is_refused(org_file):
    org = org_file(
        with_faults({"op": "readMetadata", "kind": "oversize", "bytes": 51 * 1024 * 1024})
    )
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, *FAST)
    assert_clean_error(result, "larger than 50 MB")
    assert_no_report(result)


def test_transient_503_is_retried_and_its_html_never_printed(org_file):
    html = "<html><body>Service Unavailable MARKER-HTML</body></html>"
    org = org_file(
        with_faults(
            {
                "op": "readMetadata",
                "kind": "http_error",
                "status": 503,
                "body": html,
                "content_type": "text/html",
                "times": 2,
            }
        )
    )
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    assert_shipped_summary(result.stdout)
    assert "MARKER-HTML" not in result.output
    assert "retrying" in result.stderr


def test_persistent_503_gives_up_with_a_clean_error(org_file):
    org = org_file(
        with_faults(
            {
                "op": "readMetadata",
                "kind": "http_error",
                "status": 503,
                "body": "<html>MARKER-HTML</html>",
                "content_type": "text/html",
                "times": None,
            }
        )
    )
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--retries", "2")
    assert_clean_error(result, "readMetadata", "HTTP 503", "text/html")
    assert "MARKER-HTML" not in result.output
    assert "Max retries exceeded" not in result.output


def test_connection_reset_on_a_read_is_retried(org_file):
    org = org_file(with_faults({"op": "readMetadata", "kind": "reset", "times": 1}))
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED)
    assert result.exit_code == 0, result.output
    assert_shipped_summary(result.stdout)


# -- against a server the test holds, to count what crossed the wire -----------------------


@pytest.fixture
def server_for(org_file):
    servers: list[EmulatorServer] = []

    def start(*rules: dict[str, Any]) -> EmulatorServer:
        org = org_file(with_faults(*rules))
        server = EmulatorServer(org.path).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("op", ["readMetadata", "query"])
def test_redirects_are_never_followed(server_for, op):
    server = server_for({"op": op, "kind": "redirect", "times": None})
    org = emulator_org(server, retry=RetryPolicy(attempts=1))
    with pytest.raises(IncompleteResponse, match="redirect"):
        read_live(org)
    assert server.redirects_followed == 0


def test_request_limit_is_not_retried(server_for):
    server = server_for({"op": "readMetadata", "kind": "request_limit", "times": None})
    org = emulator_org(server)
    with pytest.raises(RequestLimitExceeded, match="request limit"):
        read_live(org)
    assert server.faults.fired[0] == 1  # one refused call, no retry


def test_expired_session_is_renewed_once_by_logging_in_again(server_for):
    server = server_for({"op": "readMetadata", "kind": "invalid_session", "times": 1})
    org = emulator_org(server)
    live = read_live(org)
    assert len(live.apps) == 10
    assert org._relogged  # noqa: SLF001 - the one renewal happened


def test_session_expiring_again_after_renewal_stops(server_for):
    server = server_for({"op": "readMetadata", "kind": "invalid_session", "times": None})
    org = emulator_org(server)
    with pytest.raises(SessionExpired, match="again after logging in again"):
        read_live(org)


def test_pasted_token_that_expires_stops_with_a_clear_message(server_for, monkeypatch):
    server = server_for({"op": "readMetadata", "kind": "invalid_session", "times": None})
    monkeypatch.setenv("SF_ACCESS_TOKEN", server.access_token)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_cert_path)
    result = run("plan", "--instance-url", server.instance_url, "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "INVALID_SESSION_ID", "cannot be repeated")
    assert server.access_token not in result.output


@pytest.mark.parametrize("command", ["plan", "audit", "export"])
def test_a_reply_with_a_doctype_is_refused_naming_the_call(org_file, command):
    """Issue 16 item 3: SOAP forbids a DTD in a message; a reply declaring entities is hostile
    (`&xxe;` would read as empty), so it is refused whole, naming the call."""
    org = org_file(with_faults({"op": "readMetadata", "kind": "doctype", "times": None}))
    args = ["-d", SHIPPED_DESIRED] if command != "export" else []
    result = run(command, "-o", org.target, *args, *FAST)
    assert_clean_error(result, "readMetadata", "DOCTYPE")
    assert "truncated" not in result.stderr
    assert_no_report(result)


def test_apply_never_writes_back_a_value_read_through_an_entity(org_file, desired):
    """The read just before the write carries the DOCTYPE: nothing is written, the label that
    an entity emptied is not saved as ''."""
    policies = "Partner_Portal_oauthPlcy"
    org = org_file(
        with_faults(
            {"op": "readMetadata", "kind": "doctype", "match": policies, "after": 1, "times": None}
        )
    )
    path = desired(
        "version: 1\nbaseline: []\napps:\n  Partner_Portal:\n    policies:\n"
        "      session_timeout_minutes: 60\n"
    )
    result = run("apply", "-o", org.target, "-d", path, "--auto-approve", *FAST)
    assert result.exit_code == 1, result.output
    assert "DOCTYPE" in result.output, result.output
    stored = org.load()["metadata"][POLICIES][policies]
    assert stored["label"] == "Partner Portal OAuth policy"
    assert stored["sessionTimeoutInMinutes"] == 120
