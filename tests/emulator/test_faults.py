"""`org.faults` and `org.latency_ms` seen on the wire with plain `requests`.

Each test sets rules on the shared server (counters are reset per test by the `server`
fixture) and checks what a client really receives: status, body shape, a closed connection,
and whether the call was processed.
"""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import requests

from reconciler.emulator import faults
from reconciler.emulator.demo_org import build_demo_org
from reconciler.emulator.faults import FaultRuleError
from reconciler.emulator.server import EmulatorServer

PLCY = "ExtlClntAppConfigurablePolicies"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MD = "{http://soap.sforce.com/2006/04/metadata}"
LOGIN_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:urn="urn:partner.soap.sforce.com">'
    "<soapenv:Body><urn:login><urn:username>admin@acme.example</urn:username>"
    "<urn:password>demo-password</urn:password></urn:login></soapenv:Body></soapenv:Envelope>"
)


# ------------------------------------------------------------------------------- helpers
def set_faults(server: EmulatorServer, *rules: dict[str, Any], latency_ms: int = 0) -> None:
    with server.state.lock:
        server.state.org["faults"] = list(rules)
        server.state.org["latency_ms"] = latency_ms
    server.faults.reset()


def fresh_token(server: EmulatorServer) -> str:
    """A token of its own, so revoking it cannot break the shared clients."""
    return server.sessions.mint(server.state.sobjects("User")[0]["Id"])


def read(server, soap, *names: str, token: str | None = None) -> requests.Response:
    inner = "".join(f"<fullNames>{n}</fullNames>" for n in names)
    return soap(server, f"<readMetadata><type>{PLCY}</type>{inner}</readMetadata>", token=token)


def update(server, soap, enabled: dict[str, bool]) -> requests.Response:
    comps = "".join(
        f'<metadata xsi:type="{PLCY}"><fullName>{name}</fullName>'
        f"<externalClientApplication>{name.removesuffix('_plcy')}</externalClientApplication>"
        f"<isEnabled>{str(on).lower()}</isEnabled></metadata>"
        for name, on in enabled.items()
    )
    return soap(server, f"<updateMetadata>{comps}</updateMetadata>")


def stored_enabled(server: EmulatorServer, name: str) -> bool:
    return bool(server.state.components(PLCY)[name]["isEnabled"])


def on_disk_enabled(server: EmulatorServer, name: str) -> bool:
    assert server.state.path is not None
    doc = json.loads(server.state.path.read_text(encoding="utf-8"))
    return bool(doc["metadata"][PLCY][name]["isEnabled"])


def query(
    server, session_factory, soql: str, token: str | None = None, **kwargs: Any
) -> requests.Response:
    return session_factory(server).get(
        f"{server.instance_url}/services/data/v63.0/query/",
        params={"q": soql},
        headers={"Authorization": f"Bearer {token or server.access_token}"},
        **kwargs,
    )


def login(server, session_factory) -> requests.Response:
    return session_factory(server).post(
        f"{server.instance_url}/services/Soap/u/63.0",
        data=LOGIN_ENVELOPE.encode(),
        headers={"Content-Type": "text/xml", "SOAPAction": "login"},
    )


def token_call(server, session_factory) -> requests.Response:
    return session_factory(server).post(
        f"{server.instance_url}/services/oauth2/token", data={"grant_type": "password"}
    )


def fault_code(resp: requests.Response) -> str:
    root = ET.fromstring(resp.content)
    code = next(e for e in root.iter() if e.tag == "faultcode")
    return code.text or ""


SOQL = "SELECT Id, Username FROM User"


# ------------------------------------------------------------------ replacing answers
def test_http_error_replaces_the_answer_once_and_skips_the_call(server, soap):
    page = "<html><body>Service Unavailable</body></html>"
    set_faults(
        server,
        {"op": "updateMetadata", "kind": "http_error", "status": 503, "body": page},
    )
    resp = update(server, soap, {"Billing_Sync_plcy": False})
    assert resp.status_code == 503
    assert resp.headers["Content-Type"] == "text/html"
    assert resp.text == page
    assert stored_enabled(server, "Billing_Sync_plcy")  # not processed
    again = update(server, soap, {"Billing_Sync_plcy": False})  # times defaults to 1
    assert again.status_code == 200
    assert not stored_enabled(server, "Billing_Sync_plcy")


