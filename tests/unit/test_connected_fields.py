"""Connected App fields (issue 18): nested wire names, and secrets nested in oauthConfig never
shown, backed up or left unregistered."""

from __future__ import annotations

from reconciler import fields as F
from reconciler.model import Component, LiveApp

FIELDS = {
    "label": "Legacy CRM Sync",
    "oauthConfig": {
        "callbackUrl": "https://x.example/cb",
        "consumerKey": "3MVG9-key-SEKRET",
        "consumerSecret": "secret-SEKRET",
        "certificate": "cert-SEKRET",
        "isClientCredentialEnabled": True,
        "oauthClientCredentialUser": "admin@acme.example",
    },
    "oauthPolicy": {"ipRelaxation": "BYPASS", "refreshTokenPolicy": "infinite"},
}


def test_every_connected_wire_name_is_in_the_wsdl_types():
    from reconciler.wsdl_schema import load_schema

    schema = load_schema()
    types = {"oauthConfig": "ConnectedAppOauthConfig", "oauthPolicy": "ConnectedAppOauthPolicy"}
    for spec in F.CONNECTED_CATALOGUE:
        parent, child = spec.wire.split(".")
        assert child in {f.name for f in schema.complex(types[parent]).fields}, spec.wire


def test_values_decode_from_the_sub_objects():
    app = LiveApp(
        F.connected_key("Legacy_CRM_Sync"), connected=Component("ConnectedApp", "L", FIELDS)
    )
    values = app.values()
    assert values["connected.client_credentials"] is True
    assert values["connected.run_as"] == "admin@acme.example"
    assert values["connected.ip_relaxation"] == "BYPASS"
    assert values["connected.pkce_required"] is None  # not returned: unset, never guessed
    assert app.certificate is True


def test_nested_secrets_are_masked_stripped_and_collected():
    comp = Component("ConnectedApp", "Legacy_CRM_Sync", FIELDS)
    assert "SEKRET" not in repr(comp) and "SEKRET" not in str(comp)
    assert "SEKRET" not in str(F.without_secrets(FIELDS))
    assert sorted(F.secret_values(FIELDS)) == sorted(
        ["3MVG9-key-SEKRET", "secret-SEKRET", "cert-SEKRET"]
    )


def test_wire_set_writes_inside_the_sub_object():
    fields = {"oauthConfig": {"isClientCredentialEnabled": True}}
    F.wire_set(fields, "oauthConfig.isClientCredentialEnabled", False)
    F.wire_set(fields, "oauthPolicy.ipRelaxation", "ENFORCE")
    assert fields == {
        "oauthConfig": {"isClientCredentialEnabled": False},
        "oauthPolicy": {"ipRelaxation": "ENFORCE"},
    }


def test_verification_names_a_regenerated_nested_secret_without_its_value():
    """Write-back design (issue 18): a read may not return consumerSecret, so a write cannot
    carry it; if the org regenerated the credentials on such a write, verification must say
    so (by name, never by value) instead of calling the write clean."""
    from reconciler.applying import unexpected_changes

    sent = {"oauthConfig": {"consumerKey": "old-key", "isPkceRequired": True}, "label": "L"}
    now = {"oauthConfig": {"consumerKey": "new-key", "isPkceRequired": False}, "label": "L"}
    moved = unexpected_changes(sent, now, ignore={"oauthConfig.isPkceRequired"})
    assert moved == ["oauthConfig.consumerKey (secret; value not shown)"]
