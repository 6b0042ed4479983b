"""The catalogue of managed fields: YAML key <-> Metadata API field, as data.

Every stage (desired-state validation, live-state decoding, planning, rendering, applying,
export) reads this one table, so adding a field is a one-line change here. Field names come
from shared/reference/salesforce-eca.md §2-§3 (Metadata WSDL v63.0); nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Side = Literal["settings", "policies", "connected"]
Kind = Literal["bool", "int", "str", "enum", "list", "url"]

#: Metadata types of the two sides (and the header) the reconciler reads.
APP_TYPE = "ExternalClientApplication"
SETTINGS_TYPE = "ExtlClntAppGlobalOauthSettings"
POLICIES_TYPE = "ExtlClntAppOauthConfigurablePolicies"
#: The two components of an External Client App.
ECA_SIDES: tuple[Side, Side] = ("settings", "policies")
#: A Connected App (the older kind of OAuth app) is one component, ECA reference §15: its
#: single "side" is `connected`, whose wire fields sit in the `oauthConfig` and `oauthPolicy`
#: sub-objects (WSDL types ConnectedAppOauthConfig, ConnectedAppOauthPolicy).
CONNECTED_TYPE = "ConnectedApp"
TYPE_OF_SIDE: dict[Side, str] = {
    "settings": SETTINGS_TYPE,
    "policies": POLICIES_TYPE,
    "connected": CONNECTED_TYPE,
}
#: Connected Apps share the pipeline's app namespace with ECAs under this prefix: an ECA and a
#: Connected App may have the same API name (a team moving one to the other makes exactly
#: that), and a colon cannot occur in an API name, so keys never collide.
CONNECTED_PREFIX = "ConnectedApp:"


def connected_key(name: str) -> str:
    """The pipeline's key of the Connected App named `name`."""
    return CONNECTED_PREFIX + name


def is_connected(key: str) -> bool:
    return key.startswith(CONNECTED_PREFIX)


def yaml_path(key: str, path: str = "") -> str:
    """Where an app (and a field path of it) is declared in the YAML, for messages:
    `apps.<name>.<side>.<key>` for an ECA, `connected_apps.<name>.<key>` for a Connected App."""
    if is_connected(key):
        tail = path.removeprefix("connected.")
        return f"connected_apps.{bare_name(key)}" + (f".{tail}" if tail else "")
    return f"apps.{key}" + (f".{path}" if path else "")


def bare_name(key: str) -> str:
    """The org's API name of an app key (a Connected App's key loses its prefix)."""
    return key[len(CONNECTED_PREFIX) :] if is_connected(key) else key


#: Fields that hold credentials. They are never declared, rendered, logged or stored.
SECRET_FIELDS = frozenset({"consumerKey", "consumerSecret", "certificate"})