def test_a_processed_http_error_saves_then_answers_with_the_page(server, soap):
    """`processed`: the org carries the call out, then a proxy's error page replaces the
    answer (a save that happened but is reported as a failure)."""
    page = "<html><body>Internal Server Error</body></html>"
    set_faults(
        server,
        {
            "op": "updateMetadata",
            "kind": "http_error",
            "status": 500,
            "body": page,
            "processed": True,
        },
    )
    resp = update(server, soap, {"Billing_Sync_plcy": False})
    assert resp.status_code == 500
    assert resp.text == page
    assert not stored_enabled(server, "Billing_Sync_plcy")  # processed


def test_processed_must_be_a_boolean():
    rule = {"op": "updateMetadata", "kind": "http_error", "processed": "yes"}
    with pytest.raises(FaultRuleError, match="processed"):
        faults.validate([rule])
    assert faults.validate([{**rule, "processed": True}])


def test_after_times_and_match_count_only_matching_calls(server, soap):
    set_faults(
        server,
        {
            "op": "readMetadata",
            "match": "Legacy",
            "after": 1,
            "times": 2,
            "kind": "soap_fault",
            "code": "UNABLE_TO_LOCK_ROW",
            "message": "unable to obtain exclusive access to this record",
        },
    )
    sequence = ["Billing", "Legacy", "Legacy", "Billing", "Legacy", "Legacy"]
    statuses = [read(server, soap, f"{app}_plcy").status_code for app in sequence]
    assert statuses == [200, 200, 500, 200, 500, 200]
    assert server.faults.fired[0] == 2
    set_faults(server, {"op": "readMetadata", "kind": "soap_fault", "code": "UNABLE_TO_LOCK_ROW"})
    resp = read(server, soap, "Billing_Sync_plcy")
    assert fault_code(resp) == "sf:UNABLE_TO_LOCK_ROW"
    assert "<faultstring>UNABLE_TO_LOCK_ROW: " in resp.text


def test_times_null_fires_on_every_call_and_op_filters(server, soap, session_factory):
    set_faults(
        server,
        {
            "op": "query",
            "times": None,
            "kind": "rest_error",
            "status": 403,
            "errorCode": "INSUFFICIENT_ACCESS",
            "message": "no access",
        },
    )
    for _ in range(3):
        resp = query(server, session_factory, SOQL)
        assert resp.status_code == 403
        assert resp.json() == [{"message": "no access", "errorCode": "INSUFFICIENT_ACCESS"}]
    assert read(server, soap, "Billing_Sync_plcy").status_code == 200  # other op untouched


def test_match_on_soql_text(server, session_factory):
    set_faults(server, {"op": "query", "match": "FROM Profile", "kind": "request_limit"})
    assert query(server, session_factory, SOQL).status_code == 200
    resp = query(server, session_factory, "SELECT Id FROM Profile")
    assert resp.status_code == 403
    assert resp.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_star_hits_every_kind_of_call_in_its_own_protocol(server, soap, session_factory):
    set_faults(server, {"op": "*", "times": None, "kind": "request_limit"})
    md = read(server, soap, "Billing_Sync_plcy")
    assert md.status_code == 500
    assert fault_code(md) == "sf:REQUEST_LIMIT_EXCEEDED"
    lg = login(server, session_factory)
    assert lg.status_code == 500
    assert fault_code(lg) == "sf:REQUEST_LIMIT_EXCEEDED"
    assert 'xmlns:sf="urn:fault.partner.soap.sforce.com"' in lg.text
    for resp in (query(server, session_factory, SOQL), token_call(server, session_factory)):
        assert resp.status_code == 403
        assert resp.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert server.faults.fired[0] == 4


def test_first_due_rule_answers_and_every_matching_rule_counts(server, session_factory):
    set_faults(
        server,
        {"op": "*", "kind": "http_error", "status": 502},
        {"op": "query", "kind": "http_error", "status": 504},
    )
    assert query(server, session_factory, SOQL).status_code == 502
    # rule 1 saw (and spent its one call on) the call rule 0 answered
    assert query(server, session_factory, SOQL).status_code == 200
    assert dict(server.faults.fired) == {0: 1}


def test_login_and_token_faults_fire_only_on_their_op(server, session_factory):
    set_faults(
        server,
        {"op": "login", "kind": "http_error", "status": 502, "body": "bad gateway"},
        {"op": "token", "kind": "http_error", "status": 504, "body": "gateway timeout"},
    )
    assert token_call(server, session_factory).status_code == 504
    assert login(server, session_factory).status_code == 502
    assert login(server, session_factory).status_code == 200
    assert token_call(server, session_factory).status_code == 400  # real: unsupported grant


