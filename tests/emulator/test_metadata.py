"""Metadata API through the real simple-salesforce/zeep client."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import zeep.exceptions

from reconciler.emulator.wsdl_schema import load_schema

MD = "{http://soap.sforce.com/2006/04/metadata}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
POLICY = "ExtlClntAppOauthConfigurablePolicies"
GLOBAL = "ExtlClntAppGlobalOauthSettings"


def test_list_metadata_flat_list_with_file_names(sf):
    q = sf.mdapi.ListMetadataQuery
    result = sf.mdapi.list_metadata(
        [q(type="ExternalClientApplication"), q(type=GLOBAL), q(type=POLICY)]
    )
    assert len(result) == 30
    by_name = {(r.type, r.fullName): r for r in result}
    billing = by_name[(GLOBAL, "Billing_Sync_glbloauth")]
    assert billing.fileName == "extlClntAppGlobalOauthSets/Billing_Sync_glbloauth.ecaGlblOauth"
    assert billing.manageableState == "unmanaged"
    assert by_name[("ExternalClientApplication", "Billing_Sync")].fileName == (
        "externalClientApps/Billing_Sync.eca"
    )


def test_list_metadata_empty_and_too_many_queries(sf):
    q = sf.mdapi.ListMetadataQuery
    assert sf.mdapi.list_metadata([q(type="ApexClass")]) == []
    with pytest.raises(zeep.exceptions.Fault):
        sf.mdapi.list_metadata([q(type=POLICY)] * 4)


def test_read_returns_typed_record_and_nil_for_unknown(sf):
    records = sf.mdapi.ExtlClntAppOauthConfigurablePolicies.read(
        ["Billing_Sync_oauthPlcy", "No_Such_Policy"]
    )
    assert records[0].fullName == "Billing_Sync_oauthPlcy"
    assert records[0].clientCredentialsFlowUser == "billing.integration@acme.example"
    assert records[0].refreshTokenValidityPeriod == 30
    assert records[0].customAttributes[0].key == "department"
    assert records[1].fullName is None


def test_read_wire_has_xsi_type_and_wsdl_field_order(server, soap):
    resp = soap(
        server,
        f"<readMetadata><type>{GLOBAL}</type><fullNames>Partner_PortalGlblOAuth</fullNames>"
        "<fullNames>Missing</fullNames></readMetadata>",
    )
    assert resp.status_code == 200
    assert 'xmlns="http://soap.sforce.com/2006/04/metadata"' in resp.text
    root = ET.fromstring(resp.content)
    found, nil = root.iter(f"{MD}records")
    assert found.get(f"{XSI}type") == GLOBAL
    assert nil.get(f"{XSI}nil") == "true"
    names = [c.tag.removeprefix(MD) for c in found]
    wsdl_order = [f.name for f in load_schema().complex(GLOBAL).fields]
    assert names[0] == "fullName"
    assert names == [n for n in wsdl_order if n in names]
    assert found.find(f"{MD}isTokenExchangeEnabled").text == "true"
    assert "\n" in found.find(f"{MD}callbackUrl").text


def test_read_more_than_ten_is_a_fault(sf):
    with pytest.raises(zeep.exceptions.Fault) as exc:
        sf.mdapi.ExtlClntAppOauthConfigurablePolicies.read([f"P{i}" for i in range(11)])
    assert exc.value.code.endswith("EXCEEDED_ID_LIMIT")
    assert exc.value.message == (
        "EXCEEDED_ID_LIMIT: record limit reached. cannot submit more than 10 records in this "
        "operation"
    )


def test_update_read_modify_write_round_trip(sf):
    api = sf.mdapi.ExtlClntAppOauthConfigurablePolicies
    rec = api.read("Billing_Sync_oauthPlcy")
    rec.refreshTokenValidityPeriod = 45
    rec.ipRelaxationPolicyType = "Bypass"
    api.update(rec)
    again = api.read("Billing_Sync_oauthPlcy")
    assert again.refreshTokenValidityPeriod == 45
    assert again.ipRelaxationPolicyType == "Bypass"
    # fields the client did not touch survive because they were sent back
    assert again.customAttributes[0].key == "department"
    assert again.label == "Billing Sync OAuth policy"


def test_update_omitting_fields_resets_them(sf):
    api = sf.mdapi.ExtlClntAppOauthConfigurablePolicies
    api.update(
        sf.mdapi.ExtlClntAppOauthConfigurablePolicies(
            fullName="Billing_Sync_oauthPlcy", externalClientApplication="Billing_Sync"
        )
    )
    rec = api.read("Billing_Sync_oauthPlcy")
    assert rec.commaSeparatedPermissionSet is None
    assert rec.clientCredentialsFlowUser is None
    assert rec.isClientCredentialsFlowEnabled is False  # documented default
    glbl = sf.mdapi.ExtlClntAppGlobalOauthSettings
    rec = glbl.read("Billing_Sync_glbloauth")
    rec.isPkceRequired = False
    glbl.update(rec)
    assert glbl.read("Billing_Sync_glbloauth").isPkceRequired is False
    rec.isPkceRequired = True
    glbl.update(rec)
    assert glbl.read("Billing_Sync_glbloauth").isPkceRequired is True
    rec.isPkceRequired = None  # omitted on the wire → false, as a deploy omitting it (§13a)
    glbl.update(rec)
    assert glbl.read("Billing_Sync_glbloauth").isPkceRequired is False


def test_secret_change_refused_and_omitted_secret_kept(sf):
    glbl = sf.mdapi.ExtlClntAppGlobalOauthSettings
    rec = glbl.read("Billing_Sync_glbloauth")
    original = rec.consumerSecret
    rec.consumerSecret = "attacker-chosen"
    with pytest.raises(Exception, match="FIELD_INTEGRITY_EXCEPTION, consumerSecret can't be"):
        glbl.update(rec)
    rec.consumerSecret = None
    rec.consumerKey = None
    glbl.update(rec)
    assert glbl.read("Billing_Sync_glbloauth").consumerSecret == original


def test_rotate_secret_regenerates(sf):
    glbl = sf.mdapi.ExtlClntAppGlobalOauthSettings
    rec = glbl.read("Legacy_Importer_glbloauth")
    old_key, old_secret = rec.consumerKey, rec.consumerSecret
    rec.shouldRotateConsumerSecret = True
    glbl.update(rec)
    after = glbl.read("Legacy_Importer_glbloauth")
    assert after.consumerSecret != old_secret
    assert after.consumerKey == old_key
    assert after.shouldRotateConsumerSecret is False


def test_run_as_user_validation(sf):
    api = sf.mdapi.ExtlClntAppOauthConfigurablePolicies
    rec = api.read("Data_Warehouse_ETL_oauth_defaultPolicy")
    rec.clientCredentialsFlowUser = "former.integration@acme.example"  # inactive
    with pytest.raises(Exception) as exc:
        api.update(rec)
    assert (
        "Data_Warehouse_ETL_oauth_defaultPolicy: (FIELD_INTEGRITY_EXCEPTION, "
        "Enter a valid execution user for the OAuth client credentials flow.)"
    ) in str(exc.value)
    assert api.read(rec.fullName).clientCredentialsFlowUser == "etl.admin@acme.example"


def test_bad_picklist_and_unknown_parent(sf):
    api = sf.mdapi.ExtlClntAppOauthConfigurablePolicies
    rec = api.read("Legacy_Importer_oauthPlcy")
    rec.refreshTokenValidityUnit = "Weeks"
    with pytest.raises(Exception, match="FIELD_INTEGRITY_EXCEPTION"):
        api.update(rec)
    with pytest.raises(Exception, match="INVALID_CROSS_REFERENCE_KEY"):
        api.create(
            sf.mdapi.ExtlClntAppOauthConfigurablePolicies(
                fullName="Ghost_oauthPlcy", externalClientApplication="Ghost"
            )
        )


def test_create_duplicate_update_missing_and_delete(sf):
    api = sf.mdapi.ExtlClntAppConfigurablePolicies
    new = sf.mdapi.ExtlClntAppConfigurablePolicies(
        fullName="Billing_Sync_plcy2", externalClientApplication="Billing_Sync", isEnabled=True
    )
    api.create(new)
    with pytest.raises(Exception, match="DUPLICATE_VALUE"):
        api.create(new)
    missing = sf.mdapi.ExtlClntAppConfigurablePolicies(
        fullName="Nope_plcy", externalClientApplication="Billing_Sync", isEnabled=True
    )
    with pytest.raises(Exception, match="INVALID_CROSS_REFERENCE_KEY, In field: fullName"):
        api.update(missing)
    api.delete("Billing_Sync_plcy2")
    assert api.read("Billing_Sync_plcy2").fullName is None


def test_failure_injection_partial_save(server, sf):
    server.state.org["fail_updates"] = {
        "Legacy_Importer_oauthPlcy": {"statusCode": "UNKNOWN_EXCEPTION", "message": "boom"}
    }
    api = sf.mdapi.ExtlClntAppOauthConfigurablePolicies
    a, b = api.read(["Mobile_Field_Service_oauthPlcy", "Legacy_Importer_oauthPlcy"])
    a.sessionTimeoutInMinutes = 15
    b.sessionTimeoutInMinutes = 15
    with pytest.raises(Exception) as exc:
        api.update([a, b])
    assert "Legacy_Importer_oauthPlcy: (UNKNOWN_EXCEPTION, boom)" in str(exc.value)
    assert "Mobile_Field_Service" not in str(exc.value)
    assert api.read(a.fullName).sessionTimeoutInMinutes == 15
    assert api.read(b.fullName).sessionTimeoutInMinutes is None


def test_all_or_none_with_unprefixed_xsi_type(server, soap):
    ok = (
        '<metadata xsi:type="ExtlClntAppConfigurablePolicies"><fullName>Billing_Sync_plcy'
        "</fullName><externalClientApplication>Billing_Sync</externalClientApplication>"
        "<isEnabled>false</isEnabled></metadata>"
    )
    bad = ok.replace("Billing_Sync_plcy", "Missing_plcy")
    aon = "<AllOrNoneHeader><allOrNone>true</allOrNone></AllOrNoneHeader>"
    resp = soap(server, f"<updateMetadata>{ok}{bad}</updateMetadata>", header=aon)
    assert resp.status_code == 200
    assert resp.text.count("<success>false</success>") == 2
    assert "ALL_OR_NONE_OPERATION_ROLLED_BACK" in resp.text
    assert server.state.components("ExtlClntAppConfigurablePolicies")["Billing_Sync_plcy"][
        "isEnabled"
    ]
    resp = soap(server, f"<updateMetadata>{ok}{bad}</updateMetadata>")
    assert resp.text.count("<success>true</success>") == 1
    assert not server.state.components("ExtlClntAppConfigurablePolicies")["Billing_Sync_plcy"][
        "isEnabled"
    ]


def test_invalid_session_is_a_fault(server, sf_factory):
    sf = sf_factory(server, token="00D000000000001!AQbogus")
    with pytest.raises(zeep.exceptions.Fault) as exc:
        sf.mdapi.ExtlClntAppOauthConfigurablePolicies.read("Billing_Sync_oauthPlcy")
    assert exc.value.code.endswith("INVALID_SESSION_ID")
    assert exc.value.message.startswith("INVALID_SESSION_ID: Invalid Session ID")


def test_secrets_off_fault_mode(server, sf):
    server.state.org["consumer_secret_api_access"] = False
    server.state.org["secret_access_off_behaviour"] = "fault"  # the demo org's default is omit
    with pytest.raises(zeep.exceptions.Fault) as exc:
        sf.mdapi.ExtlClntAppGlobalOauthSettings.read("Billing_Sync_glbloauth")
    assert exc.value.code.endswith("INSUFFICIENT_ACCESS")
    assert exc.value.message.startswith("INSUFFICIENT_ACCESS: ")
    listed = sf.mdapi.list_metadata([sf.mdapi.ListMetadataQuery(type=GLOBAL)])
    assert len(listed) == 10


def test_secrets_off_omit_mode(server, sf):
    server.state.org["consumer_secret_api_access"] = False
    server.state.org["secret_access_off_behaviour"] = "omit"
    rec = sf.mdapi.ExtlClntAppGlobalOauthSettings.read("Billing_Sync_glbloauth")
    assert rec.consumerKey.startswith("3MVG9") and rec.consumerSecret is None  # eca doc §13a
    assert rec.callbackUrl == "https://billing.acme.example/oauth/callback"
    # writing the secret-less record back keeps the stored secrets
    sf.mdapi.ExtlClntAppGlobalOauthSettings.update(rec)
    stored = server.state.components(GLOBAL)["Billing_Sync_glbloauth"]
    assert stored["consumerSecret"] and stored["consumerKey"].startswith("3MVG9")
