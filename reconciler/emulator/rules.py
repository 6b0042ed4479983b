"""Per-type facts the WSDL does not carry: file layout, defaults, string-valued enumerations."""

from __future__ import annotations

from typing import Any

from reconciler.emulator.wsdl_schema import load_schema

# Types the emulator stores. Others in the WSDL list empty and read as nil records.
SUPPORTED_TYPES = (
    "ExternalClientApplication",
    "ExtlClntAppOauthSettings",
    "ExtlClntAppGlobalOauthSettings",
    "ExtlClntAppOauthConfigurablePolicies",
    "ExtlClntAppConfigurablePolicies",
    "ConnectedApp",
)

# (folder, suffix) per the ECA reference §1; used for FileProperties.fileName.
FILE_LAYOUT = {
    "ExternalClientApplication": ("externalClientApps", "eca"),
    "ExtlClntAppOauthSettings": ("extlClntAppOauthSettings", "ecaOauth"),
    "ExtlClntAppGlobalOauthSettings": ("extlClntAppGlobalOauthSets", "ecaGlblOauth"),
    "ExtlClntAppOauthConfigurablePolicies": ("extlClntAppOauthPolicies", "ecaOauthPlcy"),
    "ExtlClntAppConfigurablePolicies": ("extlClntAppPolicies", "ecaPlcy"),
    # The SFDX source layout of Connected Apps: `connectedApps/<Name>.connectedApp-meta.xml`.
    "ConnectedApp": ("connectedApps", "connectedApp"),
}

# Invented 3-character key prefixes for component ids (real prefixes UNVERIFIED).
ID_PREFIX = {
    "ExternalClientApplication": "0xC",
    "ExtlClntAppOauthSettings": "0xO",
    "ExtlClntAppGlobalOauthSettings": "0xG",
    "ExtlClntAppOauthConfigurablePolicies": "0xP",
    "ExtlClntAppConfigurablePolicies": "0xA",
    "ConnectedApp": "0xK",
}

# What a save fills in for a field the request omits, because updateMetadata replaces the whole
# component (ECA reference §13.3, UNVERIFIED). Booleans of the two OAuth types are not listed:
# every one of them is filled with false (see `with_defaults`).
DEFAULTS: dict[str, dict[str, Any]] = {
    "ExternalClientApplication": {"isProtected": False},
    "ExtlClntAppGlobalOauthSettings": {},
    "ExtlClntAppOauthConfigurablePolicies": {},
    "ExtlClntAppConfigurablePolicies": {},
    "ExtlClntAppOauthSettings": {},
    "ConnectedApp": {},
}

#: Types whose every boolean a real org returns explicitly, `false` when off; a file deployed
#: with booleans omitted (isPkceRequired included, whatever its documented default) comes back
#: with all of them `false` (ECA reference §13a, points 3 and 6). The WSDL v63 the emulator
#: speaks still has the policy-side isNamedUserJwtEnabled (seen in 2024 retrieves, deprecated
#: since), so it is returned too.
ALL_BOOLEANS_EXPLICIT = ("ExtlClntAppGlobalOauthSettings", "ExtlClntAppOauthConfigurablePolicies")

#: What an app created in Setup (not deployed) holds besides its explicit choices: retrieved
#: Setup-created apps have these two true (ECA reference §13a). Only the demo org uses it; no
#: API call creates an app "in Setup".
SETUP_CREATED_SETTINGS: dict[str, Any] = {
    "isSecretRequiredForTokenExchange": True,
    "isSecretRequiredForRefreshToken": True,
}

#: The policy a deploy generates for an app deployed without one (ECA reference §13a); every
#: flag is false through `with_defaults`. Named by `generated_policy_name`.
GENERATED_POLICY: dict[str, Any] = {
    "ipRelaxationPolicyType": "Enforce",
    "permittedUsersPolicyType": "AllSelfAuthorized",
    "refreshTokenPolicyType": "SpecificLifetime",
    "refreshTokenValidityPeriod": 365,
    "refreshTokenValidityUnit": "Days",
    "requiredSessionLevel": "STANDARD",
}


def generated_policy_name(oauth_settings_name: str) -> str:
    """`<ExtlClntAppOauthSettings fullName>_defaultPolicy`, seen in three repositories (§13a)."""
    return f"{oauth_settings_name}_defaultPolicy"


def generated_policy(app: str, oauth_settings_name: str) -> dict[str, Any]:
    """The stored fields of the policy generated for `app`. Its label is not recorded in the
    evidence (UNVERIFIED); the fullName is used, as retrieved Setup-created components do."""
    policy = {
        "externalClientApplication": app,
        "label": generated_policy_name(oauth_settings_name),
        **GENERATED_POLICY,
    }
    return with_defaults(POLICY_TYPE, policy)


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
#: A Connected App is one component; its credentials sit in the `oauthConfig` sub-object (WSDL
#: type ConnectedAppOauthConfig: consumerKey, consumerSecret, certificate; ECA reference §15).
CONNECTED_APP_TYPE = "ConnectedApp"
CONNECTED_OAUTH = "oauthConfig"
GLOBAL_TYPE = "ExtlClntAppGlobalOauthSettings"
POLICY_TYPE = "ExtlClntAppOauthConfigurablePolicies"
APP_TYPE = "ExternalClientApplication"


def with_defaults(type_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Fill omitted fields as a real org returns them, keeping explicit values.

    Booleans of the OAuth settings and policies come from the WSDL (every one, not a hand-kept
    list), so a component never reads back with a boolean missing, which a plan would show as
    `(unset) -> false` where a real org shows no change."""
    merged: dict[str, Any] = {}
    if type_name in ALL_BOOLEANS_EXPLICIT:
        spec = load_schema().complex(type_name)
        merged.update({f.name: False for f in spec.fields if f.kind == "boolean"})
    merged.update(DEFAULTS.get(type_name, {}))
    merged.update({k: v for k, v in fields.items() if v is not None})
    return merged