def test_invalid_session_revokes_the_token_until_a_new_login(server, soap, session_factory):
    token = fresh_token(server)
    set_faults(server, {"op": "readMetadata", "kind": "invalid_session"})
    resp = read(server, soap, "Billing_Sync_plcy", token=token)
    assert resp.status_code == 500
    assert fault_code(resp) == "sf:INVALID_SESSION_ID"
    # the rule is spent, yet the token stays dead for SOAP and REST
    assert fault_code(read(server, soap, "Billing_Sync_plcy", token=token)).endswith(
        "INVALID_SESSION_ID"
    )
    assert query(server, session_factory, SOQL, token=token).status_code == 401
    new = login(server, session_factory)
    root = ET.fromstring(new.content)
    session_id = next(e.text for e in root.iter() if e.tag.endswith("sessionId"))
    assert session_id and session_id != token
    assert read(server, soap, "Billing_Sync_plcy", token=session_id).status_code == 200


def test_invalid_session_on_query_is_a_rest_401(server, soap, session_factory):
    token = fresh_token(server)
    set_faults(server, {"op": "query", "kind": "invalid_session"})
    resp = query(server, session_factory, SOQL, token=token)
    assert resp.status_code == 401
    assert resp.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert read(server, soap, "Billing_Sync_plcy", token=token).status_code == 500


# ------------------------------------------------------------- per-component faults
def test_save_error_fails_only_matching_components(server, soap):
    set_faults(
        server,
        {
            "op": "updateMetadata",
            "match": "Legacy",
            "kind": "save_error",
            "statusCode": "UNABLE_TO_LOCK_ROW",
            "message": "unable to obtain exclusive access to this record",
        },
    )
    resp = update(server, soap, {"Billing_Sync_plcy": False, "Legacy_Importer_plcy": False})
    assert resp.status_code == 200
    results = {
        r.find(f"{MD}fullName").text: r for r in ET.fromstring(resp.content).iter(f"{MD}result")
    }
    assert results["Billing_Sync_plcy"].find(f"{MD}success").text == "true"
    legacy = results["Legacy_Importer_plcy"]
    assert legacy.find(f"{MD}success").text == "false"
    assert legacy.find(f"{MD}errors/{MD}statusCode").text == "UNABLE_TO_LOCK_ROW"
    assert "exclusive access" in legacy.find(f"{MD}errors/{MD}message").text
    assert not stored_enabled(server, "Billing_Sync_plcy")
    assert stored_enabled(server, "Legacy_Importer_plcy")


def test_nil_record_only_for_matching_names(server, soap):
    set_faults(server, {"op": "readMetadata", "match": "Legacy", "kind": "nil_record"})
    resp = read(server, soap, "Billing_Sync_plcy", "Legacy_Importer_plcy")
    assert resp.status_code == 200
    billing, legacy = ET.fromstring(resp.content).iter(f"{MD}records")
    assert billing.find(f"{MD}fullName").text == "Billing_Sync_plcy"
    assert legacy.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    assert len(legacy) == 0


# --------------------------------------------------------------- closed connections
def test_reset_closes_without_answer_and_does_not_process(server, soap):
    set_faults(server, {"op": "updateMetadata", "kind": "reset"})
    with pytest.raises(requests.exceptions.ConnectionError):
        update(server, soap, {"Billing_Sync_plcy": False})
    assert stored_enabled(server, "Billing_Sync_plcy")
    assert on_disk_enabled(server, "Billing_Sync_plcy")
    assert update(server, soap, {"Billing_Sync_plcy": False}).status_code == 200


def test_lost_response_applies_and_saves_the_write(server, soap):
    set_faults(server, {"op": "updateMetadata", "match": "Billing", "kind": "lost_response"})
    with pytest.raises(requests.exceptions.ConnectionError):
        update(server, soap, {"Billing_Sync_plcy": False})
    assert not stored_enabled(server, "Billing_Sync_plcy")
    assert not on_disk_enabled(server, "Billing_Sync_plcy")


def test_hang_times_the_client_out_or_closes_without_answer(server, soap, session_factory):
    set_faults(server, {"op": "query", "kind": "hang", "seconds": 3})
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        query(server, session_factory, SOQL, timeout=0.3)
    assert time.monotonic() - start < 2
    set_faults(server, {"op": "query", "kind": "hang", "seconds": 0.3})
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError) as exc:
        query(server, session_factory, SOQL, timeout=10)
    assert not isinstance(exc.value, requests.exceptions.ReadTimeout)
    assert time.monotonic() - start >= 0.3


