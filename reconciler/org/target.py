"""What names an org and how calls to it are made: plain values, cheap to import.

The CLI builds these from its options (`OPTIONS` says which), a Python caller builds them
directly; registry.py turns one into an open Org. Nothing here touches the network, so
`--help` and `validate` can import it without the org stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .retry import RetryPolicy

#: The default number of org calls in flight (salesforce.py uses the same).
DEFAULT_PARALLELISM = 8
DEFAULT_RETRIES, DEFAULT_RETRY_SECONDS, DEFAULT_TIMEOUT = 3, 60.0, 60.0
#: API version of the WSDL simple-salesforce bundles, whose field list drives typing and order.
API_VERSION = "63.0"

ENV = {
    "client_id": "SF_CLIENT_ID",
    "username": "SF_USERNAME",
    "jwt_key_file": "SF_JWT_KEY_FILE",
    "login_url": "SF_LOGIN_URL",
}
FLAGS = {
    "client_id": "--client-id",
    "username": "--username",
    "jwt_key_file": "--jwt-key-file",
    "login_url": "--login-url",
}


@dataclass(frozen=True)
class LoginOptions:
    """The login flags as given on the command line (None when absent)."""

    client_id: str | None = None
    username: str | None = None
    jwt_key_file: str | None = None
    login_url: str | None = None
    sfdx_url_file: str | None = None

    def jwt_flags(self) -> bool:
        return any((self.client_id, self.username, self.jwt_key_file))

    def with_jwt_environment(self, environ: Mapping[str, str]) -> LoginOptions:
        """Fill each JWT setting not given as a flag from its SF_* variable."""
        filled = {
            field: getattr(self, field) or (environ.get(var) or "").strip() or None
            for field, var in ENV.items()
        }
        return replace(self, **filled)


@dataclass(frozen=True)
class CallSettings:
    """How every call to the org is made, whichever way it was reached."""

    timeout: float = DEFAULT_TIMEOUT
    parallelism: int = DEFAULT_PARALLELISM
    #: Retries of a read, and of a save that failed transiently (re-read first).
    retries: int = DEFAULT_RETRIES
    retry_max_seconds: float = DEFAULT_RETRY_SECONDS
    api_version: str = API_VERSION

    @property
    def retry(self) -> RetryPolicy:
        from .retry import RetryPolicy

        return RetryPolicy(attempts=self.retries + 1, max_seconds=self.retry_max_seconds)


@dataclass(frozen=True)
class OrgTarget:
    """Which org, and how to log in to it: what -o, --instance-url and the login flags say."""

    target: str | None = None
    instance_url: str | None = None
    login: LoginOptions = field(default_factory=LoginOptions)
    calls: CallSettings = field(default_factory=CallSettings)

    def arguments(self) -> list[str]:
        """The org arguments as typed (no secret is ever one), for hints to paste back."""
        out: list[str] = []
        if self.target:
            out += ["-o", self.target]
        if self.instance_url:
            out += ["--instance-url", self.instance_url]
        for name in ("client_id", "username", "jwt_key_file", "login_url", "sfdx_url_file"):
            value = getattr(self.login, name)
            if value:
                out += [f"--{name.replace('_', '-')}", value]
        return out


@dataclass(frozen=True)
class Option:
    """A command-line option of the org group: `dest` is the OrgTarget/LoginOptions field."""

    flags: tuple[str, ...]
    dest: str
    metavar: str
    help: str


#: The login options, in --help order; `-o` is shared by the sf alias, source and emulator.
OPTIONS: tuple[Option, ...] = (
    Option(
        ("-o", "--target-org"),
        "target",
        "ORG",
        "A Salesforce CLI alias or username (sf's own login; or SF_TARGET_ORG), or "
        "`emulator` / `emulator:STATE_FILE` for the built-in org emulator.",
    ),
    Option(
        ("--instance-url",),
        "instance_url",
        "URL",
        "A real org (or compatible server); the access token comes from SF_ACCESS_TOKEN.",
    ),
    Option(
        ("--client-id",),
        "client_id",
        "KEY",
        "JWT bearer: consumer key of the app holding your certificate (or SF_CLIENT_ID).",
    ),
    Option(
        ("--username",), "username", "USER", "JWT bearer: the user to log in as (or SF_USERNAME)."
    ),
    Option(
        ("--jwt-key-file",),
        "jwt_key_file",
        "FILE",
        "JWT bearer: PEM private key matching the app's certificate (or SF_JWT_KEY_FILE).",
    ),
    Option(
        ("--login-url",),
        "login_url",
        "URL",
        "JWT bearer: https://login.salesforce.com (default), https://test.salesforce.com or a "
        "My Domain URL (or SF_LOGIN_URL).",
    ),
    Option(
        ("--sfdx-url-file",),
        "sfdx_url_file",
        "FILE",
        "A file holding an SFDX auth URL (force://CLIENT_ID:SECRET:REFRESH_TOKEN@INSTANCE), "
        "e.g. from `sf org auth show-sfdx-auth-url --json`.",
    ),
)


def target_from(values: Mapping[str, Any], calls: CallSettings) -> OrgTarget:
    """An OrgTarget from option values keyed by `Option.dest` (missing ones are None)."""
    login = LoginOptions(
        **{k: values.get(k) for k in ("client_id", "username", "jwt_key_file", "login_url")},
        sfdx_url_file=values.get("sfdx_url_file"),
    )
    return OrgTarget(values.get("target"), values.get("instance_url"), login, calls)
