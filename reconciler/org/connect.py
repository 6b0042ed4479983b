"""Turn `-o ORG` / `--instance-url URL` into an open Org.

Both paths end in the same SalesforceOrg over simple-salesforce: the emulator is just an org at
a loopback URL with a self-signed certificate, so the planner cannot tell them apart.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import ReconcilerError
from ..paths import DEFAULT_EMULATOR_STATE
from .http import GuardedSession
from .interface import Org
from .login import LoginOptions, alias_login, choose, is_loopback, jwt_login, sfdx_url_login
from .retry import RetryPolicy
from .salesforce import API_VERSION, DEFAULT_PARALLELISM, SalesforceOrg

if TYPE_CHECKING:
    from ..emulator.server import EmulatorServer

TOKEN_ENV = "SF_ACCESS_TOKEN"


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


@contextlib.contextmanager
def connect(
    target: str | None = None,
    instance_url: str | None = None,
    *,
    api_version: str = API_VERSION,
    timeout: float = 60.0,
    parallelism: int = DEFAULT_PARALLELISM,
    retry: RetryPolicy | None = None,
    login: LoginOptions | None = None,
) -> Iterator[Org]:
    """Yield an open Org; an in-process emulator is stopped when the block ends.

    `login` carries the JWT bearer and SFDX auth URL flags (login.py); which way in is used is
    login.choose's decision, flags first, then SF_TARGET_ORG / SF_CLIENT_ID & co.
    """
    options: dict[str, Any] = {
        "api_version": api_version,
        "timeout": timeout,
        "parallelism": parallelism,
        "retry": retry,
    }
    method, target, login = choose(target, instance_url, login or LoginOptions(), os.environ)
    if method in ("jwt", "sfdx_url"):
        # REQUESTS_CA_BUNDLE and proxies apply to the login host (read per request, as requests
        # does) and then to the org, whose host is known only from the login's answer.
        session = GuardedSession(pool_size=parallelism)
        if method == "jwt":
            done = jwt_login(login, session, timeout)
        else:
            done = sfdx_url_login(login.sfdx_url_file or "", session, timeout)
        with _opened(done.instance_url, done.access_token, session, done.relogin, options) as org:
            yield org
        return
    if instance_url:
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise ReconcilerError(
                f"--instance-url needs the access token in the environment variable {TOKEN_ENV}, "
                "never a flag: from your pipeline's secret store, or from the Salesforce CLI "
                f"without a prompt: {TOKEN_ENV}=$(sf org auth show-access-token --target-org "
                "ALIAS --json | jq -r .result.accessToken). Simpler: -o ALIAS uses the sf CLI's "
                "login directly, and renews it when it expires"
            )
        # trust_env stays on: REQUESTS_CA_BUNDLE and proxies are honoured for real orgs. A
        # pasted token cannot be renewed, so there is no relogin: expiry stops the run cleanly.
        url = normalise_instance_url(instance_url)
        session = GuardedSession(pool_size=parallelism)
        with _opened(url, token, session, None, options) as org:
            yield org
        return
    if target and target.startswith("source:"):
        from .source import SourceOrg  # lazily: only a source folder needs it

        if not target[len("source:") :]:
            raise ReconcilerError("-o source:PATH needs a folder, e.g. -o source:force-app")
        yield SourceOrg(Path(target[len("source:") :]))
        return
    if not target:
        raise ReconcilerError(
            "no org given: use -o ALIAS (a Salesforce CLI login; or SF_TARGET_ORG), JWT bearer "
            "(--client-id, --username, --jwt-key-file [--login-url]; or SF_CLIENT_ID, "
            "SF_USERNAME, SF_JWT_KEY_FILE [SF_LOGIN_URL]), --sfdx-url-file FILE, --instance-url "
            f"URL with {TOKEN_ENV}, or -o emulator[:STATE_FILE] for the built-in emulator"
        )
    if target != "emulator" and not target.startswith("emulator:"):
        # Any other -o value is a Salesforce CLI alias or username (as for sf's --target-org).
        done = alias_login(target, timeout)
        session = GuardedSession(pool_size=parallelism)
        with _opened(done.instance_url, done.access_token, session, done.relogin, options) as org:
            yield org
        return
    from ..emulator.server import EmulatorServer  # noqa: F811 - lazily: real orgs need none

    state = Path(target.partition(":")[2] or DEFAULT_EMULATOR_STATE)
    state.parent.mkdir(parents=True, exist_ok=True)
    with (
        EmulatorServer(state) as server,
        contextlib.closing(emulator_org(server, **options)) as org,
    ):
        yield org


@contextlib.contextmanager
def _opened(
    url: str, token: str, session: GuardedSession, relogin: Any, options: dict[str, Any]
) -> Iterator[SalesforceOrg]:
    """A real org at `url`: the environment's proxy and CA bundle are read once, for that host
    (only now is it known, after a login), and the org's connections close with the block."""
    session.adopt_environment(url)
    with contextlib.closing(SalesforceOrg(url, token, session, relogin=relogin, **options)) as org:
        yield org


def emulator_org(server: EmulatorServer, **options: Any) -> SalesforceOrg:
    """An Org for a running emulator, trusting exactly its self-signed certificate.

    trust_env is off so that a REQUESTS_CA_BUNDLE meant for real orgs cannot override the
    emulator's certificate (requests lets the environment win over Session.verify; wire §11.3).
    The emulator's admin has a password in the state file, so an expired session can be
    renewed with a real SOAP login over the wire, as a repeatable login would on a real org.
    """
    session = GuardedSession(pool_size=options.get("parallelism") or DEFAULT_PARALLELISM)
    session.trust_env = False
    session.verify = server.ca_cert_path
    options = {k: v for k, v in options.items() if v is not None}
    return SalesforceOrg(
        server.instance_url,
        server.access_token,
        session,
        relogin=_soap_login(server, session, options.get("api_version", API_VERSION)),
        **options,
    )


def _soap_login(server: EmulatorServer, session: GuardedSession, version: str) -> Any:
    """A partner SOAP login (wire doc §2) as the emulator's admin, if it has a password."""
    passwords: dict[str, str] = server.state.org.get("passwords") or {}
    if not passwords:
        return None
    username, password = next(iter(passwords.items()))

    def login() -> str:
        from lxml import etree

        from ..errors import SessionExpired
        from .soap import SOAP_ENV

        partner = "urn:partner.soap.sforce.com"
        root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV, "p": partner})
        body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
        call = etree.SubElement(body, f"{{{partner}}}login")
        etree.SubElement(call, f"{{{partner}}}username").text = username
        etree.SubElement(call, f"{{{partner}}}password").text = password
        response = session.post(
            f"{server.instance_url}/services/Soap/u/{version}",
            data=etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "login"},
            timeout=30,
        )
        token = etree.fromstring(response.content).findtext(f".//{{{partner}}}sessionId")
        if response.status_code != 200 or not token:
            raise SessionExpired("logging in again failed: the org refused the login")
        return token

    return login
