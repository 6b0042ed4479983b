"""Per-type facts the WSDL does not carry: file layout, defaults, string-valued enumerations."""

from __future__ import annotations

from typing import Any

# Types the emulator stores. Others in the WSDL list empty and read as nil records.
SUPPORTED_TYPES = (
    "ExternalClientApplication",
    "ExtlClntAppOauthSettings",
    "ExtlClntAppGlobalOauthSettings",
    "ExtlClntAppOauthConfigurablePolicies",
    "ExtlClntAppConfigurablePolicies",
)

# (folder, suffix) per the ECA reference §1; used for FileProperties.fileName.
FILE_LAYOUT = {
    "ExternalClientApplication": ("externalClientApps", "eca"),
    "ExtlClntAppOauthSettings": ("extlClntAppOauthSettings", "ecaOauth"),
    "ExtlClntAppGlobalOauthSettings": ("extlClntAppGlobalOauthSets", "ecaGlblOauth"),
    "ExtlClntAppOauthConfigurablePolicies": ("extlClntAppOauthPolicies", "ecaOauthPlcy"),
    "ExtlClntAppConfigurablePolicies": ("extlClntAppPolicies", "ecaPlcy"),
}

# Invented 3-character key prefixes for component ids (real prefixes UNVERIFIED).
ID_PREFIX = {
    "ExternalClientApplication": "0xC",
    "ExtlClntAppOauthSettings": "0xO",
    "ExtlClntAppGlobalOauthSettings": "0xG",
    "ExtlClntAppOauthConfigurablePolicies": "0xP",
    "ExtlClntAppConfigurablePolicies": "0xA",
}

# Documented defaults (ECA reference §2-§4). Applied on create/update to fields the request
# omits, because updateMetadata replaces the whole component (ECA reference §13.3, UNVERIFIED).
DEFAULTS: dict[str, dict[str, Any]] = {
    "ExternalClientApplication": {"isProtected": False},
    "ExtlClntAppGlobalOauthSettings": {
        "isPkceRequired": True,
        "isSecretRequiredForRefreshToken": True,
        "isConsumerSecretOptional": False,
        "isCodeCredFlowEnabled": False,
        "isCodeCredPostOnly": False,
        "isNamedUserJwtEnabled": False,
        "shouldRotateConsumerKey": False,
        "shouldRotateConsumerSecret": False,
    },
    "ExtlClntAppOauthConfigurablePolicies": {
        "isClientCredentialsFlowEnabled": False,
        "isTokenExchangeFlowEnabled": False,
    },
    "ExtlClntAppConfigurablePolicies": {},
    "ExtlClntAppOauthSettings": {},
}

# Fields typed xsd:string in the WSDL whose values the docs restrict (ECA reference §3).
STRING_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("ExtlClntAppOauthConfigurablePolicies", "ipRelaxationPolicyType"): (
        "Enforce",
        "Bypass",
        "Bypass_2factor",
        "Enforce_RelaxRefresh",
    ),
    ("ExtlClntAppOauthConfigurablePolicies", "refreshTokenValidityUnit"): (
        "Days",
        "Hours",
        "Months",
    ),
}

SECRET_FIELDS = ("consumerKey", "consumerSecret")
GLOBAL_TYPE = "ExtlClntAppGlobalOauthSettings"
POLICY_TYPE = "ExtlClntAppOauthConfigurablePolicies"
APP_TYPE = "ExternalClientApplication"


def with_defaults(type_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Fill documented defaults for omitted fields, keeping explicit values."""
    merged = dict(DEFAULTS.get(type_name, {}))
    merged.update(fields)
    return merged
