"""HTTPS org emulator: routes Salesforce URLs to the SOAP, OAuth and REST handlers.

stdlib ThreadingHTTPServer + ssl with a self-signed certificate (SAN IP:127.0.0.1,
DNS:localhost) made at start, so the real simple-salesforce/zeep clients talk to it as to an org.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from reconciler.emulator import auth
from reconciler.emulator.certs import make_self_signed
from reconciler.emulator.metadata_soap import MetadataService
from reconciler.emulator.rest_query import QueryEngine, QueryError
from reconciler.emulator.sessions import SessionStore
from reconciler.emulator.state import OrgState

API_LIMIT = 5000
_SOAP_M = re.compile(r"^/services/Soap/m/(?P<v>[\d.]+)(?:/.*)?$")
_SOAP_U = re.compile(r"^/services/Soap/u/(?P<v>[\d.]+)(?:/.*)?$")
_REST_Q = re.compile(
    r"^/services/data/v(?P<v>[\d.]+)/(?P<tooling>tooling/)?(?P<kind>query|queryAll)/?"
    r"(?P<locator>[^/]+)?/?$"
)


log = logging.getLogger(__name__)


class _QuietServer(ThreadingHTTPServer):
    """A client that drops the connection (e.g. rejects our self-signed certificate) is
    routine here; log it at debug level instead of printing a traceback to stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class EmulatorServer:
    """A running emulated org. Use as a context manager or call start()/stop()."""

    def __init__(
        self, state_path: str | os.PathLike[str], port: int = 0, host: str = "127.0.0.1"
    ) -> None:
        self.state = OrgState.load(state_path)
        self.host = host
        self.port = port
        self.sessions = SessionStore(self.state.org_id)
        admin = self.state.sobjects("User")[0]
        self.access_token = self.sessions.mint(admin["Id"])
        self.metadata = MetadataService(self.state)
        self.queries = QueryEngine(lambda: self.state.doc["sobjects"])
        self._tmp = tempfile.TemporaryDirectory(prefix="sf-emulator-")
        self.ca_cert_path = ""
        self.instance_url = ""
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._api_calls = 0
        self._counter_lock = threading.Lock()

    def start(self) -> EmulatorServer:
        key_pem, cert_pem = make_self_signed(
            "Salesforce org emulator", ips=("127.0.0.1",), dns_names=("localhost",)
        )
        cert_path = Path(self._tmp.name) / "emulator-cert.pem"
        key_path = Path(self._tmp.name) / "emulator-key.pem"
        cert_path.write_text(cert_pem)
        key_path.write_text(key_pem)
        self.ca_cert_path = str(cert_path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        httpd = _QuietServer((self.host, self.port), _make_handler(self))
        httpd.daemon_threads = True
        # Handshake in the worker thread, so one stalled client cannot block accept().
        httpd.socket = ctx.wrap_socket(
            httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = httpd.server_address[1]
        self.instance_url = f"https://{self.host}:{self.port}"
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._tmp.cleanup()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count_api_call(self) -> int:
        with self._counter_lock:
            self._api_calls += 1
            return self._api_calls


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "SalesforceEmulator/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Silent: request logs would carry session ids."""

        def _send(self, status: int, body: str, ctype: str, extra: dict[str, str] | None = None):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _json(self, status: int, payload: Any) -> None:
            n = server.count_api_call()
            self._send(
                status,
                json.dumps(payload),
                "application/json;charset=UTF-8",
                {"Sforce-Limit-Info": f"api-usage={n}/{API_LIMIT}"},
            )

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            path = urlsplit(self.path).path
            body = self._body()
            xml = "text/xml; charset=utf-8"
            if m := _SOAP_M.match(path):
                status, text = server.metadata.handle(body, server.sessions.get)
                self._send(status, text, xml)
            elif m := _SOAP_U.match(path):
                status, text = auth.soap_login(
                    body, server.state, server.sessions, server.instance_url, m["v"]
                )
                self._send(status, text, xml)
            elif path.rstrip("/") == "/services/oauth2/token":
                status, text = auth.oauth_token(
                    body,
                    self.headers.get("Authorization"),
                    server.state,
                    server.sessions,
                    server.instance_url,
                )
                self._send(status, text, "application/json;charset=UTF-8")
            else:
                self._not_found()

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            m = _REST_Q.match(parts.path)
            if m is None:
                self._not_found()
                return
            if self._bearer_session() is None:
                self._json(
                    401,
                    [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                )
                return
            base = f"/services/data/v{m['v']}" + ("/tooling" if m["tooling"] else "")
            server.metadata.calls["query"] += 1
            try:
                if m["locator"]:
                    result = server.queries.more(unquote(m["locator"]), base)
                else:
                    q = parse_qs(parts.query).get("q", [""])[0]
                    with server.state.lock:
                        result = server.queries.run(q, base)
            except QueryError as exc:
                self._json(400, [{"message": exc.message, "errorCode": exc.code}])
                return
            self._json(200, result)

        def _bearer_session(self):  # noqa: ANN202
            header = self.headers.get("Authorization") or ""
            scheme, _, token = header.partition(" ")
            if scheme.lower() not in ("bearer", "oauth"):
                return None
            return server.sessions.get(token)

        def _not_found(self) -> None:
            self._json(
                404,
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )

    return Handler


def run_foreground(state_path: str | os.PathLike[str], port: int = 8443) -> None:
    """Serve until Ctrl-C, printing what a client needs to connect."""
    with EmulatorServer(state_path, port=port) as srv:
        print(f"instance URL: {srv.instance_url}")
        print(f"access token: {srv.access_token}")
        print(f"CA cert:      {srv.ca_cert_path}")
        print("Use it from another shell as you would a real org:")
        print(f"  export SF_ACCESS_TOKEN='{srv.access_token}'")
        print(f"  export REQUESTS_CA_BUNDLE='{srv.ca_cert_path}'")
        print(f"  reconciler plan --instance-url {srv.instance_url}")
        print("Press Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