# -------------------------------------------------------------------- damaged answers
def test_truncate_sends_half_the_real_body_with_matching_length(server, soap, session_factory):
    whole = read(server, soap, "Billing_Sync_plcy").content
    set_faults(server, {"op": "readMetadata", "kind": "truncate"})
    resp = read(server, soap, "Billing_Sync_plcy")
    assert resp.status_code == 200
    assert resp.content == whole[: len(whole) // 2]
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    with pytest.raises(ET.ParseError):
        ET.fromstring(resp.content)
    set_faults(server, {"op": "query", "kind": "truncate"})
    with pytest.raises(ValueError):
        query(server, session_factory, SOQL).json()


def test_malformed_garbles_one_closing_tag(server, soap, session_factory):
    whole = read(server, soap, "Billing_Sync_plcy").content
    ET.fromstring(whole)
    set_faults(server, {"op": "readMetadata", "kind": "malformed"})
    resp = read(server, soap, "Billing_Sync_plcy")
    assert resp.status_code == 200
    assert len(resp.content) == len(whole) + len("_garbled")
    assert resp.content.count(b"</") == whole.count(b"</")
    with pytest.raises(ET.ParseError, match="mismatched tag"):
        ET.fromstring(resp.content)
    set_faults(server, {"op": "query", "kind": "malformed"})
    with pytest.raises(ValueError):
        query(server, session_factory, SOQL).json()


def test_oversize_pads_the_real_body_past_the_limit(server, soap):
    whole = read(server, soap, "Billing_Sync_plcy").content
    set_faults(server, {"op": "readMetadata", "kind": "oversize", "bytes": 1_000_000})
    resp = read(server, soap, "Billing_Sync_plcy")
    assert len(resp.content) > 1_000_000
    assert resp.content.rstrip() == whole
    ET.fromstring(resp.content)  # still a valid document, only too big


def test_oversize_default_is_past_50_mib_and_survives_a_client_that_hangs_up(
    server, soap, session_factory
):
    set_faults(server, {"op": "readMetadata", "kind": "oversize"})
    envelope = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
        'xmlns="http://soap.sforce.com/2006/04/metadata"><soapenv:Header><SessionHeader>'
        f"<sessionId>{server.access_token}</sessionId></SessionHeader></soapenv:Header>"
        f"<soapenv:Body><readMetadata><type>{PLCY}</type><fullNames>Billing_Sync_plcy"
        "</fullNames></readMetadata></soapenv:Body></soapenv:Envelope>"
    )
    resp = session_factory(server).post(
        f"{server.instance_url}/services/Soap/m/63.0", data=envelope.encode(), stream=True
    )
    assert int(resp.headers["Content-Length"]) > 52_428_800
    resp.close()  # give up without reading 50 MiB
    assert read(server, soap, "Billing_Sync_plcy").status_code == 200


# ------------------------------------------------------------------------- redirects
def test_redirect_points_at_localhost_and_counts_followers(server, soap, session_factory):
    set_faults(server, {"op": "query", "times": None, "kind": "redirect"})
    resp = query(server, session_factory, SOQL, allow_redirects=False)
    assert resp.status_code == 307
    assert resp.headers["Location"] == f"https://localhost:{server.port}/followed-redirect"
    assert server.redirects_followed == 0
    followed = query(server, session_factory, SOQL)  # requests follows by default
    assert followed.status_code == 404
    assert followed.history[0].status_code == 307
    assert server.redirects_followed == 1
    set_faults(server, {"op": "readMetadata", "kind": "redirect"})
    assert read(server, soap, "Billing_Sync_plcy").status_code == 404  # 307 re-POSTs
    assert server.redirects_followed == 2


# --------------------------------------------------------------------------- latency
def test_latency_rule_delays_then_answers_normally(server, soap):
    set_faults(server, {"op": "readMetadata", "kind": "latency", "seconds": 0.4})
    start = time.monotonic()
    resp = read(server, soap, "Billing_Sync_plcy")
    elapsed = time.monotonic() - start
    assert resp.status_code == 200 and "<records" in resp.text
    assert 0.4 <= elapsed < 2.4
    start = time.monotonic()
    read(server, soap, "Billing_Sync_plcy")  # rule spent
    assert time.monotonic() - start < 0.4


def test_latency_composes_with_a_fault(server, session_factory):
    set_faults(
        server,
        {"op": "query", "kind": "latency", "seconds": 0.3},
        {"op": "query", "kind": "http_error", "status": 503},
    )
    start = time.monotonic()
    assert query(server, session_factory, SOQL).status_code == 503
    assert time.monotonic() - start >= 0.3


