"""SOAP login, OAuth token flows and REST query through the real simple-salesforce client."""

from __future__ import annotations

import json

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
)

from reconciler.emulator.certs import make_self_signed
from reconciler.emulator.demo_org import build_demo_org
from reconciler.emulator.server import EmulatorServer


def test_soap_login_success_then_query(server, session_factory):
    sf = Salesforce(
        username="admin@acme.example",
        password="demo-password",
        security_token="",
        version="63.0",
        session=session_factory(server, rewrite=True),
    )
    assert sf.sf_instance == f"127.0.0.1:{server.port}"
    assert sf.query("SELECT Id FROM Organization")["records"][0]["Id"] == server.state.org_id


def test_soap_login_failure(server, session_factory):
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(
            username="admin@acme.example",
            password="wrong",
            security_token="",
            version="63.0",
            session=session_factory(server, rewrite=True),
        )
    assert exc.value.code == "INVALID_LOGIN"
    assert "Invalid username, password" in exc.value.auth_message


def _install_jwt_cert(server, sf) -> str:
    key_pem, cert_pem = make_self_signed("test signer")
    api = sf.mdapi.ExtlClntAppGlobalOauthSettings
    rec = api.read("Reporting_JWT_glbloauth")
    rec.certificate = cert_pem
    api.update(rec)
    return key_pem


@pytest.mark.filterwarnings("ignore::UserWarning")  # the client's self-authorize hint
def test_jwt_bearer_login(server, sf, session_factory):
    key_pem = _install_jwt_cert(server, sf)
    ck = server.state.components("ExtlClntAppGlobalOauthSettings")["Reporting_JWT_glbloauth"][
        "consumerKey"
    ]
    jwt_sf = Salesforce(
        username="billing.integration@acme.example",  # pre-authorized via Billing_Integration
        consumer_key=ck,
        privatekey=key_pem,
        version="63.0",
        session=session_factory(server, rewrite=True),
    )
    records = jwt_sf.query("SELECT Username FROM User WHERE Username = 'admin@acme.example'")
    assert records["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(
            username="admin@acme.example",  # not in the policy's profiles/permission sets
            consumer_key=ck,
            privatekey=key_pem,
            version="63.0",
            session=session_factory(server, rewrite=True),
        )
    assert exc.value.code == "invalid_grant"
    assert exc.value.auth_message == "user hasn't approved this consumer"


@pytest.mark.filterwarnings("ignore::UserWarning")  # the client's self-authorize hint
def test_jwt_bearer_wrong_key_and_unknown_client(server, sf, session_factory):
    _install_jwt_cert(server, sf)
    other_key, _ = make_self_signed("someone else")
    ck = server.state.components("ExtlClntAppGlobalOauthSettings")["Reporting_JWT_glbloauth"][
        "consumerKey"
    ]
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(
            username="billing.integration@acme.example",
            consumer_key=ck,
            privatekey=other_key,
            version="63.0",
            session=session_factory(server, rewrite=True),
        )
    assert (exc.value.code, exc.value.auth_message) == ("invalid_grant", "invalid assertion")
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(
            username="billing.integration@acme.example",
            consumer_key="3MVG9nope",
            privatekey=other_key,
            version="63.0",
            session=session_factory(server, rewrite=True),
        )
    assert exc.value.code == "invalid_client_id"
    assert exc.value.auth_message == "client identifier invalid"


def test_jwt_bearer_audience_is_checked(server, sf, session_factory):
    """simple-salesforce signs for https://login.salesforce.com; an org that does not list that
    audience answers Salesforce's own error pair."""
    key_pem = _install_jwt_cert(server, sf)
    ck = server.state.components("ExtlClntAppGlobalOauthSettings")["Reporting_JWT_glbloauth"][
        "consumerKey"
    ]
    server.state.org["jwt_audiences"] = []
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(
            username="billing.integration@acme.example",
            consumer_key=ck,
            privatekey=key_pem,
            version="63.0",
            session=session_factory(server, rewrite=True),
        )
    assert (exc.value.code, exc.value.auth_message) == ("invalid_grant", "audience is invalid")


