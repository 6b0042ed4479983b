"""The Org for a running emulator (registry.py opens every other way in, and this one too).

The emulator is just an org at a loopback URL with a self-signed certificate, reached through
the same SalesforceOrg over simple-salesforce, so the planner cannot tell it from a real org.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .http import GuardedSession
from .salesforce import SalesforceOrg
from .target import API_VERSION, DEFAULT_PARALLELISM

if TYPE_CHECKING:
    from ..emulator.server import EmulatorServer

__all__ = ["emulator_org"]


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
        return str(token)

    return login
