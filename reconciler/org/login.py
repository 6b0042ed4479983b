"""Log in to a real org the ways Salesforce teams already do: JWT bearer (what CI uses), a
Salesforce CLI alias, an SFDX auth URL. Each yields an instance URL, an access token and a way
to log in again, so an expired session is renewed once instead of failing the run.

Credentials stay in memory. Every one this module touches (private key, client id, assertion,
refresh token, client secret, access token) is registered with redaction.register_secret
before anything could print it, and no error message quotes a credential or the file holding
one: a malformed file is described, never echoed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ..display import cut, one_line, printable
from ..errors import OrgError, ReconcilerError
from ..redaction import register_secret, scrub
from .http import GuardedSession, transport_error
from .target import ENV, FLAGS, LoginOptions

log = logging.getLogger(__name__)

PRODUCTION = "https://login.salesforce.com"
SANDBOX = "https://test.salesforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce rejects an assertion whose `exp` is more than 3 minutes ahead [OAUTH, "exp ...
#: within 3 minutes"]; 170 s leaves room for a slightly fast local clock.
ASSERTION_SECONDS = 170
#: Hosts a JWT assertion, a refresh token or a client secret may be sent to: Salesforce's own
#: domains (production, sandboxes, My Domain, Government Cloud, the China instance).
SALESFORCE_SUFFIXES = (
    ".salesforce.com",
    ".force.com",
    ".cloudforce.com",
    ".salesforce.mil",
    ".sfcrmproducts.cn",
)
MAX_CREDENTIAL_FILE = 64 * 1024
INSTALL_SF = "npm install --global @salesforce/cli"
#: What an access token looks like: opaque `00D…!AQ…` or a JWT-based token. Anything else in
#: `accessToken` (e.g. "[REDACTED] Use 'sf org auth show-access-token' to view") is not one.
_TOKEN = re.compile(r"^[A-Za-z0-9!._~+/=-]{16,}$")
#: sfdx-core AuthInfo.parseSfdxAuthUrl's pattern, anchored at both ends.
_SFDX_URL = re.compile(
    r"^force://([A-Za-z0-9._-]+={0,2}):([A-Za-z0-9._-]*={0,2}):([A-Za-z0-9._-]+={0,2})"
    r"@([A-Za-z0-9:._-]+)/?$"
)
_ALIAS = re.compile(r"^[^\s-][^\x00-\x1f\x7f]{0,254}$")


class LoginError(ReconcilerError):
    """A login could not be made; the message says which input or which answer, never a secret."""


@dataclass(frozen=True)
class Login:
    """A logged-in session; `relogin` returns a fresh access token (same instance)."""

    instance_url: str
    access_token: str
    relogin: Callable[[], str] | None
    how: str  # for messages: "JWT bearer", "sf CLI alias", "SFDX auth URL"


# -- shared ------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_instance_url(url: str) -> str:
    """`https://host[:port]` with no path: what simple-salesforce needs (wire doc §3, §11.2).

    simple-salesforce always speaks https, whatever the scheme given; plain http is refused
    except to loopback, where it is accepted for convenience and still spoken as https.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ReconcilerError(
            f"--instance-url {url!r} is not a URL like https://acme.my.salesforce.com"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ReconcilerError(
            f"--instance-url {url!r} uses plain http; only https is allowed outside loopback"
        )
    port = f":{parts.port}" if parts.port and parts.port != 443 else ""
    return f"https://{parts.hostname}{port}"


def login_origin(url: str, what: str) -> str:
    """`https://host[:port]` for a URL credentials may be posted to, or a clear refusal.

    Only https, and only Salesforce's domains or loopback (the emulator, a local proxy): an
    assertion or refresh token sent elsewhere is a credential handed to a stranger.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "https" or not host or port == -1 or parts.username or parts.query:
        raise LoginError(
            f"{what} {printable(url)!r} is not an https URL like {PRODUCTION}, {SANDBOX} or "
            "https://MYDOMAIN.my.salesforce.com"
        )
    if parts.path.strip("/"):
        raise LoginError(f"{what} {printable(url)!r} must not have a path (give the host only)")
    if not (is_loopback(host) or host.endswith(SALESFORCE_SUFFIXES)):
        raise LoginError(
            f"{what} {printable(url)!r} is not a Salesforce login host (login.salesforce.com, "
            "test.salesforce.com or a My Domain such as acme.my.salesforce.com; loopback for "
            "a local emulator)"
        )
    shown_port = f":{port}" if port and port != 443 else ""
    return f"https://{host}{shown_port}"


def _instance_from(answer: Mapping[str, Any], fallback: str, what: str) -> str:
    """The org's instance URL from a token answer, held to the same host rules."""
    raw = answer.get("instance_url")
    if raw is None:
        return fallback
    if not isinstance(raw, str):
        raise LoginError(f"{what}: the token answer's instance_url is not a string")
    return login_origin(raw, f"{what}: the token answer's instance_url")


def _post_token(
    session: GuardedSession, origin: str, form: dict[str, str], timeout: float, what: str
) -> dict[str, Any]:
    """POST the form to <origin>/services/oauth2/token; the answer's JSON, or a LoginError
    carrying Salesforce's `error: error_description` (escaped, no credential in it)."""
    url = f"{origin}/services/oauth2/token"
    host = cut(printable(urlsplit(origin).netloc), 200)  # as it may be shown
    log.debug("%s: POST %s/services/oauth2/token", what, host)
    try:
        response = session.post(
            url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=timeout,
        )
    except OrgError as exc:
        raise LoginError(f"{what}: {exc}") from None
    except requests.RequestException as exc:
        raise LoginError(
            f"{what}: {transport_error(exc, 'token request', sent_matters=False)}"
        ) from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise LoginError(
            f"{what}: {host} answered HTTP "
            f"{response.status_code} without Salesforce's OAuth JSON; is the login URL right?"
        )
    if response.status_code != 200 or "error" in answer:
        error = _short(answer.get("error"), "unknown_error")
        description = _short(answer.get("error_description"), "")
        raise OAuthRefused(what, error, description, response.status_code)
    token = answer.get("access_token")
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise LoginError(f"{what}: the token answer carries no usable access_token")
    register_secret(token)
    return answer


def _short(value: Any, default: str) -> str:
    """Text relayed from another program (sf's error JSON, a token endpoint's answer), on one
    line, scrubbed before it is cut so no secret survives as a fragment: sf has printed access
    tokens in its error text before (issue 16)."""
    return printable(one_line(scrub(default if value is None else str(value)), 300))


class OAuthRefused(LoginError):
    """The token endpoint said no, in Salesforce's `{"error", "error_description"}` shape."""

    def __init__(self, what: str, error: str, description: str, status: int) -> None:
        self.error = error
        self.description = description
        hint = _HINTS.get((error, description)) or _HINTS.get((error, "")) or ""
        said = f"{error}: {description}" if description else error
        super().__init__(f"{what} refused (HTTP {status}): {said}" + (f". {hint}" if hint else ""))


_HINTS = {
    ("invalid_grant", "audience is invalid"): (
        "The JWT audience must match the login URL: use --login-url https://test.salesforce.com "
        "for a sandbox, or set SF_AUDIENCE_URL"
    ),
    ("invalid_client_id", ""): (
        "Check --client-id/SF_CLIENT_ID: it is the consumer key of the app that holds the "
        "certificate"
    ),
    ("invalid_grant", "user hasn't approved this consumer"): (
        "Pre-authorize the user: the app's OAuth policy must be 'Admin approved users are "
        "pre-authorized' with the user's profile or a permission set of theirs listed, and "
        "--username must be that user's exact username"
    ),
    ("invalid_grant", "invalid assertion"): (
        "The key in --jwt-key-file does not match the certificate registered on the app"
    ),
    ("invalid_grant", "expired authorization code"): "Check this machine's clock",
    ("invalid_grant", "expired access/refresh token"): (
        "The refresh token in the SFDX auth URL was revoked or expired; export a fresh one "
        "with `sf org auth show-sfdx-auth-url --target-org ALIAS --json`"
    ),
}


def _read_credential_file(path_text: str, flag: str) -> str:
    """A small text file holding a credential; errors name the flag and path, never content."""
    path = Path(path_text).expanduser()
    shown = printable(path_text)
    try:
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a regular file"
            raise LoginError(f"{flag} {shown}: {what}")
        if path.stat().st_size > MAX_CREDENTIAL_FILE:
            raise LoginError(f"{flag} {shown}: larger than {MAX_CREDENTIAL_FILE // 1024} KB")
        data = path.read_bytes()
    except OSError as exc:
        raise LoginError(f"{flag} {shown}: cannot read it ({exc.strerror or 'error'})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LoginError(f"{flag} {shown}: not a UTF-8 text file") from None
    register_secret(text)
    return text


# -- JWT bearer --------------------------------------------------------------------------------


def _private_key(path_text: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    text = _read_credential_file(path_text, "--jwt-key-file")
    shown = printable(path_text)
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except TypeError:
        raise LoginError(
            f"--jwt-key-file {shown}: the key is encrypted; give the unencrypted PEM key "
            "(keep it in your secret store)"
        ) from None
    except ValueError:
        raise LoginError(
            f"--jwt-key-file {shown}: not a PEM private key (expected -----BEGIN PRIVATE KEY----- "
            "or -----BEGIN RSA PRIVATE KEY-----)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise LoginError(f"--jwt-key-file {shown}: JWT bearer (RS256) needs an RSA key")
    return key


def jwt_audiences(login_url: str, environ: Mapping[str, str]) -> list[str]:
    """The `aud` values to try, in order.

    The login URL itself first (what the sf CLI tries first, and what Salesforce accepts for
    login.salesforce.com and test.salesforce.com). Salesforce documents only those two (and
    Experience Cloud site URLs) as audiences; whether a My Domain URL is accepted as its own
    audience is UNVERIFIED, so for a My Domain the documented audience follows as a fallback
    when the first is refused as "audience is invalid". SF_AUDIENCE_URL (the sf CLI's own
    override) replaces both.
    """
    override = (environ.get("SF_AUDIENCE_URL") or "").strip().rstrip("/")
    if override:
        return [override]
    host = urlsplit(login_url).hostname or ""
    if login_url in (PRODUCTION, SANDBOX) or is_loopback(host):
        return [login_url]
    return [login_url, SANDBOX if ".sandbox." in host else PRODUCTION]


def jwt_login(
    options: LoginOptions,
    session: GuardedSession,
    timeout: float,
    environ: Mapping[str, str] | None = None,
) -> Login:
    """JWT bearer: an RS256 assertion (iss client id, sub username, aud, exp) for a token."""
    environ = os.environ if environ is None else environ
    missing = [
        f"{FLAGS[f]} (or {ENV[f]})"
        for f in ("client_id", "username", "jwt_key_file")
        if not getattr(options, f)
    ]
    if missing:
        raise LoginError("JWT bearer login needs " + ", ".join(missing))
    assert options.client_id and options.username and options.jwt_key_file
    client_id, username = options.client_id, options.username
    register_secret(client_id)
    origin = login_origin(options.login_url or PRODUCTION, "--login-url")
    key = _private_key(options.jwt_key_file)
    audiences = jwt_audiences(origin, environ)

    def token() -> tuple[str, str]:
        import jwt

        refused: OAuthRefused | None = None
        for audience in audiences:
            claims = {
                "iss": client_id,
                "sub": username,
                "aud": audience,
                "exp": int(time.time()) + ASSERTION_SECONDS,
            }
            assertion = jwt.encode(claims, key, algorithm="RS256")
            register_secret(assertion)
            form = {"grant_type": JWT_GRANT, "assertion": assertion}
            try:
                answer = _post_token(session, origin, form, timeout, "JWT bearer login")
            except OAuthRefused as exc:
                if exc.description != "audience is invalid":
                    raise
                refused = exc
                continue
            return answer["access_token"], _instance_from(answer, origin, "JWT bearer login")
        assert refused is not None
        raise refused

    access_token, instance_url = token()
    return Login(instance_url, access_token, lambda: token()[0], "JWT bearer")


# -- Salesforce CLI alias ----------------------------------------------------------------------


def alias_login(alias: str, timeout: float) -> Login:
    """Instance URL and token from the Salesforce CLI's own login for ALIAS.

    `sf org display --json` gives result.instanceUrl and, in older sf versions (or with
    SF_TEMP_SHOW_SECRETS), result.accessToken; newer ones redact it to "[REDACTED] Use 'sf org
    auth show-access-token' to view", and then `sf org auth show-access-token --json` gives
    result.accessToken (plugin-org src/commands/org/display.ts, org/auth/show-access-token.ts).
    Both commands refresh the org's auth before answering, so running them again is a re-login.
    With --json neither prompts; stdin is closed all the same.
    """
    if not _ALIAS.match(alias):
        raise LoginError(
            f"-o {printable(alias)!r}: not an org alias or username (use -o emulator, or an "
            "alias from `sf org list`)"
        )
    sf = shutil.which("sf")
    if sf is None:
        raise LoginError(
            f"-o {printable(alias)}: the Salesforce CLI (`sf`) is not on PATH, so the alias "
            f"cannot be looked up. Install it ({INSTALL_SF}) and log in with `sf org login web "
            f"--alias {printable(alias)}`, or log in without it: --client-id, --username and "
            "--jwt-key-file (JWT bearer), --sfdx-url-file, or --instance-url with SF_ACCESS_TOKEN"
        )

    def fetch() -> tuple[str, str]:
        shown = f"sf org display --target-org {printable(alias)} --json"
        display = _sf_json(sf, ["org", "display", "--target-org", alias, "--json"], alias, timeout)
        raw_url = display.get("instanceUrl")
        if not isinstance(raw_url, str) or not raw_url:
            raise LoginError(f"`{shown}` gave no result.instanceUrl")
        instance = normalise_instance_url(raw_url)
        token = display.get("accessToken")
        if isinstance(token, str) and _TOKEN.match(token):
            register_secret(token)
            return instance, token
        args = ["org", "auth", "show-access-token", "--target-org", alias, "--json"]
        token = _sf_json(sf, args, alias, timeout).get("accessToken")
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise LoginError(
                f"`sf org auth show-access-token --target-org {printable(alias)} --json` gave no "
                "usable result.accessToken"
            )
        register_secret(token)
        return instance, token

    instance_url, access_token = fetch()
    return Login(instance_url, access_token, lambda: fetch()[1], "sf CLI alias")


def default_org(timeout: float) -> str | None:
    """The Salesforce CLI's default org (`sf config get target-org --json`), or None when sf
    is missing, fails, or has none set.

    plugin-settings (src/commands/config/get.ts, src/config.ts) answers `{"status": 0,
    "result": [{"name": "target-org", "value": "ALIAS", "success": true, "location": ...}]}`,
    with no `value` when unset. A `result` object (`{"value": ...}` or `{"target-org": ...}`)
    is accepted too, in case another sf version answers so (not seen).
    """
    sf = shutil.which("sf")
    if sf is None:
        return None
    try:
        done = subprocess.run(
            [sf, "config", "get", "target-org", "--json"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return None
    answer = _json_object(done.stdout) or _json_object(done.stderr)
    if answer is None or answer.get("status", done.returncode) != 0 or done.returncode != 0:
        return None
    result = answer.get("result")
    entries = result if isinstance(result, list) else [result]
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("success") is False:
            continue
        if entry.get("name", "target-org") != "target-org":
            continue
        value = entry.get("value", entry.get("target-org"))
        if isinstance(value, str) and _ALIAS.match(value.strip()):
            return value.strip()
    return None


def _sf_json(sf: str, args: list[str], alias: str, timeout: float) -> dict[str, Any]:
    """Run sf with --json; its `result` object, or a LoginError from sf's error JSON
    (`status` non-zero with `name` and `message`), which sf prints on stdout (older versions:
    stderr)."""
    shown = "sf " + " ".join(printable(a) for a in args)
    try:
        done = subprocess.run(
            [sf, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LoginError(f"`{shown}` did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise LoginError(f"`{shown}` could not be run ({exc.strerror or 'error'})") from None
    answer = _json_object(done.stdout) or _json_object(done.stderr)
    if answer is None:
        raise LoginError(f"`{shown}` exited {done.returncode} without JSON output")
    status = answer.get("status", done.returncode)
    if status != 0 or done.returncode != 0:
        name = _short(answer.get("name"), "error")
        message = _short(answer.get("message"), "(no message)")
        hint = ""
        if "NamedOrgNotFound" in name or "NoOrgFound" in name:
            hint = (
                f" Log in to it first (`sf org login web --alias {printable(alias)}` or "
                "`sf org login jwt`), or see `sf org list` for the aliases sf knows"
            )
        message = message.rstrip(".")
        raise LoginError(f"org {printable(alias)!r}: `{shown}` failed: {name}: {message}.{hint}")
    result = answer.get("result")
    if not isinstance(result, dict):
        raise LoginError(f"`{shown}` answered without a result object")
    return result


def _json_object(data: bytes) -> dict[str, Any] | None:
    text = data.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        start = text.find("{")  # a warning line before the JSON (older sf versions)
        if start <= 0:
            return None
        try:
            value = json.loads(text[start:])
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


# -- SFDX auth URL -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SfdxAuthUrl:
    client_id: str
    client_secret: str
    refresh_token: str
    instance: str  # https://host[:port]


def parse_sfdx_auth_url(path_text: str) -> SfdxAuthUrl:
    """Read `force://<clientId>:<clientSecret>:<refreshToken>@<instance>` from a file (the
    clientSecret may be empty), or the JSON of `sf org display --verbose --json` /
    `sf org auth show-sfdx-auth-url --json` holding it as result.sfdxAuthUrl."""
    text = _read_credential_file(path_text, "--sfdx-url-file").strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        inner = doc.get("result", doc) if isinstance(doc, dict) else None
        found = inner.get("sfdxAuthUrl") if isinstance(inner, dict) else None
        text = found.strip() if isinstance(found, str) else ""
    match = _SFDX_URL.match(text)
    if not match:
        raise LoginError(
            f"--sfdx-url-file {printable(path_text)}: does not hold an SFDX auth URL of the form "
            "force://<clientId>:<clientSecret>:<refreshToken>@<instance> (one line; no https:// "
            "before the instance). Export one with `sf org auth show-sfdx-auth-url --target-org "
            "ALIAS --json`"
        )
    client_id, secret, refresh, host = match.groups()
    for value in (client_id, secret, refresh):
        register_secret(value)
    instance = login_origin(f"https://{host}", "--sfdx-url-file: the instance")
    return SfdxAuthUrl(client_id, secret, refresh, instance)


def sfdx_url_login(path_text: str, session: GuardedSession, timeout: float) -> Login:
    """The refresh-token grant against the instance's token endpoint."""
    auth = parse_sfdx_auth_url(path_text)
    current = {"refresh_token": auth.refresh_token}

    def token() -> tuple[str, str]:
        form = {
            "grant_type": "refresh_token",
            "client_id": auth.client_id,
            "refresh_token": current["refresh_token"],
        }
        if auth.client_secret:
            form["client_secret"] = auth.client_secret
        answer = _post_token(session, auth.instance, form, timeout, "SFDX auth URL login")
        rotated = answer.get("refresh_token")
        if isinstance(rotated, str) and rotated:  # refresh token rotation: use the new one
            register_secret(rotated)
            current["refresh_token"] = rotated
        return answer["access_token"], _instance_from(answer, auth.instance, "SFDX auth URL")

    access_token, instance_url = token()
    return Login(instance_url, access_token, lambda: token()[0], "SFDX auth URL")


# -- which login -------------------------------------------------------------------------------
