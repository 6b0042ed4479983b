"""Fixtures: a started emulator and real simple-salesforce clients pointed at it over HTTPS."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from reconciler.emulator.server import EmulatorServer


class RewriteHostAdapter(HTTPAdapter):
    """Send every https:// request to the emulator: login hosts are forced to *.salesforce.com
    by simple-salesforce (wire doc §11.4), the path and query stay as they are."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.netloc = urlsplit(target).netloc

    def send(self, request, **kwargs):  # type: ignore[override]
        parts = urlsplit(request.url)
        request.url = urlunsplit(("https", self.netloc, parts.path, parts.query, ""))
        return super().send(request, **kwargs)


@pytest.fixture(scope="session")
def _shared_server(tmp_path_factory) -> Iterator[tuple[EmulatorServer, dict]]:
    """One server per run (zeep's WSDL load costs ~0.3 s per client); state reset per test."""
    with EmulatorServer(tmp_path_factory.mktemp("org") / "state.json") as srv:
        yield srv, copy.deepcopy(srv.state.doc)


@pytest.fixture
def server(_shared_server) -> EmulatorServer:
    srv, pristine = _shared_server
    with srv.state.lock:
        srv.state.doc = copy.deepcopy(pristine)
        srv.state.save()
    srv.faults.reset()  # `after`/`times` count per server; each test starts from zero
    srv.redirects_followed = 0
    return srv


@pytest.fixture(scope="session")
def _shared_sf(_shared_server) -> Salesforce:
    return make_sf(_shared_server[0])


def make_session(srv: EmulatorServer, rewrite: bool = False) -> requests.Session:
    s = requests.Session()
    s.verify = srv.ca_cert_path
    s.trust_env = False  # ignore REQUESTS_CA_BUNDLE / proxies from the environment
    if rewrite:
        s.mount("https://", RewriteHostAdapter(srv.instance_url))
    return s


def make_sf(srv: EmulatorServer, token: str | None = None) -> Salesforce:
    sf = Salesforce(
        instance_url=srv.instance_url,
        session_id=token or srv.access_token,
        version="63.0",
        session=make_session(srv),
    )
    zeep_session = sf.mdapi._client.transport.session
    zeep_session.verify = srv.ca_cert_path
    zeep_session.trust_env = False
    return sf


@pytest.fixture
def sf(server: EmulatorServer, _shared_sf: Salesforce) -> Salesforce:
    return _shared_sf


def soap_post(srv: EmulatorServer, inner: str, token: str | None = None, header: str = ""):
    """Post a hand-written Metadata envelope (jsforce style: default namespace, no prefixes)."""
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="http://soap.sforce.com/2006/04/metadata" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Header><SessionHeader><sessionId>{token or srv.access_token}</sessionId>"
        f"</SessionHeader>{header}</soapenv:Header><soapenv:Body>{inner}</soapenv:Body>"
        "</soapenv:Envelope>"
    )
    return make_session(srv).post(
        f"{srv.instance_url}/services/Soap/m/63.0",
        data=envelope.encode(),
        headers={"Content-Type": "text/xml", "SOAPAction": '""'},
    )


@pytest.fixture
def sf_factory():
    """Build more clients (other tokens, restarted servers) inside a test."""
    return make_sf


@pytest.fixture
def session_factory():
    return make_session


@pytest.fixture
def soap():
    return soap_post