def test_client_credentials(server, session_factory):
    glbl = server.state.components("ExtlClntAppGlobalOauthSettings")
    billing = glbl["Billing_Sync_glbloauth"]
    sf = Salesforce(
        consumer_key=billing["consumerKey"],
        consumer_secret=billing["consumerSecret"],
        domain="acme.my",
        version="63.0",
        session=session_factory(server, rewrite=True),
    )
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1
    legacy = glbl["Legacy_Importer_glbloauth"]  # settings on, policy off, no run-as user
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        Salesforce(
            consumer_key=legacy["consumerKey"],
            consumer_secret=legacy["consumerSecret"],
            domain="acme.my",
            version="63.0",
            session=session_factory(server, rewrite=True),
        )
    assert (exc.value.code, exc.value.auth_message) == (
        "invalid_grant",
        "no client credentials user enabled",
    )


def test_rest_query_with_relationships(sf):
    res = sf.query(
        "SELECT Id, Username, IsActive, Profile.Name, Profile.PermissionsApiUserOnly "
        "FROM User WHERE Username IN ('billing.integration@acme.example', "
        "'former.integration@acme.example') ORDER BY Username"
    )
    assert res["totalSize"] == 2 and res["done"] is True
    first = res["records"][0]
    assert first["attributes"]["type"] == "User"
    assert first["Profile"]["attributes"]["type"] == "Profile"
    assert first["Profile"]["Name"] == "Integration API Only"
    assert first["Profile"]["PermissionsApiUserOnly"] is True
    assert res["records"][1]["IsActive"] is False
    psa = sf.query(
        "SELECT Assignee.Username, PermissionSet.Name, PermissionSet.PermissionsModifyAllData "
        "FROM PermissionSetAssignment WHERE PermissionSet.IsOwnedByProfile = false"
    )
    rows = {(r["Assignee"]["Username"], r["PermissionSet"]["Name"]) for r in psa["records"]}
    assert rows == {
        ("billing.integration@acme.example", "Billing_Integration"),
        ("support.agent@acme.example", "Data_Export_All"),
        ("support.agent@acme.example", "Any_API_Client"),  # the demo org's bypass (issue 18)
    }
    assert sf.api_usage  # Sforce-Limit-Info parsed


def test_rest_query_errors(sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Nope FROM User")
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Nothing")
    assert exc.value.content[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELEKT Id")
    assert exc.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_rest_paging_and_tooling(server, sf):
    users = server.state.doc["sobjects"]["User"]
    users.extend(
        {"Id": f"005{i:012d}ZZZ", "Username": f"u{i}@x", "IsActive": True} for i in range(2500)
    )
    first = sf.query("SELECT Id FROM User")
    assert first["done"] is False and first["nextRecordsUrl"].startswith("/services/data/v63.0/")
    assert len(sf.query_all("SELECT Id FROM User")["records"]) == 2505
    assert sf.toolingexecute("query/?q=SELECT+Id+FROM+Organization")["totalSize"] == 1


def test_rest_bad_token_401_json_list(server, session_factory, sf_factory):
    resp = session_factory(server).get(
        f"{server.instance_url}/services/data/v63.0/query/?q=SELECT+Id+FROM+User",
        headers={"Authorization": "Bearer nope", "Content-Type": "text/xml"},
    )
    assert resp.status_code == 401
    assert resp.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    with pytest.raises(SalesforceExpiredSession):
        sf_factory(server, token="bogus").query("SELECT Id FROM User")


def test_state_persisted_across_restart(tmp_path, sf_factory):
    path = tmp_path / "org.json"
    with EmulatorServer(path) as srv:
        sf = sf_factory(srv)
        api = sf.mdapi.ExtlClntAppOauthConfigurablePolicies
        rec = api.read("Partner_Portal_oauthPlcy")
        rec.sessionTimeoutInMinutes = 30
        api.update(rec)
    assert (
        json.loads(path.read_text())["metadata"]["ExtlClntAppOauthConfigurablePolicies"][
            "Partner_Portal_oauthPlcy"
        ]["sessionTimeoutInMinutes"]
        == 30
    )
    with EmulatorServer(path) as srv:
        rec = sf_factory(srv).mdapi.ExtlClntAppOauthConfigurablePolicies.read(
            "Partner_Portal_oauthPlcy"
        )
        assert rec.sessionTimeoutInMinutes == 30


def test_demo_org_secret_marker():
    doc = build_demo_org(secret_marker="SEKRIT-MARK")
    for fields in doc["metadata"]["ExtlClntAppGlobalOauthSettings"].values():
        assert "SEKRIT-MARK" in fields["consumerKey"]
        assert "SEKRIT-MARK" in fields["consumerSecret"]
        if "certificate" in fields:
            assert "SEKRIT-MARK" in fields["certificate"]
    assert len(doc["metadata"]["ExtlClntAppGlobalOauthSettings"]) == 10
