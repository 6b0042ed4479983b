"""Metadata API calls over http.client: one POST to one URL, on kept-alive pooled connections.

Why not requests, as for REST: a Metadata call is always the same POST to the same URL, and
requests spends most of its time on what such a call never needs (cookie jars, hooks, header
merging, adapters, urllib3's retry and timeout objects). Measured against the emulator on this
project's 2-CPU machine: 2.2 ms of CPU per readMetadata call through requests (GuardedSession),
1.3 ms through urllib3 directly, 0.8 ms through http.client. A plan of 5,000 apps makes 1,000
such calls under one GIL, so that is 1.4 s of its ~6 s of CPU (benchmarks/scale.py).

The channel keeps GuardedSession's rules, taken from the same session so REST and SOAP agree:

- the same trust: the session's CA bundle (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else certifi's,
  as requests would use) and its proxy for this URL (HTTPS_PROXY / NO_PROXY), reached with
  an HTTP CONNECT tunnel;
- no redirects (a 30x is RedirectRefused) and a cap on the reply size (50 MB);
- failures mapped onto the same taxonomy with the same wording (http.failure): a failure
  before the request left is transient; after it left, a write's outcome is unknown.
"""

from __future__ import annotations

import base64
import http.client
import os
import select
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from requests.utils import select_proxy

from ..display import cut, one_line, printable
from ..errors import OrgError
from .http import GuardedSession, failure, redirect_refused, too_large

_CHUNK = 256 * 1024
_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


class SoapChannel:
    """POSTs to one https URL; safe to share between threads (one connection per call)."""

    def __init__(
        self,
        url: str,
        *,
        verify: bool | str = True,
        proxy: str | None = None,
        max_response_bytes: int,
        pool_size: int = 8,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise OrgError(f"the Metadata API URL must be https://, not {parts.scheme}://")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 443
        self.path = parts.path or "/"
        self.max_response_bytes = max_response_bytes
        self._context = _tls_context(verify)
        self._proxy = _proxy(proxy) if proxy else None
        self._pool_size = max(1, pool_size)
        self._idle: list[http.client.HTTPSConnection] = []
        self._lock = threading.Lock()

    @classmethod
    def for_session(cls, url: str, session: GuardedSession, pool_size: int) -> SoapChannel:
        """A channel that trusts and routes exactly as `session` does for `url`."""
        proxy = select_proxy(url, session.proxies) if session.proxies else None
        return cls(
            url,
            verify=session.verify if session.verify is not None else True,
            proxy=proxy,
            max_response_bytes=session.max_response_bytes,
            pool_size=pool_size,
        )

    def post(self, body: bytes, *, call: str, write: bool, timeout: float) -> Reply:
        """Send one envelope and read the whole answer, or raise an error of the taxonomy."""
        conn = self._connection(timeout)
        try:
            if conn.sock is None:
                self._connect(conn, call)
            try:
                conn.request("POST", self.path, body=body, headers=_HEADERS)
                response = conn.getresponse()
                reply = self._read(response, call)
            except (OSError, http.client.HTTPException) as exc:
                raise failure(self.host, call, exc, sent=True, sent_matters=write) from None
        except BaseException:
            conn.close()
            raise
        self._release(conn, response)
        return reply

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- connections ----------------------------------------------------------------------

    def _connection(self, timeout: float) -> http.client.HTTPSConnection:
        """An idle connection the server has not closed, else a new (unconnected) one."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            if _still_open(conn):
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                return conn
            conn.close()
        if self._proxy is None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self._context
            )
        conn = http.client.HTTPSConnection(
            self._proxy.host, self._proxy.port, timeout=timeout, context=self._context
        )
        conn.set_tunnel(self.host, self.port, headers=self._proxy.headers)
        return conn

    def _connect(self, conn: http.client.HTTPSConnection, call: str) -> None:
        """Open the socket (and tunnel, and TLS) on its own: a failure here sent nothing."""
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            raise failure(self.host, call, exc, sent=False, sent_matters=False) from None

    def _release(
        self, conn: http.client.HTTPSConnection, response: http.client.HTTPResponse
    ) -> None:
        if response.will_close or conn.sock is None:
            conn.close()
            return
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(conn)
                return
        conn.close()

    # -- replies --------------------------------------------------------------------------

    def _read(self, response: http.client.HTTPResponse, call: str) -> Reply:
        status = response.status
        if 300 <= status < 400:
            location = response.getheader("Location") or ""
            response.close()
            raise redirect_refused(status, self.url, location)
        declared = response.getheader("Content-Length") or ""
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            response.close()
            raise too_large(self.url, int(declared), self.max_response_bytes)
        # With a Content-Length, http.client reads exactly that much or raises IncompleteRead.
        body = response.read() if declared.isdigit() else self._read_capped(response)
        return Reply(status, response.getheader("Content-Type") or "", body)

    def _read_capped(self, response: http.client.HTTPResponse) -> bytes:
        """A body of unknown length (chunked), abandoned once past the cap."""
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > self.max_response_bytes:
                response.close()
                raise too_large(self.url, size, self.max_response_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


def _still_open(conn: http.client.HTTPSConnection) -> bool:
    """False when the server closed (or wrote to) an idle connection: reusing it would fail.

    An idle keep-alive socket must have nothing to read; readable means EOF or stray bytes.
    """
    sock = conn.sock
    if sock is None:
        return True  # closed by http.client after a `Connection: close` answer: reopens itself
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    """Verification as requests does it: a CA file or folder, or certifi's bundle (never the
    system store, so REST and SOAP accept exactly the same certificates)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    try:
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OrgError(
            f"cannot use the CA bundle {cut(printable(verify), 200)} (from REQUESTS_CA_BUNDLE or "
            f"CURL_CA_BUNDLE): {one_line(reason, 200)}; point it at a PEM file of trusted "
            "certificates, or unset it to use certifi's"
        ) from None


@dataclass(frozen=True)
class _Proxy:
    host: str
    port: int
    headers: dict[str, str]


def _proxy(url: str) -> _Proxy:
    """An http:// proxy reached with CONNECT; credentials in its URL become Proxy-Authorization."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port or 80
    except ValueError:  # a port that is not a number; the URL may hold a password: not shown
        raise OrgError(
            f"the proxy for {parts.hostname or 'the org'} (HTTPS_PROXY) has an invalid port"
        ) from None
    if parts.scheme != "http" or not parts.hostname:
        raise OrgError(
            f"only http:// proxies are supported for Metadata API calls (got {parts.scheme}://): "
            "set HTTPS_PROXY to the proxy's http:// address; the connection to the org through "
            "it is TLS end to end either way"
        )
    headers: dict[str, str] = {}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return _Proxy(parts.hostname, port, headers)
