"""The emulator answers as retrieved files from real orgs show (eca doc §13a), through
simple-salesforce's own Metadata client over HTTPS."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import zeep

from reconciler.emulator.server import EmulatorServer
from tests.emulator.conftest import make_sf
from tests.support import REPO

GLOBAL = "ExtlClntAppGlobalOauthSettings"
POLICY = "ExtlClntAppOauthConfigurablePolicies"
SAMPLE = REPO / "examples" / "sfdx-project"
DEFAULT = Path("force-app/main/default")


def test_secret_access_off_returns_the_key_without_the_secret(server, sf):
    """Six retrieved global files in five repositories: consumerKey present, consumerSecret
    absent, and the retrieve succeeded. That is the default model."""
    server.state.org["consumer_secret_api_access"] = False
    server.state.org.pop("secret_access_off_behaviour", None)
    stored = server.state.components(GLOBAL)["Billing_Sync_glbloauth"]
    rec = sf.mdapi.ExtlClntAppGlobalOauthSettings.read("Billing_Sync_glbloauth")
    assert rec.consumerKey == stored["consumerKey"]
    assert rec.consumerSecret is None
    assert rec.isClientCredentialsFlowEnabled is True


def test_secret_access_off_can_still_fault_as_an_option(server, sf):
    server.state.org["consumer_secret_api_access"] = False
    server.state.org["secret_access_off_behaviour"] = "fault"
    with pytest.raises(zeep.exceptions.Fault) as exc:
        sf.mdapi.ExtlClntAppGlobalOauthSettings.read("Billing_Sync_glbloauth")
    assert exc.value.code.endswith("INSUFFICIENT_ACCESS")


@pytest.fixture
def deployed(tmp_path: Path):
    """The sample project with one app deployed the minimal way: a global settings file that
    omits every boolean, and no policy file."""
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project)
    glbl = (
        project
        / DEFAULT
        / "extlClntAppGlobalOauthSets/Inventory_Sync_glblSettings.ecaGlblOauth-meta.xml"
    )
    glbl.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ExtlClntAppGlobalOauthSettings xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        "    <callbackUrl>https://inventory.acme.example/oauth/callback</callbackUrl>\n"
        "    <externalClientApplication>Inventory_Sync</externalClientApplication>\n"
        "    <label>Inventory Sync global OAuth settings</label>\n"
        "</ExtlClntAppGlobalOauthSettings>\n",
        encoding="utf-8",
    )
    policies = project / DEFAULT / "extlClntAppOauthPolicies"
    (policies / "Inventory_Sync_oauthSettings_defaultPolicy.ecaOauthPlcy-meta.xml").unlink()
    with EmulatorServer(project) as srv:
        yield srv, make_sf(srv)


BOOLEANS = [
    "isClientCredentialsFlowEnabled",
    "isCodeCredFlowEnabled",
    "isCodeCredPostOnly",
    "isConsumerSecretOptional",
    "isDeviceFlowEnabled",
    "isIntrospectAllTokens",
    "isNamedUserJwtEnabled",
    "isPkceRequired",
    "isRefreshTokenRotationEnabled",
    "isSecretRequiredForRefreshToken",
    "isSecretRequiredForTokenExchange",
    "isTokenExchangeEnabled",
]


def test_a_deployed_file_comes_back_with_every_boolean_false_and_generated_secrets(deployed):
    _, sf = deployed
    rec = sf.mdapi.ExtlClntAppGlobalOauthSettings.read("Inventory_Sync_glblSettings")
    assert {name: getattr(rec, name) for name in BOOLEANS} == dict.fromkeys(BOOLEANS, False)
    assert rec.consumerKey.startswith("3MVG9") and rec.consumerSecret


def test_deploying_without_a_policy_generates_the_default_policy(deployed):
    _, sf = deployed
    names = {r.fullName for r in sf.mdapi.list_metadata([sf.mdapi.ListMetadataQuery(type=POLICY)])}
    assert "Inventory_Sync_oauthSettings_defaultPolicy" in names
    rec = sf.mdapi.ExtlClntAppOauthConfigurablePolicies.read(
        "Inventory_Sync_oauthSettings_defaultPolicy"
    )
    assert rec.externalClientApplication == "Inventory_Sync"
    assert (
        rec.ipRelaxationPolicyType,
        rec.permittedUsersPolicyType,
        rec.refreshTokenPolicyType,
        rec.refreshTokenValidityPeriod,
        rec.refreshTokenValidityUnit,
        rec.requiredSessionLevel,
    ) == ("Enforce", "AllSelfAuthorized", "SpecificLifetime", 365, "Days", "STANDARD")
    assert rec.isClientCredentialsFlowEnabled is False
    assert rec.isTokenExchangeFlowEnabled is False
    assert rec.isGuestCodeCredFlowEnabled is False