def without_secrets(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` with every secret removed, at any depth: a Connected App keeps its
    credentials inside `oauthConfig`, so removing top-level keys alone would leak them."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in SECRET_FIELDS:
            continue
        if isinstance(value, Mapping):
            value = without_secrets(value)
        elif isinstance(value, list):
            value = [without_secrets(v) if isinstance(v, Mapping) else v for v in value]
        out[key] = value
    return out


def secret_values(fields: Mapping[str, Any]) -> list[str]:
    """Every secret string in `fields`, at any depth (the redaction layer registers them)."""
    out: list[str] = []
    for key, value in fields.items():
        if key in SECRET_FIELDS and isinstance(value, str):
            out.append(value)
        elif isinstance(value, Mapping):
            out += secret_values(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    out += secret_values(item)
    return out


#: Action triggers, not state: true means "rotate on this deploy" (eca doc §2, §9).
ROTATE_FIELDS = frozenset({"shouldRotateConsumerKey", "shouldRotateConsumerSecret"})
#: YAML spellings a user might try for the above; each gets a pointed refusal.
FORBIDDEN_KEYS = {
    "consumer_key": "consumerKey",
    "consumer_secret": "consumerSecret",
    "certificate": "certificate",
    "rotate_consumer_key": "shouldRotateConsumerKey",
    "rotate_consumer_secret": "shouldRotateConsumerSecret",
}


#: The Metadata WSDL types both int fields `int` (salesforce-eca.md §3), i.e. xsd:int: a larger
#: number cannot be sent at all. Whether Salesforce accepts every value up to this bound is
#: UNVERIFIED; the check only keeps what we send representable, and the org judges the rest.
INT_MAX = 2_147_483_647

#: What each kind accepts, as error messages say it.
ALLOWED: dict[str, str] = {
    "bool": "true or false",
    "int": f"a whole number from 0 to {INT_MAX}",
    "str": "a non-empty string",
    "list": "a list of names without commas, e.g. [Standard User]",
    "url": "a URL or a list of URLs",
}


@dataclass(frozen=True)
class FieldSpec:
    """One managed field. `key` is the YAML path inside its side (dotted for nested keys)."""

    side: Side
    key: str
    wire: str
    kind: Kind
    #: YAML value -> wire value, for enums.
    choices: Mapping[str, str] = field(default_factory=dict)
    #: True when `true` turns an OAuth flow on: such changes are marked in plans.
    flow_switch: bool = False
    doc: str = ""
    #: Fields of one `group` (per side) are one setting in Salesforce (the refresh-token policy,
    #: its period and its unit, eca doc §3): a mix of old and new values is a setting nobody
    #: chose, so rollback and the applier's stale check treat the group as a unit.
    group: str = ""
    #: Side-qualified key, e.g. `policies.refresh_token.period`; unique across the catalogue.
    #: Computed once: planning, decoding and rendering ask for it hundreds of thousands of times.
    path: str = field(init=False, repr=False, compare=False)
    _from_choice: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", f"{self.side}.{self.key}")
        reverse = {wire: yaml for yaml, wire in self.choices.items()}
        object.__setattr__(self, "_from_choice", reverse)

    def to_wire(self, value: Any) -> Any:
        """Encode a validated YAML value for the Metadata API."""
        if value is None:
            return None
        if self.kind == "enum":
            return self.choices[value]
        if self.kind == "list":
            return ",".join(value)
        if self.kind == "url" and isinstance(value, list):
            return "\n".join(value)
        return value

    def from_wire(self, value: Any) -> Any:
        """Decode a live value into YAML terms; unknown enum values are kept verbatim."""
        if value is None:
            return None
        if self.kind == "enum":
            return self._from_choice.get(value, value)
        if self.kind == "list":
            return [part.strip() for part in str(value).split(",") if part.strip()]
        if self.kind == "url":
            return str(value).strip()
        if self.kind == "bool" and isinstance(value, str):
            return value.strip().lower() == "true"
        if self.kind == "int" and isinstance(value, str):
            return int(value)
        return value

    def parse(self, raw: Any) -> Any:
        """A user-supplied value (YAML, or a plan file) in canonical form.

        Raises ValueError whose message says what is allowed; both the YAML validator and the
        plan-file loader use this, so a hand-edited plan cannot smuggle in a value YAML refuses.
        """
        kind = self.kind
        if kind == "bool" and isinstance(raw, bool):
            return raw
        if (
            kind == "int"
            and isinstance(raw, int)
            and not isinstance(raw, bool)
            and 0 <= raw <= INT_MAX
        ):
            return raw
        if kind == "str" and isinstance(raw, str) and raw.strip():
            return raw.strip()
        if kind == "enum" and isinstance(raw, str) and raw in self.choices:
            return raw
        names = isinstance(raw, list) and raw and all(isinstance(i, str) and i.strip() for i in raw)
        if kind == "list" and names and not any("," in item for item in raw):
            return [item.strip() for item in raw]
        if kind == "url" and isinstance(raw, str) and raw.strip():
            return raw.strip()
        if kind == "url" and names:
            return self.canonical([item.strip() for item in raw])
        raise ValueError(ALLOWED[kind] if kind != "enum" else " | ".join(self.choices))

    def canonical(self, value: Any) -> Any:
        """Normalise a YAML value so equal meanings compare equal (URL lists join by newline)."""
        if self.kind == "url" and isinstance(value, list):
            return "\n".join(value)
        return value


def _s(key: str, wire: str, kind: Kind = "bool", **kw: Any) -> FieldSpec:
    return FieldSpec("settings", key, wire, kind, **kw)


def _p(key: str, wire: str, kind: Kind = "bool", **kw: Any) -> FieldSpec:
    return FieldSpec("policies", key, wire, kind, **kw)


CATALOGUE: tuple[FieldSpec, ...] = (
    # Developer side: ExtlClntAppGlobalOauthSettings.
    _s(
        "client_credentials",
        "isClientCredentialsFlowEnabled",
        flow_switch=True,
        doc="OAuth 2.0 client credentials flow (developer-side switch)",
    ),
    _s(
        "code_credentials",
        "isCodeCredFlowEnabled",
        flow_switch=True,
        doc="Authorization Code and Credentials flow",
    ),
    _s(
        "code_credentials_post_only",
        "isCodeCredPostOnly",
        doc="credentials must be POSTed to /services/oauth2/authorize",
    ),
    _s("device", "isDeviceFlowEnabled", flow_switch=True, doc="OAuth 2.0 device flow"),
    _s(
        "token_exchange",
        "isTokenExchangeEnabled",
        flow_switch=True,
        doc="token exchange (developer-side switch)",
    ),
    _s("jwt_access_tokens", "isNamedUserJwtEnabled", doc="issue JWT-based access tokens"),
    _s("pkce_required", "isPkceRequired", doc="require PKCE"),
    _s(
        "consumer_secret_optional",
        "isConsumerSecretOptional",
        doc="secret optional in the web server flow",
    ),
    _s("refresh_token_rotation", "isRefreshTokenRotationEnabled", doc="rotate refresh tokens"),
    _s(
        "secret_required_for_refresh_token",
        "isSecretRequiredForRefreshToken",
        doc="secret required on refresh",
    ),
    _s(
        "secret_required_for_token_exchange",
        "isSecretRequiredForTokenExchange",
        doc="secret required for token exchange",
    ),
    _s("introspect_all_tokens", "isIntrospectAllTokens", doc="app may introspect all tokens"),
    _s("callback_url", "callbackUrl", "url", doc="OAuth redirect URI(s); a list for several"),
    # Admin side: ExtlClntAppOauthConfigurablePolicies.
    _p(
        "client_credentials",
        "isClientCredentialsFlowEnabled",
        flow_switch=True,
        doc="OAuth 2.0 client credentials flow (admin-side switch)",
    ),
    _p(
        "run_as",
        "clientCredentialsFlowUser",
        "str",
        doc="username the client credentials flow runs as",
    ),
    _p(
        "token_exchange",
        "isTokenExchangeFlowEnabled",
        flow_switch=True,
        doc="token exchange (admin-side switch)",
    ),
    _p(
        "guest_code_credentials",
        "isGuestCodeCredFlowEnabled",
        flow_switch=True,
        doc="guest Authorization Code and Credentials flow",
    ),
    _p(
        "permitted_users",
        "permittedUsersPolicyType",
        "enum",
        choices={
            "admin_approved": "AdminApprovedPreAuthorized",
            "all_self_authorized": "AllSelfAuthorized",
        },
        doc="who may use the app",
    ),
    _p(
        "ip_relaxation",
        "ipRelaxationPolicyType",
        "enum",
        choices={
            "enforce": "Enforce",
            "bypass": "Bypass",
            "bypass_2factor": "Bypass_2factor",
            "enforce_relax_refresh": "Enforce_RelaxRefresh",
        },
        doc="IP restriction relaxation",
    ),
    _p(
        "refresh_token.policy",
        "refreshTokenPolicyType",
        "enum",
        choices={
            "infinite": "Infinite",
            "zero": "Zero",
            "specific_lifetime": "SpecificLifetime",
            "specific_inactivity": "SpecificInactivity",
        },
        doc="refresh token policy",
        group="refresh_token",
    ),
    _p(
        "refresh_token.period",
        "refreshTokenValidityPeriod",
        "int",
        doc="refresh token validity period",
        group="refresh_token",
    ),
    _p(
        "refresh_token.unit",
        "refreshTokenValidityUnit",
        "enum",
        choices={"hours": "Hours", "days": "Days", "months": "Months"},
        doc="unit of the refresh token period",
        group="refresh_token",
    ),
    _p(
        "session_level",
        "requiredSessionLevel",
        "enum",
        choices={"low": "LOW", "standard": "STANDARD", "high_assurance": "HIGH_ASSURANCE"},
        doc="session security level required",
    ),
    _p(
        "session_timeout_minutes",
        "sessionTimeoutInMinutes",
        "int",
        doc="session timeout in minutes (opaque tokens only)",
    ),
    _p("profiles", "commaSeparatedProfile", "list", doc="profiles granted access"),
    _p(
        "permission_sets",
        "commaSeparatedPermissionSet",
        "list",
        doc="permission sets granted access",
    ),
)


def _c(key: str, wire: str, kind: Kind = "bool", **kw: Any) -> FieldSpec:
    return FieldSpec("connected", key, wire, kind, **kw)


#: Connected App fields, YAML key -> `<sub-object>.<field>`. Every wire name is from the WSDL
#: simple-salesforce bundles (types ConnectedAppOauthConfig and ConnectedAppOauthPolicy), the
#: authority ECA reference §15 names; YAML keys are the ECA ones where the meaning is the same.
#: There is no device-flow field in ConnectedAppOauthConfig, so no `device` key.
#: `ipRelaxation` and `refreshTokenPolicy` are plain strings in the WSDL and the reference gives
#: no list of their values (only the example `specific_inactivity:30:DAYS`): they are kept
#: verbatim, and controls compare them case-insensitively (controls.Requirement).
CONNECTED_CATALOGUE: tuple[FieldSpec, ...] = (
    _c(
        "client_credentials",
        "oauthConfig.isClientCredentialEnabled",
        flow_switch=True,
        doc="OAuth 2.0 client credentials flow (a Connected App's one switch)",
    ),
    _c(
        "run_as",
        "oauthConfig.oauthClientCredentialUser",
        "str",
        doc="username the client credentials flow runs as",
    ),
    _c(
        "code_credentials",
        "oauthConfig.isCodeCredentialEnabled",
        flow_switch=True,
        doc="Authorization Code and Credentials flow",
    ),
    _c(
        "code_credentials_post_only",
        "oauthConfig.isCodeCredentialPostOnly",
        doc="credentials must be POSTed to /services/oauth2/authorize",
    ),
    _c(
        "token_exchange",
        "oauthConfig.isTokenExchangeEnabled",
        flow_switch=True,
        doc="token exchange (oauthConfig switch)",
    ),
    _c(
        "token_exchange_policy",
        "oauthPolicy.isTokenExchangeFlowEnabled",
        flow_switch=True,
        doc="token exchange (oauthPolicy switch)",
    ),
    _c("jwt_access_tokens", "oauthConfig.isNamedUserJwtEnabled", doc="issue JWT access tokens"),
    _c("pkce_required", "oauthConfig.isPkceRequired", doc="require PKCE"),
    _c(
        "consumer_secret_optional",
        "oauthConfig.isConsumerSecretOptional",
        doc="secret optional in the web server flow",
    ),
    _c(
        "refresh_token_rotation",
        "oauthConfig.isRefreshTokenRotationEnabled",
        doc="rotate refresh tokens",
    ),
    _c(
        "secret_required_for_refresh_token",
        "oauthConfig.isSecretRequiredForRefreshToken",
        doc="secret required on refresh",
    ),
    _c(
        "secret_required_for_token_exchange",
        "oauthConfig.isSecretRequiredForTokenExchange",
        doc="secret required for token exchange",
    ),
    _c(
        "introspect_all_tokens",
        "oauthConfig.isIntrospectAllTokens",
        doc="app may introspect all tokens",
    ),
    _c(
        "admin_approved",
        "oauthConfig.isAdminApproved",
        doc="oauthConfig.isAdminApproved (its exact effect is not in the reference)",
    ),
    _c("callback_url", "oauthConfig.callbackUrl", "url", doc="OAuth redirect URI(s)"),
    _c(
        "ip_relaxation",
        "oauthPolicy.ipRelaxation",
        "str",
        doc="IP restriction relaxation, as the org spells it (e.g. ENFORCE)",
    ),
    _c(
        "refresh_token",
        "oauthPolicy.refreshTokenPolicy",
        "str",
        doc="refresh token policy, as the org spells it (e.g. specific_inactivity:30:DAYS)",
    ),
)
#: Every field of both kinds of app. `CATALOGUE` stays the ECA fields (the `apps:` sides the
#: README table and the ECA schema describe); Connected App fields are looked up by path too.
ALL_SPECS: tuple[FieldSpec, ...] = CATALOGUE + CONNECTED_CATALOGUE

BY_PATH: dict[str, FieldSpec] = {spec.path: spec for spec in ALL_SPECS}
#: Keys that hold a nested mapping in YAML (`refresh_token: {policy, period, unit}`).
NESTED_KEYS: dict[Side, dict[str, list[str]]] = {"settings": {}, "policies": {}, "connected": {}}
for _spec in ALL_SPECS:
    if "." in _spec.key:
        _parent, _child = _spec.key.split(".", 1)
        NESTED_KEYS[_spec.side].setdefault(_parent, []).append(_child)


#: (side, group) -> the paths of its fields, in catalogue order.
GROUPS: dict[tuple[Side, str], tuple[str, ...]] = {}
for _spec in CATALOGUE:
    if _spec.group:
        _key = (_spec.side, _spec.group)
        GROUPS[_key] = (*GROUPS.get(_key, ()), _spec.path)


def coupled(path: str) -> tuple[str, ...]:
    """The paths that are one setting with `path` (itself included), or just `path`."""
    spec = BY_PATH[path]
    return GROUPS[(spec.side, spec.group)] if spec.group else (path,)


_OF_SIDE: dict[Side, tuple[FieldSpec, ...]] = {
    side: tuple(spec for spec in ALL_SPECS if spec.side == side)
    for side in ("settings", "policies", "connected")
}


def specs_of(side: Side) -> list[FieldSpec]:
    """The catalogue entries of one side, in catalogue order."""
    return list(_OF_SIDE[side])


#: The reader already types values by the WSDL, so booleans and whole numbers arrive decoded:
#: decode_component passes those through without from_wire's checks (10,000 components per
#: plan of 5,000 apps), and sends everything else through it.
_PASS_THROUGH = {"bool": bool, "int": int}
_DECODING: dict[Side, tuple[tuple[str, str, type | None, FieldSpec], ...]] = {
    side: tuple((spec.path, spec.wire, _PASS_THROUGH.get(spec.kind), spec) for spec in specs)
    for side, specs in _OF_SIDE.items()
}


def decode_component(side: Side, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Live component fields -> {field path: YAML-terms value} for every managed field."""
    out: dict[str, Any] = {}
    for path, wire, plain, spec in _DECODING[side]:
        value = wire_get(fields, wire)
        if value is None or (plain is not None and type(value) is plain):
            out[path] = value
        else:
            out[path] = spec.from_wire(value)
    return out


def wire_get(fields: Mapping[str, Any], wire: str) -> Any:
    """A wire field's value; a dotted name reaches into a sub-object (`oauthConfig.x`)."""
    if "." not in wire:
        return fields.get(wire)
    parent, child = wire.split(".", 1)
    sub = fields.get(parent)
    return sub.get(child) if isinstance(sub, Mapping) else None


def wire_set(fields: dict[str, Any], wire: str, value: Any) -> None:
    """Set a wire field in place; a dotted name sets it inside its sub-object (created when
    the component has none, so a write carries the sub-object the field belongs to)."""
    if "." not in wire:
        fields[wire] = value
        return
    parent, child = wire.split(".", 1)
    sub = fields.get(parent)
    if not isinstance(sub, dict):
        sub = fields[parent] = {}
    sub[child] = value
