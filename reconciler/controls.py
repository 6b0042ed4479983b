"""Security controls as data: what each one requires, why, and what enforcing it sets.

The engine (baseline.py) is generic; adding a control is adding an entry here. Field paths are
those of fields.py. A value of None (unset in the org) never counts as a violation: the
documented defaults of these switches are off (eca doc §2-§3), and for the few undocumented
ones (eca doc §13.6) an unset switch is at worst unknown, which the plan shows as `(unset)`.

Severity and CVSS of ECA-OAUTH-001 come from the control text (shared/seed). For the others
there is no published score; the ranges below are this project's estimate, and say so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["high", "medium", "low"]


@dataclass(frozen=True)
class Requirement:
    """A field must not hold any of `violating`; enforcing sets it (and companions) to `remedy`."""

    path: str
    violating: frozenset[Any]
    remedy: Mapping[str, Any]
    #: A violation that needs more than `path`'s value (e.g. a refresh-token period longer
    #: than 30 days): judged on all of the app's values, only when `path` is set.
    also: Callable[[Mapping[str, Any]], bool] | None = None

    def violated_by(self, values: Mapping[str, Any]) -> bool:
        value = values.get(self.path)
        if value is None:
            return False
        if self.also is not None and self.also(values):
            return True
        # Connected App strings (ipRelaxation, ...) have no documented spelling: folded.
        return value in self.violating or (
            isinstance(value, str) and value.casefold() in self.violating
        )


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    severity: Severity
    cvss: str
    #: GitHub code scanning's numeric `security-severity` (its bands: >=9 critical, >=7 high,
    #: >=4 medium): the midpoint of the CVSS range.
    security_severity: float
    rationale: str
    remediation: str
    source: str
    requirements: tuple[Requirement, ...] = field(default_factory=tuple)

    def violations(self, values: Mapping[str, Any]) -> list[Requirement]:
        return [r for r in self.requirements if r.violated_by(values)]

    def paths(self) -> set[str]:
        return {r.path for r in self.requirements}


def _off(path: str) -> Requirement:
    return Requirement(path, frozenset({True}), {path: False})


CONTROLS: tuple[Control, ...] = (
    Control(
        id="ECA-OAUTH-001",
        title="Client credentials flow disabled",
        severity="high",
        cvss="7.0-8.9",
        security_severity=8.0,
        rationale=(
            "The OAuth 2.0 client credentials flow lets an app act with no user present. When "
            "it is enabled, one leaked consumer secret gives persistent, unattended, MFA-free "
            "access at the run-as user's privilege, and the access survives password changes "
            "and deactivation of individual users. Higher risk when the run-as user has "
            "administrative rights or Modify All Data; lower when IP restrictions are enforced "
            "and a certificate replaces the shared secret."
        ),
        remediation=(
            "Deselect 'Enable Client Credentials Flow' in the app's OAuth settings "
            "(settings.client_credentials: false) and in its OAuth policies "
            "(policies.client_credentials: false); for a Connected App, in its OAuth settings "
            "(connected_apps: <name>: client_credentials: false); or record a justified, "
            "expiring exception."
        ),
        source="Salesforce Security Health guidance 'External Client Apps: OAuth Flow "
        "Enablement: Disable Client Credentials Flow' (shared/seed/000_ec6264bdf08a0dff.txt)",
        # Connected Apps carry the very same switch (oauthConfig.isClientCredentialEnabled,
        # ECA reference §15): the same control, so one exception syntax and one SARIF rule.
        requirements=(
            _off("settings.client_credentials"),
            _off("policies.client_credentials"),
            _off("connected.client_credentials"),
        ),
    ),
    Control(
        id="ECA-OAUTH-002",
        title="Device flow disabled",
        severity="medium",
        cvss="4.0-6.9 (project estimate)",
        security_severity=5.5,
        rationale=(
            "The device flow lets a user authorize an app by typing a short code on another "
            "device. Attackers start device authorizations themselves and phish victims into "
            "entering the code (device code phishing, RFC 8628 §5.4), obtaining tokens without "
            "the victim's password."
        ),
        remediation="Set settings.device: false unless the app runs on input-limited devices.",
        source="Metadata API guide, ExtlClntAppGlobalOauthSettings.isDeviceFlowEnabled; "
        "RFC 8628 §5.4 'Remote Phishing'",
        requirements=(_off("settings.device"),),
    ),
    Control(
        id="ECA-OAUTH-003",
        title="Token exchange disabled",
        severity="medium",
        cvss="4.0-6.9 (project estimate)",
        security_severity=5.5,
        rationale=(
            "Token exchange lets the app trade an external identity provider's token for a "
            "Salesforce token. A mis-trusted or compromised provider then mints Salesforce "
            "sessions; keep it off unless the integration needs it."
        ),
        remediation="Set settings.token_exchange: false and policies.token_exchange: false "
        "(a Connected App: token_exchange: false and token_exchange_policy: false).",
        source="Metadata API guide, isTokenExchangeEnabled / isTokenExchangeFlowEnabled",
        requirements=(
            _off("settings.token_exchange"),
            _off("policies.token_exchange"),
            _off("connected.token_exchange"),
            _off("connected.token_exchange_policy"),
        ),
    ),
    Control(
        id="ECA-OAUTH-004",
        title="Refresh tokens expire",
        severity="medium",
        cvss="4.0-6.9 (project estimate)",
        security_severity=5.0,
        rationale=(
            "With the refresh token policy 'valid until revoked' a stolen refresh token works "
            "forever. An inactivity or lifetime limit bounds the damage of a leak."
        ),
        remediation="Set policies.refresh_token to specific_inactivity or specific_lifetime "
        "(enforcing sets 90 days of inactivity).",
        source="Salesforce Help 'Configure OAuth Policies' (refresh token policy); Metadata "
        "API guide, ExtlClntAppOauthConfigurablePolicies.refreshTokenPolicyType",
        requirements=(
            Requirement(
                "policies.refresh_token.policy",
                frozenset({"infinite"}),
                {
                    "policies.refresh_token.policy": "specific_inactivity",
                    "policies.refresh_token.period": 90,
                    "policies.refresh_token.unit": "days",
                },
            ),
        ),
    ),
    Control(
        id="ECA-OAUTH-005",
        title="Only admin-approved users may use the app",
        severity="medium",
        cvss="4.0-6.9 (project estimate)",
        security_severity=5.0,
        rationale=(
            "'All users may self-authorize' lets any user connect the app, so a phished "
            "consent grants it that user's access. Admin approval limits use to assigned "
            "profiles and permission sets. Enforcing it blocks users who are not assigned."
        ),
        remediation="Set policies.permitted_users: admin_approved and assign profiles or "
        "permission sets.",
        source="Metadata API guide, ExtlClntAppOauthConfigurablePolicies.permittedUsersPolicyType",
        requirements=(
            Requirement(
                "policies.permitted_users",
                frozenset({"all_self_authorized"}),
                {"policies.permitted_users": "admin_approved"},
            ),
        ),
    ),
    Control(
        id="ECA-OAUTH-006",
        title="IP restrictions not bypassed",
        severity="medium",
        cvss="4.0-6.9 (project estimate)",
        security_severity=6.0,
        rationale=(
            "'Relax IP restrictions' lets tokens for this app be used from any network, so "
            "the org's login IP ranges no longer limit where a stolen token works."
        ),
        remediation="Set policies.ip_relaxation: enforce (enforcing sets it). "
        "enforce_relax_refresh and bypass_2factor also pass this control; bypass_2factor still "
        "relaxes IP restrictions, behind a second factor, and raises the risk grade.",
        source="Salesforce Help 'Configure OAuth Policies' (IP relaxation); Metadata API "
        "guide, ExtlClntAppOauthConfigurablePolicies.ipRelaxationPolicyType",
        requirements=(
            Requirement(
                "policies.ip_relaxation",
                frozenset({"bypass"}),
                {"policies.ip_relaxation": "enforce"},
            ),
        ),
    ),
)

#: Judged from usage evidence (usage.py), not from field values: it has no requirements, so
#: the value engine (baseline.py) never reports it; planning and audit add its findings.
UNUSED_EXCEPTION = "ECA-OAUTH-007"
CONTROLS += (
    Control(
        id=UNUSED_EXCEPTION,
        title="Exception for client credentials not used in the window",
        severity="low",
        cvss="0.1-3.9 (project estimate)",
        security_severity=2.0,
        rationale=(
            "An exception to ECA-OAUTH-001 is justified by an integration that needs the client "
            "credentials flow. When LoginHistory shows no successful client-credentials login "
            "of the app in the usage window (--usage-window, default 30 days), that "
            "justification no longer holds: the flow stays on, and its secret stays usable, "
            "for nobody."
        ),
        remediation=(
            "Confirm with the exception's owner that the integration is gone, then remove the "
            "exception and turn client credentials off; or renew the exception with a new "
            "justification if the integration runs less often than the window."
        ),
        source="This project (issue 15); LoginHistory facts from the ECA reference §14",
    ),
)


# -- partner controls (issue 18), off by default ---------------------------------------------

#: Days per refresh-token validity unit; a month counts as 31 days, so "1 month" is not
#: within a 30-day limit (the conservative reading).
_DAYS = {"hours": 1 / 24, "days": 1, "months": 31}
#: The reference's own example of a Connected App refresh-token policy (§15, 3P).
CONNECTED_IDLE_30 = "specific_inactivity:30:DAYS"


def _eca_idle_too_long(values: Mapping[str, Any]) -> bool:
    """An ECA's inactivity limit longer than 30 days (an unknown unit counts as too long)."""
    if values.get("policies.refresh_token.policy") != "specific_inactivity":
        return False
    period = values.get("policies.refresh_token.period")
    days = _DAYS.get(str(values.get("policies.refresh_token.unit")))
    return not isinstance(period, int) or days is None or period * days > 30


