"""HTTPS org emulator: routes Salesforce URLs to the SOAP, OAuth and REST handlers.

stdlib ThreadingHTTPServer + ssl with a self-signed certificate (SAN IP:127.0.0.1,
DNS:localhost) made at start, so the real simple-salesforce/zeep clients talk to it as to an org.

Every SOAP, OAuth and query call passes through `_serve`, which asks faults.py whether an
`org.faults` rule fires and fault_wire.py what that looks like on the wire. `stop()` returns at
once: the accept loop waits on the listener and a wake-up socket (no polling: the CLI starts
and stops a server per command, so even a 10 ms poll added up over a test suite), handler
threads are not joined, sleeping faults wake on the stop event and open client connections are
shut down.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import selectors
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from reconciler.emulator import auth, fault_wire, faults
from reconciler.emulator.certs import make_self_signed
from reconciler.emulator.fault_wire import JSON_TYPE, REDIRECT_PATH, XML_TYPE, Answer
from reconciler.emulator.faults import Call, ComponentFaults, FaultInjector, FaultRuleError
from reconciler.emulator.labels import describe
from reconciler.emulator.metadata_soap import MetadataService
from reconciler.emulator.rest_query import QueryEngine, QueryError
from reconciler.emulator.sessions import SessionStore
from reconciler.emulator.state import OrgState

API_LIMIT = 5000
_SOAP_M = re.compile(r"^/services/Soap/m/(?P<v>[\d.]+)(?:/.*)?$")
_SOAP_U = re.compile(r"^/services/Soap/u/(?P<v>[\d.]+)(?:/.*)?$")
#: GET /services/data/vXX.X/sobjects/<Object>/describe: the object's fields and labels.
_REST_DESCRIBE = re.compile(r"^/services/data/v(?P<v>[\d.]+)/sobjects/(?P<obj>\w+)/describe/?$")
_REST_Q = re.compile(
    r"^/services/data/v(?P<v>[\d.]+)/(?P<tooling>tooling/)?(?P<kind>query|queryAll)/?"
    r"(?P<locator>[^/]+)?/?$"
)


log = logging.getLogger(__name__)


class _QuietServer(ThreadingHTTPServer):
    """A client that drops the connection (e.g. rejects our self-signed certificate) is
    routine here; log it at debug level instead of printing a traceback to stderr.

    Handler threads are daemons and are not joined on close: a hanging fault or an idle
    keep-alive connection must not hold up stop()."""

    daemon_threads = True
    block_on_close = False
    #: handle_request() is only called once the listener is readable: never wait in it.
    timeout = 0

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
        # A bad rule or latency fails here, at start, rather than mid-run.
        faults.validate(self.state.org.get("faults"))
        faults.validate_latency(self.state.org.get("latency_ms"))
        self.faults = FaultInjector()
        #: Requests that arrived on /followed-redirect: a client that followed a 307 (and so
        #: may have sent its session to wherever Location pointed).
        self.redirects_followed = 0
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        #: stop() writes a byte here to end the accept loop's wait at once.
        self._wake: tuple[socket.socket, socket.socket] | None = None

    def start(self) -> EmulatorServer:
        key_pem, cert_pem = make_self_signed(
            "Salesforce org emulator", ips=("127.0.0.1",), dns_names=("localhost",), tls_only=True
        )
        cert_path = Path(self._tmp.name) / "emulator-cert.pem"
        key_path = Path(self._tmp.name) / "emulator-key.pem"
        cert_path.write_text(cert_pem)
        key_path.write_text(key_pem)
        self.ca_cert_path = str(cert_path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        httpd = _QuietServer((self.host, self.port), _make_handler(self))
        # Handshake in the worker thread, so one stalled client cannot block accept().
        httpd.socket = ctx.wrap_socket(
            httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = httpd.server_address[1]
        self.instance_url = f"https://{self.host}:{self.port}"
        self._httpd = httpd
        self._stopping.clear()
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._accept_loop, args=(httpd, self._wake[0]), daemon=True
        )
        self._thread.start()
        return self

    def _accept_loop(self, httpd: ThreadingHTTPServer, wake: socket.socket) -> None:
        """socketserver's serve_forever, minus its poll: sleep until a client connects or
        stop() writes to `wake`."""
        with selectors.DefaultSelector() as selector:
            selector.register(httpd, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is httpd and not self._stopping.is_set():
                        httpd.handle_request()  # accept; a thread per connection

    def stop(self) -> None:
        """Stop at once; in-flight handlers are woken and their connections closed."""
        self._stopping.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake[1].send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)  # no new connections from here on
            self._thread = None
        with self._counter_lock:
            open_connections = list(self._connections)
        for conn in open_connections:  # idle keep-alive ones too: their threads sit in read()
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._httpd is not None:
            self._httpd.server_close()
            self._httpd = None
        if self._wake is not None:
            for end in self._wake:
                end.close()
            self._wake = None
        self._tmp.cleanup()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count_api_call(self) -> int:
        with self._counter_lock:
            self._api_calls += 1
            return self._api_calls

    def count_redirect_followed(self) -> None:
        with self._counter_lock:
            self.redirects_followed += 1

    def track(self, conn: socket.socket, is_open: bool) -> None:
        """Remember open client connections so stop() can close them."""
        with self._counter_lock:
            if not is_open:
                self._connections.discard(conn)
            elif not self._stopping.is_set():
                self._connections.add(conn)
                return
        if is_open:  # accepted just as stop() ran: stop() has already closed the others
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def pause(self, seconds: float) -> bool:
        """Sleep unless stop() comes first; True if the full time passed."""
        return seconds <= 0 or not self._stopping.wait(seconds)

    def fault_rules(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.org.get("faults") or [])

    def latency_seconds(self) -> float:
        """`org.latency_ms`: a delay added to every request (benchmarks of slow orgs)."""
        with self.state.lock:
            value = self.state.org.get("latency_ms")
        try:
            return faults.validate_latency(value) / 1000
        except FaultRuleError:
            return 0.0  # changed at runtime to nonsense: a test bug, not worth failing calls


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle on, each answer waits ~40 ms
        # for the client's delayed ACK, which dwarfs everything else the emulator does.
        disable_nagle_algorithm = True
        server_version = "SalesforceEmulator/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Silent: request logs would carry session ids."""

        def setup(self) -> None:
            super().setup()
            server.track(self.connection, True)

        def finish(self) -> None:
            server.track(self.connection, False)
            with contextlib.suppress(OSError):
                super().finish()

        def _answer(self, answer: Answer, head_only: bool = False) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for k, v in answer.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if not head_only:
                try:
                    self.wfile.write(answer.body)
                except OSError:  # the client gave up (e.g. on an oversize answer)
                    self.close_connection = True

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _json_answer(self, status: int, payload: Any) -> Answer:
            n = server.count_api_call()
            return Answer(
                status,
                json.dumps(payload).encode("utf-8"),
                JSON_TYPE,
                {"Sforce-Limit-Info": f"api-usage={n}/{API_LIMIT}"},
            )

        # ------------------------------------------------------------------ fault handling
        def _serve(self, call: Call, produce: Callable[[dict[str, Any] | None], Answer]) -> None:
            """Answer one API call, unless an `org.faults` rule says otherwise."""
            try:
                decision = server.faults.decide(server.fault_rules(), call)
            except FaultRuleError as exc:
                self._answer(Answer(500, str(exc).encode("utf-8"), "text/plain"))
                return
            if not server.pause(decision.delay):
                self._drop()
                return
            rule, kind = decision.rule, decision.kind
            if rule is None:
                self._answer(produce(None))
                return
            if kind == "reset":
                self._drop(reset=True)
                return
            if kind == "hang":
                server.pause(float(rule.get("seconds", 5)))
                self._drop()
                return
            if kind == "invalid_session" and call.session:
                server.sessions.revoke(call.session.strip())
            instead = fault_wire.replacement(rule, call.op, server.port)
            if kind == "http_error" and rule.get("processed"):
                produce(None)  # the org carries the call out; a proxy's page replaces the answer
            if instead is not None:
                self._answer(instead)
                return
            answer = produce(rule)
            if kind == "lost_response":
                self._drop()  # the call ran (and saved) above; only the answer is lost
                return
            self._answer(fault_wire.damage(rule, answer))

        def _drop(self, reset: bool = False) -> None:
            """Close the connection without a response: FIN, or RST when `reset`."""
            self.close_connection = True
            conn = self.connection
            with contextlib.suppress(OSError):
                if reset:
                    # Linger 0 makes close() send a TCP RST; the file objects hold references
                    # to the socket, so they must go first for the close to be real.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.rfile.close()
                    self.wfile.close()
                    conn.close()
                else:
                    conn.shutdown(socket.SHUT_RDWR)

        def _followed_redirect(self, head_only: bool = False) -> None:
            server.count_redirect_followed()
            self._answer(
                Answer(404, b"followed a redirect the client should have refused", "text/plain"),
                head_only,
            )

        # ------------------------------------------------------------------------ routes
        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            path = urlsplit(self.path).path
            body = self._body()
            if path == REDIRECT_PATH:
                self._followed_redirect()
                return
            server.pause(server.latency_seconds())
            if _SOAP_M.match(path):
                self._serve(faults.soap_call(body), lambda rule: self._metadata(body, rule))
            elif m := _SOAP_U.match(path):
                version = m["v"]
                self._serve(Call("login"), lambda _: self._login(body, version))
            elif path.rstrip("/") == "/services/oauth2/token":
                self._serve(Call("token"), lambda _: self._token(body))
            else:
                self._not_found()

        def _metadata(self, body: bytes, rule: dict[str, Any] | None) -> Answer:
            status, text = server.metadata.handle(body, server.sessions.get, ComponentFaults(rule))
            return Answer(status, text.encode("utf-8"), XML_TYPE)

        def _login(self, body: bytes, version: str) -> Answer:
            status, text = auth.soap_login(
                body, server.state, server.sessions, server.instance_url, version
            )
            return Answer(status, text.encode("utf-8"), XML_TYPE)

        def _token(self, body: bytes) -> Answer:
            status, text = auth.oauth_token(
                body,
                self.headers.get("Authorization"),
                server.state,
                server.sessions,
                server.instance_url,
                # The peer of this connection: LoginHistory.SourceIp never comes from a
                # header (X-Forwarded-For and the like are the caller's to forge).
                source_ip=str(self.client_address[0]),
            )
            return Answer(status, text.encode("utf-8"), JSON_TYPE)

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            if parts.path == REDIRECT_PATH:
                self._followed_redirect()
                return
            server.pause(server.latency_seconds())
            d = _REST_DESCRIBE.match(parts.path)
            if d is not None:
                obj = d["obj"]
                call = Call("describe", (obj,), self._bearer_token())
                self._serve(call, lambda _: self._describe(obj))
                return
            m = _REST_Q.match(parts.path)
            if m is None:
                self._not_found()
                return
            soql = parse_qs(parts.query).get("q", [""])[0]
            call = Call("query", () if m["locator"] else (soql,), self._bearer_token())
            self._serve(call, lambda _: self._query(m, soql))

        def _describe(self, obj: str) -> Answer:
            """The fields of an sObject the state holds rows of, with their labels."""
            if server.sessions.get(self._bearer_token()) is None:
                return self._json_answer(
                    401,
                    [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                )
            server.metadata.calls["describe"] += 1
            with server.state.lock:
                rows = server.state.sobjects(obj)
                if not rows:
                    return self._json_answer(
                        404,
                        [
                            {
                                "message": "The requested resource does not exist",
                                "errorCode": "NOT_FOUND",
                            }
                        ],
                    )
                names = sorted({key for row in rows for key in row})
            return self._json_answer(200, describe(obj, names))

        def _query(self, m: re.Match[str], soql: str) -> Answer:
            if server.sessions.get(self._bearer_token()) is None:
                return self._json_answer(
                    401,
                    [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                )
            base = f"/services/data/v{m['v']}" + ("/tooling" if m["tooling"] else "")
            server.metadata.calls["query"] += 1
            try:
                if m["locator"]:
                    result = server.queries.more(unquote(m["locator"]), base)
                else:
                    with server.state.lock:
                        result = server.queries.run(soql, base)
            except QueryError as exc:
                return self._json_answer(400, [{"message": exc.message, "errorCode": exc.code}])
            return self._json_answer(200, result)

        def _other_method(self, head_only: bool = False) -> None:
            """PUT/PATCH/DELETE/HEAD exist only so a followed redirect is always counted."""
            path = urlsplit(self.path).path
            self._body()
            if path == REDIRECT_PATH:
                self._followed_redirect(head_only)
            else:
                self._not_found(head_only)

        def do_PUT(self) -> None:  # noqa: N802
            self._other_method()

        def do_PATCH(self) -> None:  # noqa: N802
            self._other_method()

        def do_DELETE(self) -> None:  # noqa: N802
            self._other_method()

        def do_HEAD(self) -> None:  # noqa: N802
            self._other_method(head_only=True)

        def _bearer_token(self) -> str | None:
            header = self.headers.get("Authorization") or ""
            scheme, _, token = header.partition(" ")
            if scheme.lower() not in ("bearer", "oauth"):
                return None
            return token

        def _not_found(self, head_only: bool = False) -> None:
            missing = {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
            self._answer(self._json_answer(404, [missing]), head_only)

    return Handler


def run_foreground(state_path: str | os.PathLike[str], port: int = 8443) -> None:
    """Serve until Ctrl-C, printing what a client needs to connect."""
    with EmulatorServer(state_path, port=port) as srv:
        print(f"instance URL: {srv.instance_url}")
        print(f"access token: {srv.access_token}")
        print(f"CA cert:      {srv.ca_cert_path}")
        from .logins import prepare_logins, render_blocks

        folder = Path(srv.ca_cert_path).parent
        blocks = prepare_logins(
            srv.state, folder, srv.instance_url, srv.ca_cert_path, srv.access_token
        )
        print(render_blocks(blocks), end="")
        print("Press Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
