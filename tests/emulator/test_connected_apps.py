"""Connected Apps on the emulator's wire: listMetadata / readMetadata / updateMetadata of
`ConnectedApp` through the real simple-salesforce/zeep client, and the client-credentials token
flow for them recording LoginHistory (ECA reference §14, §15)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.emulator.demo_org import CONNECTED_APPS

TYPE = "ConnectedApp"


def _stored(server, name: str) -> dict[str, Any]:
    return dict(server.state.components(TYPE)[name]["oauthConfig"])


def _token(server, session_factory, name: str, secret: str | None = None):
    oauth = _stored(server, name)
    data = {
        "grant_type": "client_credentials",
        "client_id": oauth["consumerKey"],
        "client_secret": oauth["consumerSecret"] if secret is None else secret,
    }
    return session_factory(server).post(f"{server.instance_url}/services/oauth2/token", data=data)


def test_list_names_every_connected_app_with_its_source_file(sf):
    listed = sf.mdapi.list_metadata([sf.mdapi.ListMetadataQuery(type=TYPE)])
    assert sorted(r.fullName for r in listed) == sorted(CONNECTED_APPS)
    files = {r.fullName: r.fileName for r in listed}
    assert files["Legacy_CRM_Sync"] == "connectedApps/Legacy_CRM_Sync.connectedApp"


def test_read_returns_oauth_config_and_policy_as_sub_objects(sf):
    rec = sf.mdapi.ConnectedApp.read("Legacy_CRM_Sync")
    assert rec.oauthConfig.isClientCredentialEnabled is True
    assert rec.oauthConfig.oauthClientCredentialUser == "admin@acme.example"
    assert rec.oauthConfig.consumerKey.startswith("3MVG9")
    assert rec.oauthPolicy.ipRelaxation == "BYPASS"
    assert rec.label == "Legacy CRM Sync"


def test_update_is_read_modify_write_and_keeps_omitted_secrets(sf, server):
    api = sf.mdapi.ConnectedApp
    before = _stored(server, "Legacy_CRM_Sync")
    rec = api.read("Legacy_CRM_Sync")
    rec.oauthConfig.isClientCredentialEnabled = False
    rec.oauthConfig.consumerSecret = None  # as a read with secret access off would give it
    api.update(rec)
    after = api.read("Legacy_CRM_Sync")
    assert after.oauthConfig.isClientCredentialEnabled is False
    assert after.oauthConfig.callbackUrl == before["callbackUrl"]
    assert after.oauthPolicy.refreshTokenPolicy == "infinite"
    assert _stored(server, "Legacy_CRM_Sync")["consumerSecret"] == before["consumerSecret"]


def test_changed_secret_and_inactive_run_as_are_refused(sf):
    api = sf.mdapi.ConnectedApp
    rec = api.read("Warehouse_Loader")
    rec.oauthConfig.consumerSecret = "attacker-chosen"
    with pytest.raises(Exception, match="consumerSecret can't be changed"):
        api.update(rec)
    rec = api.read("Warehouse_Loader")
    rec.oauthConfig.oauthClientCredentialUser = "former.integration@acme.example"
    with pytest.raises(Exception, match="Enter a valid execution user"):
        api.update(rec)


def test_a_new_connected_app_cannot_be_created(sf):
    new = sf.mdapi.ConnectedApp(fullName="Brand_New", label="Brand New", contactEmail="a@b.c")
    with pytest.raises(Exception, match="can no longer be created"):
        sf.mdapi.ConnectedApp.create(new)


def test_secret_access_off_leaves_the_secret_out_of_reads(sf, server):
    with server.state.lock:
        server.state.doc["org"]["consumer_secret_api_access"] = False
    rec = sf.mdapi.ConnectedApp.read("Warehouse_Loader")
    assert rec.oauthConfig.consumerSecret is None
    assert rec.oauthConfig.consumerKey == _stored(server, "Warehouse_Loader")["consumerKey"]


def test_client_credentials_token_logs_in_the_execution_user(server, session_factory):
    before = len(server.state.sobjects("LoginHistory"))
    resp = _token(server, session_factory, "Legacy_CRM_Sync")
    assert resp.status_code == 200, resp.text
    [row] = server.state.sobjects("LoginHistory")[before:]
    admin = server.state.find_user("admin@acme.example")
    assert admin is not None
    assert (row["UserId"], row["Application"], row["Status"]) == (
        admin["Id"],
        "Legacy_CRM_Sync",
        "Success",
    )
    assert row["LoginSubType"] == "OauthClientCredentials"


def test_token_refused_when_the_flow_is_off_or_the_secret_wrong(server, session_factory):
    before = len(server.state.sobjects("LoginHistory"))
    off = _token(server, session_factory, "Field_Survey_Mobile")
    assert off.status_code == 400 and off.json()["error"] == "invalid_grant"
    wrong = _token(server, session_factory, "Warehouse_Loader", secret="guessed")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"
    rows = server.state.sobjects("LoginHistory")[before:]
    # No execution user, no row (as for ECAs); the wrong secret is a failed login of the user.
    assert [(r["Application"], r["Status"]) for r in rows] == [
        ("Warehouse_Loader", "Invalid client credentials")
    ]


def test_demo_login_history_shows_both_connected_apps_in_use(server):
    apps = {r["Application"] for r in server.state.sobjects("LoginHistory")}
    assert {"Legacy_CRM_Sync", "Warehouse_Loader"} <= apps
    assert "Field_Survey_Mobile" not in apps