def _connected_idle_too_long(values: Mapping[str, Any]) -> bool:
    """A Connected App's `refreshTokenPolicy` (a free string; `specific_inactivity:30:DAYS` is
    the reference's example) that is not an inactivity limit of at most 30 days. Anything
    else, `zero` excepted, is a finding: a string this code cannot read is not assumed safe."""
    raw = str(values.get("connected.refresh_token") or "")
    parts = raw.casefold().split(":")
    if parts[0] == "zero":
        return False
    if parts[0] != "specific_inactivity" or len(parts) != 3 or not parts[1].isdigit():
        return True
    days = _DAYS.get(parts[2])
    return days is None or int(parts[1]) * days > 30


def _on(path: str) -> Requirement:
    return Requirement(path, frozenset({False}), {path: True})


_PARTNER = (
    "Salesforce's security requirements for partner apps used in more than two customer "
    "production orgs (packaging guide `secure_code_ac_eca`, deadline 11 May 2026; the "
    "four-item list is third-party, ECA reference §15)"
)
CONTROLS += (
    Control(
        id="ECA-PARTNER-001",
        title="PKCE required",
        severity="medium",
        cvss="4.0-6.9 (project estimate)",
        security_severity=5.0,
        rationale=(
            "Without PKCE an intercepted authorization code can be redeemed by whoever holds "
            "it. Partner apps must require PKCE. An unset value is not judged (the org did not "
            "say)."
        ),
        remediation="Set settings.pkce_required: true (a Connected App: pkce_required: true).",
        source=_PARTNER,
        requirements=(_on("settings.pkce_required"), _on("connected.pkce_required")),
    ),
    Control(
        id="ECA-PARTNER-002",
        title="Refresh-token rotation enabled",
        severity="medium",
        cvss="4.0-6.9 (project estimate)",
        security_severity=5.0,
        rationale=(
            "With rotation each refresh issues a new refresh token and retires the old one, "
            "so a stolen refresh token stops working once the app refreshes."
        ),
        remediation="Set settings.refresh_token_rotation: true (a Connected App: "
        "refresh_token_rotation: true).",
        source=_PARTNER,
        requirements=(
            _on("settings.refresh_token_rotation"),
            _on("connected.refresh_token_rotation"),
        ),
    ),
    Control(
        id="ECA-PARTNER-003",
        title="Refresh tokens expire after at most 30 days idle",
        severity="medium",
        cvss="4.0-6.9 (project estimate)",
        security_severity=5.0,
        rationale=(
            "A refresh token unused for 30 days should stop working. Caveat (ECA reference "
            "§15): the org-wide 'Limit the Idle Refresh Token TTL' setting for ECAs can be in "
            "force without appearing in the app's metadata, which may still read "
            "SpecificLifetime: a finding here may be enforced already; check Setup before "
            "changing the app."
        ),
        remediation="Set policies.refresh_token: {policy: specific_inactivity, period: 30, "
        "unit: days} (a Connected App: refresh_token: specific_inactivity:30:DAYS).",
        source=_PARTNER + "; Help `xcloud.eca_limit_idle_refresh_token_ttl.htm`",
        requirements=(
            Requirement(
                "policies.refresh_token.policy",
                frozenset({"infinite", "specific_lifetime"}),
                {
                    "policies.refresh_token.policy": "specific_inactivity",
                    "policies.refresh_token.period": 30,
                    "policies.refresh_token.unit": "days",
                },
                also=_eca_idle_too_long,
            ),
            Requirement(
                "connected.refresh_token",
                frozenset({"infinite"}),
                {"connected.refresh_token": CONNECTED_IDLE_30},
                also=_connected_idle_too_long,
            ),
        ),
    ),
    Control(
        id="ECA-PARTNER-004",
        title="IP restrictions apply to refresh tokens",
        severity="medium",
        cvss="4.0-6.9 (project estimate)",
        security_severity=5.5,
        rationale=(
            "Refresh tokens should only work from the org's allowed IP ranges: 'enforce' "
            "applies them; 'enforce_relax_refresh' relaxes them for refresh tokens, and the "
            "bypass values for everything. Connected Apps are not judged by this control: the "
            "values of their ipRelaxation are not in the reference (their risk grade still "
            "names relaxed IP restrictions)."
        ),
        remediation="Set policies.ip_relaxation: enforce.",
        source=_PARTNER,
        requirements=(
            Requirement(
                "policies.ip_relaxation",
                frozenset({"bypass", "bypass_2factor", "enforce_relax_refresh"}),
                {"policies.ip_relaxation": "enforce"},
            ),
        ),
    ),
)
#: Judged from a look-up of permission holders (approval_lookup.py), not from app fields: no
#: requirements, so the value engine never reports it; audit adds its findings.
APPROVAL_BYPASS = "ECA-APPROVAL-001"
CONTROLS += (
    Control(
        id=APPROVAL_BYPASS,
        title="No non-admin user can bypass Connected App approval",
        severity="high",
        cvss="7.0-8.9 (project estimate)",
        security_severity=7.5,
        rationale=(
            "'Use Any API Client' lets its holder use (and, until 8 December 2025, self-"
            "authorise) any API client, installed or not; 'Approve Uninstalled Connected Apps' "
            "lets its holder approve an app the org never installed. Held by a user who is not "
            "an administrator, either one reopens the door that app approval closes: a phished "
            "consent to an attacker's app. Administrators holding them are listed as notes."
        ),
        remediation="Remove the permission from the permission sets or profiles that grant it "
        "to non-administrators (the finding names them).",
        source="ECA reference §15 (Help KB 005132365, KB 005228838); permission field names "
        "UNVERIFIED: found by label in the PermissionSet describe",
    ),
)

#: Selectable, off by default (issue 18): the partner requirements, for ISVs and for orgs that
#: hold their own apps to them.
PARTNER_CONTROLS: tuple[str, ...] = tuple(c.id for c in CONTROLS if c.id.startswith("ECA-PARTNER"))

BY_ID: dict[str, Control] = {c.id: c for c in CONTROLS}
DEFAULT_BASELINE: tuple[str, ...] = ("ECA-OAUTH-001",)
