"""Login endpoints: partner SOAP login (wire doc §2) and the OAuth token endpoint (§3).

The token endpoint answers three grants: JWT bearer, client credentials and refresh token (the
grant behind an SFDX auth URL). Errors are Salesforce's `{"error", "error_description"}` pairs
with HTTP 400, so a client's error handling is exercised against the real shapes.
"""

from __future__ import annotations

import base64
import json
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from reconciler.emulator import login_history as lh
from reconciler.emulator import soap_xml as sx
from reconciler.emulator.certs import public_key_from_cert
from reconciler.emulator.rules import (
    CONNECTED_APP_TYPE,
    CONNECTED_OAUTH,
    GLOBAL_TYPE,
    POLICY_TYPE,
)
from reconciler.emulator.sessions import SessionStore
from reconciler.emulator.state import OrgState

PARTNER_NS = "urn:partner.soap.sforce.com"
PARTNER_FAULT_NS = "urn:fault.partner.soap.sforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."


def soap_login(
    body: bytes, state: OrgState, sessions: SessionStore, instance_url: str, version: str
) -> tuple[int, str]:
    """Answer a partner `login`; the client reads literal `sessionId`/`serverUrl` tags."""
    try:
        root, _ = sx.parse(body)
    except ET.ParseError:
        return 500, _login_fault("INVALID_LOGIN", INVALID_LOGIN)
    login = sx.child(sx.child(root, "Body"), "login")
    username = sx.text(sx.child(login, "username")) or ""
    password = sx.text(sx.child(login, "password"))
    user = state.find_user(username)
    expected = state.org.get("passwords", {}).get(user["Username"]) if user else None
    if user is None or expected is None or password != expected:
        return 500, _login_fault("INVALID_LOGIN", INVALID_LOGIN)
    token = sessions.mint(user["Id"])
    org_id = state.org_id
    org15 = org_id[:15]
    return 200, (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{sx.SOAP_ENV}" xmlns="{PARTNER_NS}" '
        f'xmlns:xsi="{sx.XSI}"><soapenv:Body><loginResponse><result>'
        f"<metadataServerUrl>{instance_url}/services/Soap/m/{version}/{org15}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{instance_url}/services/Soap/u/{version}/{org15}</serverUrl>"
        f"<sessionId>{token}</sessionId><userId>{user['Id']}</userId>"
        f"<userInfo><organizationId>{org_id}</organizationId>"
        f"<organizationName>{state.org.get('name', '')}</organizationName>"
        f"<userId>{user['Id']}</userId><userName>{user['Username']}</userName></userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def _login_fault(code: str, message: str) -> str:
    """LoginFault with the literal `sf:` prefix the client's tag matching needs."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{sx.SOAP_ENV}" xmlns:sf="{PARTNER_FAULT_NS}" '
        f'xmlns:xsi="{sx.XSI}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring>"
        f'<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{message}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


class OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def oauth_token(
    body: bytes,
    authorization: str | None,
    state: OrgState,
    sessions: SessionStore,
    instance_url: str,
    source_ip: str = "",
) -> tuple[int, str]:
    """POST /services/oauth2/token → (status, JSON text).

    `source_ip` is the caller's address as the connection shows it (never a header): the
    client-credentials grant records it in LoginHistory."""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    try:
        grant = form.get("grant_type", "")
        if grant == JWT_GRANT:
            user, settings = _jwt_bearer(form.get("assertion", ""), state, instance_url)
        elif grant == "client_credentials":
            user, settings = _client_credentials(
                form, authorization, state, source_ip, urlsplit(instance_url).netloc
            )
        elif grant == "refresh_token":
            user, settings = _refresh_token(form, authorization, state)
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
    except OAuthError as exc:
        return 400, json.dumps({"error": exc.error, "error_description": exc.description})
    # JWT-based access tokens are refused by SOAP APIs (ECA reference §8).
    token = sessions.mint(user["Id"], soap_ok=not settings.get("isNamedUserJwtEnabled"))
    return 200, json.dumps(
        {
            "access_token": token,
            "scope": "api",
            "instance_url": instance_url,
            "id": f"{instance_url}/id/{state.org_id}/{user['Id']}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
        }
    )


def _settings_by_key(state: OrgState, consumer_key: str) -> dict[str, Any]:
    for fields in state.components(GLOBAL_TYPE).values():
        if consumer_key and fields.get("consumerKey") == consumer_key:
            return fields
    raise OAuthError("invalid_client_id", "client identifier invalid")


def _connected_by_key(state: OrgState, consumer_key: str) -> tuple[str, dict[str, Any]] | None:
    """(Connected App name, its oauthConfig) whose consumerKey is `consumer_key`, if any."""
    for name, fields in state.components(CONNECTED_APP_TYPE).items():
        oauth = fields.get(CONNECTED_OAUTH) or {}
        if consumer_key and oauth.get("consumerKey") == consumer_key:
            return name, oauth
    return None


def _policy_for(state: OrgState, app: str) -> dict[str, Any]:
    for fields in state.components(POLICY_TYPE).values():
        if fields.get("externalClientApplication") == app:
            return fields
    return {}


def _jwt_bearer(
    assertion: str, state: OrgState, instance_url: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise OAuthError("invalid_grant", "invalid assertion") from exc
    settings = _settings_by_key(state, str(claims.get("iss", "")))
    cert = settings.get("certificate")
    if not cert:
        raise OAuthError("invalid_grant", "invalid assertion")
    try:
        jwt.decode(
            assertion,
            key=public_key_from_cert(cert),
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
        )
    except (jwt.PyJWTError, ValueError) as exc:
        raise OAuthError("invalid_grant", "invalid assertion") from exc
    if claims.get("aud") not in jwt_audiences(state, instance_url):
        raise OAuthError("invalid_grant", "audience is invalid")
    try:
        exp = int(str(claims.get("exp", "")))
    except ValueError as exc:
        raise OAuthError("invalid_grant", "expired authorization code") from exc
    if exp < time.time():
        raise OAuthError("invalid_grant", "expired authorization code")
    user = state.find_user(str(claims.get("sub", "")))
    if user is None or not _pre_authorized(state, user, settings):
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    return user, settings


def jwt_audiences(state: OrgState, instance_url: str) -> tuple[str, ...]:
    """The `aud` values this org accepts: its own URL, which is what the emulator is reached
    at as a login URL, plus whatever the state lists under `org.jwt_audiences`.

    Salesforce accepts https://login.salesforce.com / https://test.salesforce.com [OAUTH]; the
    emulator accepts them only when its state says so (the demo org does, for clients whose
    login host is rewritten to the emulator), so a client that ignores its login URL and always
    sends the production audience is caught by a state without them.
    """
    configured = state.org.get("jwt_audiences") or []
    return (instance_url, *(str(a) for a in configured))


def _pre_authorized(state: OrgState, user: dict[str, Any], settings: dict[str, Any]) -> bool:
    """AdminApprovedPreAuthorized: the user's profile or a permission set must be listed.

    AllSelfAuthorized users are treated as having approved (the emulator has no approval UI).
    """
    policy = _policy_for(state, settings.get("externalClientApplication", ""))
    if policy.get("permittedUsersPolicyType") != "AdminApprovedPreAuthorized":
        return True
    profiles = _split(policy.get("commaSeparatedProfile"))
    psets = _split(policy.get("commaSeparatedPermissionSet"))
    profile = next((p for p in state.sobjects("Profile") if p["Id"] == user["ProfileId"]), {})
    if profile.get("Name") in profiles:
        return True
    assigned = {
        a["PermissionSetId"]
        for a in state.sobjects("PermissionSetAssignment")
        if a["AssigneeId"] == user["Id"]
    }
    names = {p["Name"] for p in state.sobjects("PermissionSet") if p["Id"] in assigned}
    return bool(names & psets)


def _split(value: Any) -> set[str]:
    return {v.strip() for v in str(value or "").split(",") if v.strip()}


def _client_pair(form: dict[str, str], authorization: str | None) -> tuple[str, str | None]:
    """client_id and client_secret from the form, or from HTTP Basic auth when present."""
    key, secret = form.get("client_id", ""), form.get("client_secret")
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except ValueError as exc:
            raise OAuthError("invalid_client", "invalid client credentials") from exc
        key, _, secret = decoded.partition(":")
    return key, secret


def _refresh_token(
    form: dict[str, str], authorization: str | None, state: OrgState
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The refresh-token grant an SFDX auth URL uses (`org.refresh_tokens` in the state).

    Each registered token names its user, the client id it was issued to and, when the app
    requires one on refresh, the client secret. Error pairs as Salesforce answers them:
    `invalid_grant`/`expired access/refresh token` for an unknown or revoked token (UNVERIFIED
    whether a token issued to another client gets this or `invalid_client_id`; the emulator
    checks the token first, like the real endpoint appears to).
    """
    key, secret = _client_pair(form, authorization)
    tokens: dict[str, Any] = state.org.get("refresh_tokens") or {}
    record = tokens.get(form.get("refresh_token", ""))
    if not isinstance(record, dict):
        raise OAuthError("invalid_grant", "expired access/refresh token")
    if not key or key != record.get("client_id"):
        raise OAuthError("invalid_client_id", "client identifier invalid")
    expected = record.get("client_secret")
    if expected and secret != expected:
        raise OAuthError("invalid_client", "invalid client credentials")
    user = state.find_user(str(record.get("username") or ""))
    if user is None:
        raise OAuthError("invalid_grant", "inactive user")
    return user, {}


def _client_credentials(
    form: dict[str, str],
    authorization: str | None,
    state: OrgState,
    source_ip: str,
    login_url: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Client credentials: both switches on and an active run-as user (ECA reference §6).

    Every request whose client id names an app is recorded in LoginHistory as a login of the
    run-as user, success or failure (§14); a wrong secret for a known client id is a failed
    login, which is what a stolen-but-wrong secret or a brute-force attempt looks like. An
    unknown client id names no app and records nothing. Whether Salesforce records a failure
    for which no run-as user resolves (none set, or no such user) is UNVERIFIED: the emulator
    records a row only when the policy's clientCredentialsFlowUser names an existing user
    (active or not), since a LoginHistory row needs a UserId.
    """
    key, secret = _client_pair(form, authorization)
    connected = _connected_by_key(state, key)
    if connected is not None:
        # A Connected App has one switch and its execution user in oauthConfig (§15).
        app, oauth = connected
        policy = {
            "isClientCredentialsFlowEnabled": oauth.get("isClientCredentialEnabled"),
            "clientCredentialsFlowUser": oauth.get("oauthClientCredentialUser"),
        }
        settings = {**oauth, "isClientCredentialsFlowEnabled": True}
    else:
        settings = _settings_by_key(state, key)
        app = str(settings.get("externalClientApplication", ""))
        policy = _policy_for(state, app)
    run_as = state.find_user(str(policy.get("clientCredentialsFlowUser") or ""), False)

    def refuse(status: str, error: str, description: str) -> OAuthError:
        if run_as is not None:
            lh.record_client_credentials(state, run_as["Id"], app, source_ip, status, login_url)
        return OAuthError(error, description)

    if secret != settings.get("consumerSecret"):
        raise refuse(lh.WRONG_SECRET, "invalid_client", "invalid client credentials")
    enabled = settings.get("isClientCredentialsFlowEnabled") and policy.get(
        "isClientCredentialsFlowEnabled"
    )
    # The documented pair is for a missing run-as user; using it for "flow disabled" and for
    # an inactive run-as user too is an assumption (UNVERIFIED).
    if not enabled:
        raise refuse(lh.FLOW_DISABLED, "invalid_grant", "no client credentials user enabled")
    if run_as is None or not run_as.get("IsActive"):
        raise refuse(lh.USER_INACTIVE, "invalid_grant", "no client credentials user enabled")
    lh.record_client_credentials(state, run_as["Id"], app, source_ip, lh.SUCCESS, login_url)
    return run_as, settings
