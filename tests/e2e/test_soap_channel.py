"""The Metadata API channel (reconciler/org/soap_channel.py): urllib3's pool, not requests.

What requests gave the SOAP side for free must still hold: the environment's proxy (through an
HTTP CONNECT tunnel, with its credentials), no redirects, a size cap also for bodies of unknown
length, and dead keep-alive connections never reused. Servers here are real (TLS on loopback).
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.certs import make_self_signed
from reconciler.emulator.server import EmulatorServer
from reconciler.errors import IncompleteResponse, OrgError, OutcomeUnknown, TransientOrgError
from reconciler.live_state import read_live
from reconciler.org.http import GuardedSession, RedirectRefused, failure
from reconciler.org.salesforce import SalesforceOrg
from reconciler.org.soap_channel import SoapChannel

from .conftest import SHIPPED_DESIRED, assert_shipped_summary, cli_env, run_cli

PROXY_USER, PROXY_PASSWORD = "proxyuser", "proxy-pa55word"


class ConnectProxy:
    """A minimal HTTP CONNECT proxy: records each tunnel's target and Proxy-Authorization."""

    def __init__(self) -> None:
        self.tunnels: list[tuple[str, str | None]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        auth = next(
            (
                line.split(":", 1)[1].strip()
                for line in lines[1:]
                if line.lower().startswith("proxy-authorization:")
            ),
            None,
        )
        self.tunnels.append((f"{method} {target}", auth))
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = [client, upstream]
        try:
            while True:
                readable, _, _ = select.select(pair, [], [], 30)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self._closing = True
        self._listener.close()


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    p = ConnectProxy()
    yield p
    p.close()


@pytest.fixture
def server(org) -> Iterator[EmulatorServer]:
    srv = EmulatorServer(org.path).start()
    yield srv
    srv.stop()


def _expected_auth() -> str:
    return "Basic " + base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()


def test_metadata_reads_go_through_the_proxy_tunnel(server, proxy):
    session = GuardedSession()
    session.verify = server.ca_cert_path
    session.trust_env = False
    session.proxies = {"https": proxy.url}
    org = SalesforceOrg(server.instance_url, server.access_token, session)
    names = org.list_names(["ExtlClntAppOauthConfigurablePolicies"])
    assert names["ExtlClntAppOauthConfigurablePolicies"]
    target = f"CONNECT 127.0.0.1:{server.port}"
    assert proxy.tunnels, "the Metadata call bypassed the proxy"
    assert all(t == (target, _expected_auth()) for t in proxy.tunnels), proxy.tunnels


def test_cli_takes_https_proxy_from_the_environment(server, proxy, tmp_path):
    env = cli_env(
        SF_ACCESS_TOKEN=server.access_token,
        REQUESTS_CA_BUNDLE=server.ca_cert_path,
        HTTPS_PROXY=proxy.url,
    )
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        env.pop(name, None)
    result = run_cli(
        ["plan", "--instance-url", server.instance_url, "-d", SHIPPED_DESIRED], tmp_path, env
    )
    assert result.returncode == 0, result.stderr
    assert_shipped_summary(result.stdout)
    # REST (simple-salesforce) and SOAP (the channel) each open their own tunnel.
    assert len(proxy.tunnels) >= 2, proxy.tunnels
    assert PROXY_PASSWORD not in result.stdout + result.stderr


# -- a bare TLS server, for what the emulator does not send ----------------------------------


class _Raw(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answer: dict[str, Any] = {}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = self.answer["kind"]
        self.answer.setdefault("peers", []).append(self.client_address)
        if kind == "redirect":
            self.send_response(307)
            self.send_header("Location", "https://elsewhere.example.com/services/Soap/m/63.0/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(self.answer["chunks"]):
            self.wfile.write(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        # Kept alive as far as the client knows (no `Connection: close`), then closed.
        self.close_connection = bool(self.answer.get("hang_up"))


@pytest.fixture
def raw_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    key_pem, cert_pem = make_self_signed("raw", ips=("127.0.0.1",), dns_names=(), tls_only=True)
    (tmp_path / "cert.pem").write_text(cert_pem)
    (tmp_path / "key.pem").write_text(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Raw)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    # Polls for shutdown() every 10 ms (the default 0.5 s was most of each test's time).
    threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True).start()
    yield (
        f"https://127.0.0.1:{httpd.server_address[1]}/services/Soap/m/63.0/",
        str(tmp_path / "cert.pem"),
    )
    httpd.shutdown()
    httpd.server_close()


def test_chunked_reply_is_read_whole_under_the_cap_and_refused_past_it(raw_server):
    url, ca = raw_server
    _Raw.answer = {"kind": "chunked", "chunks": 3}
    channel = SoapChannel(url, verify=ca, max_response_bytes=3000)
    reply = channel.post(b"<x/>", call="readMetadata", write=False, timeout=10)
    assert reply.body == b"x" * 3000
    channel = SoapChannel(url, verify=ca, max_response_bytes=2500)
    with pytest.raises(IncompleteResponse, match="larger than"):
        channel.post(b"<x/>", call="readMetadata", write=False, timeout=10)


def test_redirect_is_refused_naming_both_hosts(raw_server):
    url, ca = raw_server
    _Raw.answer = {"kind": "redirect"}
    channel = SoapChannel(url, verify=ca, max_response_bytes=1000)
    with pytest.raises(RedirectRefused, match="127.0.0.1.*elsewhere.example.com"):
        channel.post(b"<x/>", call="updateMetadata", write=True, timeout=10)


def test_untrusted_certificate_is_not_retried_and_says_how_to_fix_it(raw_server):
    url, _ = raw_server
    channel = SoapChannel(url, verify=True, max_response_bytes=1000)
    with pytest.raises(Exception) as exc:
        channel.post(b"<x/>", call="readMetadata", write=False, timeout=10)
    assert not isinstance(exc.value, TransientOrgError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(exc.value)
    assert "REQUESTS_CA_BUNDLE" in str(exc.value)


def test_an_idle_connection_the_server_closed_is_not_reused(raw_server):
    """The server hangs up on a kept-alive connection while it sits in the pool: the next
    call opens a new one instead of failing on the dead one."""
    url, ca = raw_server
    _Raw.answer = {"kind": "chunked", "chunks": 1, "hang_up": True, "peers": []}
    channel = SoapChannel(url, verify=ca, max_response_bytes=3000)
    for _ in range(2):
        reply = channel.post(b"<x/>", call="updateMetadata", write=True, timeout=10)
        assert reply.body == b"x" * 1000
        time.sleep(0.2)  # the server's FIN reaches the idle connection
    peers = _Raw.answer["peers"]
    assert len(peers) == 2 and peers[0] != peers[1], peers  # a second TCP connection
    channel.close()


def test_lost_answer_of_a_write_is_in_doubt_and_shows_no_body_bytes():
    lost = http.client.IncompleteRead(b"<partial secret body>", 100)
    error = failure(
        "example.my.salesforce.com", "updateMetadata", lost, sent=True, sent_matters=True
    )
    assert isinstance(error, OutcomeUnknown)
    as_read = failure(
        "example.my.salesforce.com", "readMetadata", lost, sent=True, sent_matters=False
    )
    assert isinstance(as_read, TransientOrgError)
    assert "partial secret body" not in str(error) + str(as_read)
    assert "IncompleteRead" in str(as_read)


def test_reads_reuse_connections(server):
    """A plan's reads ride on at most `parallelism` TLS connections, not one per call."""
    session = GuardedSession()
    session.verify = server.ca_cert_path
    session.trust_env = False
    org = SalesforceOrg(server.instance_url, server.access_token, session, parallelism=2)
    read_live(org)
    read_live(org)
    assert 1 <= org._channel.connections_opened() <= 2, org._channel.connections_opened()


@pytest.mark.parametrize("way", ["emulator", "instance_url"])
def test_connections_are_closed_when_the_org_block_ends(org, server, monkeypatch, way):
    import os

    from reconciler.org.registry import open_org
    from reconciler.org.target import OrgTarget

    monkeypatch.setenv("SF_ACCESS_TOKEN", server.access_token)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_cert_path)
    target = (
        OrgTarget(target=f"emulator:{org.path}")
        if way == "emulator"
        else OrgTarget(instance_url=server.instance_url)
    )
    opening = open_org(target, os.environ)
    with opening as opened:
        read_live(opened)
        idle = opened._channel.idle_connections()
        assert idle and all(conn.sock is not None for conn in idle)
    assert not opened._channel.idle_connections()
    assert all(conn.sock is None for conn in idle)


@pytest.mark.parametrize(
    ("proxy", "words"),
    [
        ("http://user:pa55@proxy.example.com:80x", "HTTPS_PROXY.*invalid port"),
        ("https://user:pa55@proxy.example.com:443", "set HTTPS_PROXY to the proxy's http://"),
    ],
)
def test_an_unusable_proxy_is_a_clean_error_without_its_password(proxy, words):
    with pytest.raises(OrgError, match=words) as exc:
        SoapChannel(
            "https://example.my.salesforce.com/services/Soap/m/63.0/",
            proxy=proxy,
            max_response_bytes=1000,
        )
    assert "pa55" not in str(exc.value)


@pytest.mark.parametrize("bundle", ["missing.pem", "not-a-certificate.pem"])
def test_an_unusable_ca_bundle_is_a_clean_error_naming_the_variable(tmp_path, bundle):
    (tmp_path / "not-a-certificate.pem").write_text("hello\n")
    env = cli_env(
        SF_ACCESS_TOKEN="00D000000000001!token", REQUESTS_CA_BUNDLE=str(tmp_path / bundle)
    )
    result = run_cli(
        ["plan", "--instance-url", "https://example.my.salesforce.com", "-d", SHIPPED_DESIRED],
        tmp_path,
        env,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("Error: cannot use the CA bundle"), result.stderr
    assert "REQUESTS_CA_BUNDLE" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_org_id_asked_from_two_threads_at_once_is_one_query(server):
    """read_live asks it from a worker thread; a second asker at that moment waits for the
    answer: one query, not two."""
    from reconciler.org.connect import emulator_org

    org = emulator_org(server)
    start = threading.Barrier(2)
    answers: list[str] = []

    def ask() -> None:
        start.wait()
        answers.append(org.org_id)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == ["00D000000000001EAA"] * 2
    assert server.metadata.calls["query"] == 1