def test_latency_ms_is_added_to_every_request(server, soap, session_factory):
    set_faults(server, latency_ms=300)
    for call in (
        lambda: read(server, soap, "Billing_Sync_plcy"),
        lambda: query(server, session_factory, SOQL),
    ):
        start = time.monotonic()
        assert call().status_code == 200
        assert 0.3 <= time.monotonic() - start < 2.3


# ------------------------------------------------------------------- rule validation
@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"op": "x"}, "org.faults must be a list"),
        ([{"op": "query", "kind": "explode"}], r"org.faults\[0\].kind must be one of"),
        ([{"op": "updatemetadata", "kind": "reset"}], r"org.faults\[0\].op must be one of"),
        ([{"op": "query", "kind": "hang", "secs": 3}], "unknown key 'secs' for kind 'hang'"),
        ([{"op": "query", "kind": "reset", "times": -1}], r"org.faults\[0\].times has an"),
        ([{"op": "query", "kind": "reset", "after": True}], r"org.faults\[0\].after has an"),
    ],
)
def test_bad_rules_are_named(rules, message):
    with pytest.raises(FaultRuleError, match=message):
        faults.validate(rules)


def test_bad_rule_fails_at_start_and_at_runtime(tmp_path, server, soap):
    doc = build_demo_org()
    doc["org"]["faults"] = [{"op": "query", "kind": "explode"}]
    path = tmp_path / "org.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(FaultRuleError, match="explode"):
        EmulatorServer(path)
    doc["org"]["faults"] = []
    doc["org"]["latency_ms"] = "slow"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(FaultRuleError, match="org.latency_ms must be a number"):
        EmulatorServer(path)
    set_faults(server, {"op": "readMetadata", "kind": "reset", "seconds": 1})
    resp = read(server, soap, "Billing_Sync_plcy")
    assert resp.status_code == 500
    assert "org.faults[0]: unknown key 'seconds'" in resp.text


# ------------------------------------------------------------------------------ stop
def test_stop_is_prompt_even_with_a_hanging_call(tmp_path):
    doc = build_demo_org()
    doc["org"]["faults"] = [{"op": "query", "kind": "hang", "seconds": 60}]
    path = tmp_path / "org.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    srv = EmulatorServer(path).start()
    outcome: list[BaseException] = []

    def call() -> None:
        session = requests.Session()
        session.verify = srv.ca_cert_path
        session.trust_env = False
        try:
            session.get(
                f"{srv.instance_url}/services/data/v63.0/query/",
                params={"q": SOQL},
                headers={"Authorization": f"Bearer {srv.access_token}"},
                timeout=30,
            )
        except requests.RequestException as exc:
            outcome.append(exc)

    before = set(threading.enumerate())
    client = threading.Thread(target=call)
    client.start()
    deadline = time.monotonic() + 5
    while srv.faults.fired[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.faults.fired[0] == 1
    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 0.3
    client.join(timeout=3)
    assert not client.is_alive()  # the hanging call was dropped, not left for 60 s
    assert isinstance(outcome[0], requests.exceptions.ConnectionError)
    deadline = time.monotonic() + 2
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - before  # the sleeping handler woke and ended


def test_stop_is_prompt_with_an_idle_keep_alive_connection(tmp_path):
    before = set(threading.enumerate())
    srv = EmulatorServer(tmp_path / "org.json").start()
    session = requests.Session()
    session.verify = srv.ca_cert_path
    session.trust_env = False
    url = f"{srv.instance_url}/services/data/v63.0/query/"
    headers = {"Authorization": f"Bearer {srv.access_token}"}
    assert session.get(url, params={"q": SOQL}, headers=headers).status_code == 200
    start = time.monotonic()  # the pooled connection is still open: its handler waits in read
    srv.stop()
    assert time.monotonic() - start < 0.3
    deadline = time.monotonic() + 2
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - before  # stop() closed the idle connection
    session.close()


def test_state_is_saved_through_write_atomic(tmp_path, monkeypatch):
    from reconciler.emulator import state as state_module

    written: list[str] = []
    real = state_module.write_atomic

    def spy(path, data, **kw):  # type: ignore[no-untyped-def]
        written.append(str(path))
        return real(path, data, **kw)

    monkeypatch.setattr(state_module, "write_atomic", spy)
    path = tmp_path / "org.json"
    state = state_module.OrgState.load(path)
    with state.transaction() as doc:
        doc["org"]["name"] = "Renamed"
    assert written == [str(path), str(path)]
    assert json.loads(path.read_text())["org"]["name"] == "Renamed"
    assert [p.name for p in tmp_path.iterdir()] == ["org.json"]
