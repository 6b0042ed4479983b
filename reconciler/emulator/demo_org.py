"""The demo org "Acme Demo": users, profiles, permission sets and ten ECAs.

Names and values here are a contract: the client's desired-state YAML is written against them.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.emulator import login_history as lh
from reconciler.emulator.certs import make_self_signed
from reconciler.emulator.labels import APPROVE_UNINSTALLED, USE_ANY_API_CLIENT
from reconciler.emulator.rules import ID_PREFIX, SETUP_CREATED_SETTINGS, with_defaults

ORG_ID = "00D000000000001EAA"
CREATED = "2025-01-10T09:00:00.000Z"
MODIFIED = "2025-02-01T10:00:00.000Z"


def sf_id(prefix: str, n: int) -> str:
    """An 18-character id such as 005000000000001AAA."""
    return f"{prefix}{n:012d}AAA"


def _consumer_key(marker: str | None) -> str:
    body = secrets.token_urlsafe(60)[:80]
    return "3MVG9" + (f"{marker}{body}"[:80] if marker else body)


def _consumer_secret(marker: str | None) -> str:
    hexed = secrets.token_hex(32)
    return f"{marker}{hexed}" if marker else hexed


def _profiles() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    perms = {
        "System Administrator": (True, True, True, True, False),
        "Standard User": (False, False, False, False, False),
        "Integration API Only": (False, False, False, False, True),
    }
    profiles, owned_sets = [], []
    for i, (name, (mad, vad, mm, ca, api)) in enumerate(perms.items(), start=1):
        flags = {
            "PermissionsModifyAllData": mad,
            "PermissionsViewAllData": vad,
            "PermissionsModifyMetadata": mm,
            "PermissionsCustomizeApplication": ca,
            "PermissionsApiUserOnly": api,
            # Issue 18: administrators hold both app-approval permissions.
            USE_ANY_API_CLIENT: mad,
            APPROVE_UNINSTALLED: mad,
        }
        pid = sf_id("00e", i)
        profiles.append({"Id": pid, "Name": name, "UserType": "Standard", **flags})
        owned_sets.append(
            {
                "Id": sf_id("0PS", i),
                "Name": f"X00ex{i:010d}",
                "Label": name,
                "IsOwnedByProfile": True,
                "ProfileId": pid,
                **flags,
            }
        )
    return profiles, owned_sets


def _sobjects() -> dict[str, list[dict[str, Any]]]:
    profiles, owned = _profiles()
    by_profile = {p["Name"]: p for p in profiles}
    owned_by_profile = {s["ProfileId"]: s for s in owned}
    no_perms = dict.fromkeys(
        [
            "PermissionsModifyAllData",
            "PermissionsViewAllData",
            "PermissionsModifyMetadata",
            "PermissionsCustomizeApplication",
            "PermissionsApiUserOnly",
            USE_ANY_API_CLIENT,
            APPROVE_UNINSTALLED,
        ],
        False,
    )
    psets = [
        {
            "Id": sf_id("0PS", 10),
            "Name": "Billing_Integration",
            "Label": "Billing Integration",
            "IsOwnedByProfile": False,
            "ProfileId": None,
            **no_perms,
        },
        {
            "Id": sf_id("0PS", 11),
            "Name": "Data_Export_All",
            "Label": "Data Export All",
            "IsOwnedByProfile": False,
            "ProfileId": None,
            **no_perms,
            "PermissionsViewAllData": True,
            "PermissionsModifyAllData": True,
        },
        {
            # Issue 18: a non-admin permission set that lets its holder self-authorise any API
            # client: the app-approval bypass an audit must name (held by Sam Support).
            "Id": sf_id("0PS", 12),
            "Name": "Any_API_Client",
            "Label": "Any API Client",
            "IsOwnedByProfile": False,
            "ProfileId": None,
            **no_perms,
            USE_ANY_API_CLIENT: True,
        },
    ]
    pset_by_name = {p["Name"]: p for p in psets}
    user_rows = [
        ("admin@acme.example", "Ada Admin", True, "System Administrator", None),
        (
            "billing.integration@acme.example",
            "Billing Integration",
            True,
            "Integration API Only",
            "Billing_Integration",
        ),
        ("etl.admin@acme.example", "ETL Admin", True, "System Administrator", None),
        (
            "former.integration@acme.example",
            "Former Integration",
            False,
            "Integration API Only",
            None,
        ),
        ("support.agent@acme.example", "Sam Support", True, "Standard User", "Data_Export_All"),
    ]
    users: list[dict[str, Any]] = []
    psas: list[dict[str, Any]] = []
    for i, (username, name, active, profile, extra) in enumerate(user_rows, start=1):
        prof = by_profile[profile]
        uid = sf_id("005", i)
        users.append(
            {
                "Id": uid,
                "Username": username,
                "Name": name,
                "Email": username,
                "IsActive": active,
                "ProfileId": prof["Id"],
                "UserType": "Standard",
            }
        )
        assigned = [owned_by_profile[prof["Id"]]] + ([pset_by_name[extra]] if extra else [])
        for ps in assigned:
            psas.append(
                {
                    "Id": sf_id("0Pa", len(psas) + 1),
                    "AssigneeId": uid,
                    "PermissionSetId": ps["Id"],
                }
            )
    # Issue 18: Sam Support also holds Any_API_Client (a non-admin app-approval bypass).
    support = next(u["Id"] for u in users if u["Username"] == "support.agent@acme.example")
    psas.append(
        {
            "Id": sf_id("0Pa", len(psas) + 1),
            "AssigneeId": support,
            "PermissionSetId": pset_by_name["Any_API_Client"]["Id"],
        }
    )
    org = [
        {
            "Id": ORG_ID,
            "Name": "Acme Demo",
            "OrganizationType": "Developer Edition",
            "IsSandbox": False,
            "InstanceName": "EMU1",
            "NamespacePrefix": None,
        }
    ]
    return {
        "Organization": org,
        "User": users,
        "Profile": profiles,
        "PermissionSet": owned + psets,
        "PermissionSetAssignment": psas,
    }


#: Apps created in Setup and later retrieved: named `<App>_glbloauth` / `<App>_oauthPlcy`, and
#: holding rules.SETUP_CREATED_SETTINGS. The others were deployed as metadata: every boolean
#: they do not set is false, and a policy the deploy generated is `<App>_oauth_defaultPolicy`
#: (ECA reference §13a); an admin may have edited it since (Data_Warehouse_ETL).
SETUP_CREATED = frozenset(
    {"Billing_Sync", "Mobile_Field_Service", "Legacy_Importer", "Ledger_Export", "Old_Payroll_Feed"}
)


# App name → (global settings name, policies name, global fields, policy fields)
def _apps(cert_pem: str) -> dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]]:
    return {
        "Billing_Sync": (
            "Billing_Sync_glbloauth",
            "Billing_Sync_oauthPlcy",
            {
                "isClientCredentialsFlowEnabled": True,
                "callbackUrl": "https://billing.acme.example/oauth/callback",
                "isPkceRequired": True,
                "isSecretRequiredForRefreshToken": True,
            },
            {
                "isClientCredentialsFlowEnabled": True,
                "clientCredentialsFlowUser": "billing.integration@acme.example",
                "ipRelaxationPolicyType": "Enforce",
                "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
                "refreshTokenPolicyType": "SpecificLifetime",
                "refreshTokenValidityPeriod": 30,
                "refreshTokenValidityUnit": "Days",
                "requiredSessionLevel": "STANDARD",
                "commaSeparatedPermissionSet": "Billing_Integration",
                "customAttributes": [
                    {"formula": "$User.Department", "key": "department"},
                ],
            },
        ),
        "Data_Warehouse_ETL": (
            "Data_Warehouse_ETLGlblOAuth",
            "Data_Warehouse_ETL_oauth_defaultPolicy",
            {
                "isClientCredentialsFlowEnabled": True,
                "callbackUrl": "https://etl.acme.example/callback",
            },
            {
                "isClientCredentialsFlowEnabled": True,
                "clientCredentialsFlowUser": "etl.admin@acme.example",
                "ipRelaxationPolicyType": "Bypass",
                "permittedUsersPolicyType": "AllSelfAuthorized",
                "refreshTokenPolicyType": "Infinite",
                "requiredSessionLevel": "STANDARD",
            },
        ),
        "Mobile_Field_Service": (
            "Mobile_Field_Service_glbloauth",
            "Mobile_Field_Service_oauthPlcy",
            {
                "isClientCredentialsFlowEnabled": False,
                "isDeviceFlowEnabled": True,
                "isPkceRequired": True,
                "isRefreshTokenRotationEnabled": True,
                "callbackUrl": "com.acme.fieldservice://oauth/callback",
            },
            {
                "isClientCredentialsFlowEnabled": False,
                "ipRelaxationPolicyType": "Enforce_RelaxRefresh",
                "permittedUsersPolicyType": "AllSelfAuthorized",
                "refreshTokenPolicyType": "SpecificInactivity",
                "refreshTokenValidityPeriod": 90,
                "refreshTokenValidityUnit": "Days",
                "requiredSessionLevel": "STANDARD",
                "startUrl": "https://fieldservice.acme.example/start",
            },
        ),
        "Partner_Portal": (
            "Partner_PortalGlblOAuth",
            "Partner_Portal_oauthPlcy",
            {
                "isClientCredentialsFlowEnabled": False,
                "isTokenExchangeEnabled": True,
                "isSecretRequiredForTokenExchange": True,
                "callbackUrl": "https://partners.acme.example/oauth/callback\n"
                "https://partners-staging.acme.example/oauth/callback",
            },
            {
                "isClientCredentialsFlowEnabled": False,
                "isTokenExchangeFlowEnabled": True,
                "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
                "commaSeparatedProfile": "Standard User",
                "refreshTokenPolicyType": "SpecificInactivity",
                "refreshTokenValidityPeriod": 7,
                "refreshTokenValidityUnit": "Days",
                "requiredSessionLevel": "HIGH_ASSURANCE",
                "policyAction": "RaiseSessionLevel",
                "sessionTimeoutInMinutes": 120,
            },
        ),
        "Reporting_JWT": (
            "Reporting_JWT_glbloauth",
            "Reporting_JWT_oauth_defaultPolicy",
            {
                "isClientCredentialsFlowEnabled": False,
                "certificate": cert_pem,
                "isNamedUserJwtEnabled": False,
            },
            {
                "isClientCredentialsFlowEnabled": False,
                "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
                "commaSeparatedPermissionSet": "Billing_Integration,Data_Export_All",
                "ipRelaxationPolicyType": "Enforce",
                "refreshTokenPolicyType": "Zero",
                "requiredSessionLevel": "STANDARD",
            },
        ),
        "Legacy_Importer": (
            "Legacy_Importer_glbloauth",
            "Legacy_Importer_oauthPlcy",
            {"isClientCredentialsFlowEnabled": True, "isPkceRequired": True},
            {
                "isClientCredentialsFlowEnabled": False,
                "ipRelaxationPolicyType": "Bypass_2factor",
                "permittedUsersPolicyType": "AllSelfAuthorized",
                "refreshTokenPolicyType": "Infinite",
                "requiredSessionLevel": "STANDARD",
            },
        ),
        "Marketing_Events": (
            "Marketing_EventsGlblOAuth",
            "Marketing_Events_oauthPlcy",
            {
                "isClientCredentialsFlowEnabled": False,
                "isCodeCredFlowEnabled": True,
                "isCodeCredPostOnly": True,
                "isNamedUserJwtEnabled": True,
            },
            {
                "isClientCredentialsFlowEnabled": False,
                "isGuestCodeCredFlowEnabled": True,
                "permittedUsersPolicyType": "AllSelfAuthorized",
                "refreshTokenPolicyType": "SpecificLifetime",
                "refreshTokenValidityPeriod": 12,
                "refreshTokenValidityUnit": "Hours",
                "requiredSessionLevel": "STANDARD",
            },
        ),
        # Risk cases for client credentials (control text: run-as privileges, IP
        # restrictions, certificate vs shared secret). These three are not in desired/,
        # so they also show `unlisted: report` at work.
        "Ledger_Export": (  # low: API Only run-as, IP enforced, certificate registered
            "Ledger_Export_glbloauth",
            "Ledger_Export_oauthPlcy",
            {"isClientCredentialsFlowEnabled": True, "certificate": cert_pem},
            {
                "isClientCredentialsFlowEnabled": True,
                "clientCredentialsFlowUser": "billing.integration@acme.example",
                "ipRelaxationPolicyType": "Enforce",
                "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
                "refreshTokenPolicyType": "SpecificLifetime",
                "refreshTokenValidityPeriod": 24,
                "refreshTokenValidityUnit": "Hours",
                "requiredSessionLevel": "STANDARD",
            },
        ),
        "Support_Exporter": (  # high: run-as gets Modify All Data from a permission set
            "Support_ExporterGlblOAuth",
            "Support_Exporter_oauthPlcy",
            {"isClientCredentialsFlowEnabled": True},
            {
                "isClientCredentialsFlowEnabled": True,
                "clientCredentialsFlowUser": "support.agent@acme.example",
                "ipRelaxationPolicyType": "Enforce_RelaxRefresh",
                "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
                "refreshTokenPolicyType": "SpecificInactivity",
                "refreshTokenValidityPeriod": 30,
                "refreshTokenValidityUnit": "Days",
                "requiredSessionLevel": "STANDARD",
            },
        ),
        "Old_Payroll_Feed": (  # run-as user deactivated; certificate, IP enforced
            "Old_Payroll_Feed_glbloauth",
            "Old_Payroll_Feed_oauthPlcy",
            {"isClientCredentialsFlowEnabled": True, "certificate": cert_pem},
            {
                "isClientCredentialsFlowEnabled": True,
                "clientCredentialsFlowUser": "former.integration@acme.example",
                "ipRelaxationPolicyType": "Enforce",
                "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
                "refreshTokenPolicyType": "Infinite",
                "requiredSessionLevel": "STANDARD",
            },
        ),
    }


#: Where the demo's integrations call from (documentation address ranges, RFC 5737).
BILLING_NIGHTLY_IP = "203.0.113.10"
BILLING_FREQUENT_IP = "198.51.100.7"
ETL_OLD_IP = "198.51.100.23"
STOLEN_SECRET_IP = "192.0.2.66"
OFFICE_IP = "198.51.100.200"
MY_DOMAIN = "acme.my.salesforce.com"


def _login_history(users: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """LoginHistory relative to `now` (the state's creation), so "last login 2 h ago" holds
    on a first run. Every row is inside the last 28 days unless said otherwise, so a 30-day
    window counts them all for a while after creation.

    - Billing_Sync is an integration in use: a nightly job from 203.0.113.10 (28 logins) and a
      job every 6 hours from 198.51.100.7 over the last 14 days (56 logins, the last 2 h before
      `now`); 4 more nightly logins 40-43 days ago, outside a 30-day window.
    - Data_Warehouse_ETL is idle: 3 successful logins 75-77 days ago, none since; and 5 failed
      client-credentials logins (wrong secret) from an unknown 192.0.2.66 in the last 3 days.
    - Legacy_Importer: none (its policy has the flow off and no run-as user).
    - Logins that are not client credentials, which a usage look-up must filter out: the admin
      in the browser (LoginType Application), and the ETL admin through the Salesforce CLI
      (LoginType Oauth2, web-server flow: LoginSubType null).
    """
    ids = {u["Username"]: u["Id"] for u in users}
    billing, etl, admin = (
        ids["billing.integration@acme.example"],
        ids["etl.admin@acme.example"],
        ids["admin@acme.example"],
    )
    day, hour = timedelta(days=1), timedelta(hours=1)
    last = now - 2 * hour
    seen: list[tuple[datetime, str, str | None, str, str, str | None, str, str]] = []

    def add(
        when: datetime,
        user: str,
        app: str | None,
        ip: str,
        status: str = lh.SUCCESS,
        login_type: str = lh.LOGIN_TYPE,
        sub: str | None = lh.CLIENT_CREDENTIALS,
        platform: str = "Unknown",
    ) -> None:
        seen.append((when.replace(microsecond=0), user, app, ip, status, sub, login_type, platform))

    for d in range(28):  # nightly, 7 h before the latest frequent run
        add(
            last - 7 * hour - d * day + timedelta(seconds=41),
            billing,
            "Billing_Sync",
            BILLING_NIGHTLY_IP,
        )
    for d in range(40, 44):
        add(
            last - 7 * hour - d * day + timedelta(seconds=38),
            billing,
            "Billing_Sync",
            BILLING_NIGHTLY_IP,
        )
    for k in range(56):  # every 6 hours for 14 days
        add(
            last - k * 6 * hour + timedelta(seconds=k % 7),
            billing,
            "Billing_Sync",
            BILLING_FREQUENT_IP,
        )
    for d in (75, 76, 77):
        add(now - d * day - 3 * hour, etl, "Data_Warehouse_ETL", ETL_OLD_IP)
    for k, ago in enumerate((70.5, 52.25, 51.9, 30.1, 4.6)):  # hours
        when = now - ago * hour + timedelta(seconds=k)
        add(when, etl, "Data_Warehouse_ETL", STOLEN_SECRET_IP, status=lh.WRONG_SECRET)
    for d in (1, 3, 6, 9, 13, 20):
        when = now - d * day - 5 * hour
        add(when, admin, "Browser", OFFICE_IP, "Success", "Application", None, "Mac OSX")
    for d in (2, 8, 15):
        add(now - d * day - 4 * hour, etl, "Salesforce CLI", OFFICE_IP, sub=None)
    seen.sort(key=lambda r: r[0])
    return [
        lh.row(n, user, when, app, ip, status, MY_DOMAIN, login_type, sub, platform)
        for n, (when, user, app, ip, status, sub, login_type, platform) in enumerate(seen, 1)
    ]


#: Connected Apps (the older kind of OAuth app, ECA reference §15): one component each, field
#: names from the WSDL's ConnectedApp / ConnectedAppOauthConfig / ConnectedAppOauthPolicy.
#: - Legacy_CRM_Sync: client credentials on, run as an administrator, IP restrictions relaxed,
#:   shared secret only: the high-risk case an audit must not miss. In use (LoginHistory).
#: - Warehouse_Loader: client credentials on for a nightly integration run by the API Only
#:   integration user, IP enforced: the exception-worthy one. In use.
#: - Field_Survey_Mobile: no client credentials; an interactive app.
#: The values of ipRelaxation and refreshTokenPolicy are strings in the WSDL and their allowed
#: values are not in the reference: `specific_inactivity:30:DAYS` is the reference's own
#: example (§15, 3P); ENFORCE / BYPASS / infinite are illustrative spellings the client reads
#: case-insensitively (fields.py), not verified ones.
CONNECTED_APPS: dict[str, dict[str, Any]] = {
    "Legacy_CRM_Sync": {
        "oauthConfig": {
            "isClientCredentialEnabled": True,
            "oauthClientCredentialUser": "admin@acme.example",
            "isAdminApproved": False,
        },
        "oauthPolicy": {"ipRelaxation": "BYPASS", "refreshTokenPolicy": "infinite"},
    },
    "Warehouse_Loader": {
        "oauthConfig": {
            "isClientCredentialEnabled": True,
            "oauthClientCredentialUser": "billing.integration@acme.example",
            "isAdminApproved": True,
        },
        "oauthPolicy": {
            "ipRelaxation": "ENFORCE",
            "refreshTokenPolicy": "specific_inactivity:30:DAYS",
        },
    },
    "Field_Survey_Mobile": {
        "oauthConfig": {
            "isClientCredentialEnabled": False,
            "isPkceRequired": True,
            "isRefreshTokenRotationEnabled": True,
            "isAdminApproved": True,
        },
        "oauthPolicy": {"ipRelaxation": "ENFORCE", "refreshTokenPolicy": "infinite"},
    },
}


def _connected_app(name: str, spec: dict[str, Any], marker: str | None) -> dict[str, Any]:
    """The stored ConnectedApp component (consumer key and secret made per org)."""
    label = name.replace("_", " ")
    return {
        "contactEmail": "platform-team@acme.example",
        "description": f"{label} (connected app)",
        "label": label,
        "oauthConfig": {
            "callbackUrl": f"https://apps.acme.example/{name.lower()}/callback",
            "consumerKey": _consumer_key(marker),
            "consumerSecret": _consumer_secret(marker),
            "scopes": ["Api", "RefreshToken"],
            **spec["oauthConfig"],
        },
        "oauthPolicy": dict(spec["oauthPolicy"]),
    }


def _connected_login_history(
    users: list[dict[str, Any]], now: datetime, first: int
) -> list[dict[str, Any]]:
    """Client-credentials logins of the two Connected Apps that have the flow on: daily for
    Legacy_CRM_Sync (the last 5 h ago), nightly for Warehouse_Loader. `Application` is the
    app's API name, which usage.app_keys matches; rows are numbered after the ECA ones."""
    ids = {u["Username"]: u["Id"] for u in users}
    rows: list[tuple[datetime, str, str, str]] = []
    for d in range(10):
        rows.append(
            (
                now - timedelta(hours=5) - d * timedelta(days=1),
                "admin@acme.example",
                "Legacy_CRM_Sync",
                "203.0.113.77",
            )
        )
    for d in range(20):
        rows.append(
            (
                now - timedelta(hours=9) - d * timedelta(days=1),
                "billing.integration@acme.example",
                "Warehouse_Loader",
                "203.0.113.12",
            )
        )
    rows.sort(key=lambda r: r[0])
    return [
        lh.row(first + n, ids[user], when.replace(microsecond=0), app, ip, lh.SUCCESS, MY_DOMAIN)
        for n, (when, user, app, ip) in enumerate(rows)
    ]


def build_demo_org(secret_marker: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Return the JSON state document of the demo org.

    With `secret_marker`, every consumerKey, consumerSecret and certificate contains it, so
    tests can grep any output for the marker to prove secrets never leak. LoginHistory is
    dated relative to `now` (default: the current time).
    """
    _, cert_pem = make_self_signed("Reporting JWT (demo)")
    if secret_marker:
        # Inside a PEM comment line would break parsers; a leading explanatory line is
        # ignored by PEM loaders, so the certificate stays usable.
        cert_pem = f"demo certificate {secret_marker}\n{cert_pem}"
    metadata: dict[str, dict[str, dict[str, Any]]] = {}

    def put(type_name: str, full_name: str, fields: dict[str, Any]) -> None:
        metadata.setdefault(type_name, {})[full_name] = with_defaults(type_name, fields)

    for app, (glbl, plcy, gfields, pfields) in _apps(cert_pem).items():
        label = app.replace("_", " ")
        put(
            "ExternalClientApplication",
            app,
            {
                "contactEmail": "platform-team@acme.example",
                "description": f"{label} integration",
                "distributionState": "Local",
                "isProtected": False,
                "label": label,
            },
        )
        oauth: dict[str, Any] = {
            "externalClientApplication": app,
            "commaSeparatedOauthScopes": "Api,RefreshToken",
            "label": f"{label} OAuth",
        }
        if app == "Billing_Sync":
            oauth["trustedIpRanges"] = [
                {
                    "description": "billing servers",
                    "endIpAddress": "203.0.113.20",
                    "startIpAddress": "203.0.113.10",
                }
            ]
        put("ExtlClntAppOauthSettings", f"{app}_oauth", oauth)
        put(
            "ExtlClntAppGlobalOauthSettings",
            glbl,
            {
                "externalClientApplication": app,
                "label": f"{label} global OAuth",
                "consumerKey": _consumer_key(secret_marker),
                "consumerSecret": _consumer_secret(secret_marker),
                **(SETUP_CREATED_SETTINGS if app in SETUP_CREATED else {}),
                **gfields,
            },
        )
        put(
            "ExtlClntAppOauthConfigurablePolicies",
            plcy,
            {"externalClientApplication": app, "label": f"{label} OAuth policy", **pfields},
        )
        put(
            "ExtlClntAppConfigurablePolicies",
            f"{app}_plcy",
            {
                "externalClientApplication": app,
                "isEnabled": True,
                "isOauthPluginEnabled": True,
                "label": f"{label} app policy",
            },
        )
    sobjects = _sobjects()
    when = now or datetime.now(UTC)
    sobjects["LoginHistory"] = _login_history(sobjects["User"], when)
    for name, spec in CONNECTED_APPS.items():
        put("ConnectedApp", name, _connected_app(name, spec, secret_marker))
    sobjects["LoginHistory"] += _connected_login_history(
        sobjects["User"], when, len(sobjects["LoginHistory"]) + 1
    )
    info: dict[str, dict[str, dict[str, str]]] = {}
    n = 0
    for type_name, comps in metadata.items():
        for full_name in comps:
            n += 1
            info.setdefault(type_name, {})[full_name] = {
                "id": sf_id(ID_PREFIX[type_name], n),
                "createdDate": CREATED,
                "lastModifiedDate": MODIFIED,
            }
    return {
        "org": {
            "id": ORG_ID,
            "name": "Acme Demo",
            # Real behaviour with the setting off is UNVERIFIED (ECA reference §13.5). "omit",
            # the model retrieved files support (§13a), keeps consumerKey and leaves
            # consumerSecret out; "fault" refuses the whole read, for tests of that variant.
            "consumer_secret_api_access": True,
            "secret_access_off_behaviour": "omit",
            "passwords": {"admin@acme.example": "demo-password"},
            # JWT audiences accepted besides the emulator's own URL (auth.jwt_audiences):
            # Salesforce's login hosts, for clients whose login host is rewritten to here.
            "jwt_audiences": ["https://login.salesforce.com", "https://test.salesforce.com"],
            "fail_updates": {},
        },
        "metadata": metadata,
        "metadata_info": info,
        "sobjects": sobjects,
    }
