"""Metadata API calls over urllib3: one POST to one URL, on kept-alive pooled connections.

Why not requests, as for REST: a Metadata call is always the same POST to the same URL, and
requests spends most of its time on what such a call never needs (cookie jars, hooks, header
merging, adapters). urllib3's pool underneath it is used directly instead: it maintains what
this module used to hand-write on http.client (the proxy CONNECT tunnel, dropped idle
connections detected before reuse, the pool itself), which is security-sensitive code better
kept by the project everyone audits. Measured (benchmarks/scale.py, 5,000 apps, 50 ms, same
machine, alternating runs): plan wall 8.78 s -> 9.03 s (+2.9%; medians +4.9%), apply 19.65 s ->
20.19 s (+2.7%), run-to-run spread about 6%; CPU about 0.1 ms more per app.

The channel keeps GuardedSession's rules, taken from the same session so REST and SOAP agree:

- the same trust: the session's CA bundle (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else certifi's,
  as requests would use) and its proxy for this URL (HTTPS_PROXY / NO_PROXY), reached with
  an HTTP CONNECT tunnel;
- no redirects (a 30x is RedirectRefused), no retries of its own, and a cap on the reply
  size (50 MB, also for a chunked body);
- failures mapped onto the same taxonomy with the same wording (http.failure): a failure
  before the request left is transient; after it left, a write's outcome is unknown.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3
import urllib3.exceptions
from requests.utils import select_proxy

from ..display import cut, one_line, printable
from ..errors import OrgError
from .http import GuardedSession, failure, redirect_refused, too_large

_CHUNK = 256 * 1024
_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
#: Failures while connecting (resolving, TCP, the proxy's CONNECT): the request never left,
#: so even a write may be retried.
_NOT_SENT = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.ProxyError,
)
#: TLS failures that only a handshake can raise. urllib3 raises SSLError for a handshake and
#: for a send alike, so any other TLS error counts as sent: a write's outcome is then unknown
#: and settled by a re-read, never assumed unwritten.
_HANDSHAKE_ONLY = ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "certificate verify failed")


def _sent(exc: urllib3.exceptions.HTTPError) -> bool:
    if isinstance(exc, urllib3.exceptions.SSLError):
        return not any(mark in str(exc) for mark in _HANDSHAKE_ONLY)
    return not isinstance(exc, _NOT_SENT)


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
        tls: dict[str, Any] = {
            "ssl_context": _tls_context(verify),
            # urllib3 sets the context's verify mode from cert_reqs: say it, both ways.
            "cert_reqs": ssl.CERT_NONE if verify is False else ssl.CERT_REQUIRED,
            "assert_hostname": False if verify is False else None,
        }
        # block=False: a call beyond `pool_size` opens a connection it closes afterwards.
        pooling: dict[str, Any] = {"maxsize": max(1, pool_size), "block": False, "retries": False}
        self._manager: urllib3.ProxyManager | None = None
        if proxy:
            tunnel = _proxy(proxy)
            self._manager = urllib3.ProxyManager(
                tunnel.url, num_pools=1, proxy_headers=tunnel.headers, **pooling, **tls
            )
            self._pool: urllib3.HTTPSConnectionPool = self._manager.connection_from_host(
                self.host, self.port, "https"
            )  # type: ignore[assignment]
        else:
            self._pool = urllib3.HTTPSConnectionPool(self.host, self.port, **pooling, **tls)
        self._timeouts: dict[float, urllib3.Timeout] = {}

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
        try:
            response = self._pool.urlopen(
                "POST",
                self.path,
                body=body,
                headers=_HEADERS,
                redirect=False,
                retries=False,
                timeout=self._timeout(timeout),
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            sent = _sent(exc)
            raise failure(self.host, call, exc, sent=sent, sent_matters=write and sent) from None
        try:
            reply = self._read(response)
        except urllib3.exceptions.HTTPError as exc:
            response.close()
            raise failure(self.host, call, exc, sent=True, sent_matters=write) from None
        except BaseException:
            response.close()
            raise
        finally:
            response.release_conn()
        return reply

    def close(self) -> None:
        self._pool.close()
        if self._manager is not None:
            self._manager.clear()

    def connections_opened(self) -> int:
        """How many connections the pool has opened so far (for tests of reuse)."""
        return int(self._pool.num_connections)

    def idle_connections(self) -> list[Any]:
        """The connections waiting in the pool (for tests of closing)."""
        queue = self._pool.pool
        return [c for c in (queue.queue if queue is not None else []) if c is not None]

    def _timeout(self, seconds: float) -> urllib3.Timeout:
        found = self._timeouts.get(seconds)
        if found is None:
            found = self._timeouts[seconds] = urllib3.Timeout(connect=seconds, read=seconds)
        return found

    # -- replies --------------------------------------------------------------------------

    def _read(self, response: urllib3.BaseHTTPResponse) -> Reply:
        status = response.status
        if 300 <= status < 400:
            raise redirect_refused(status, self.url, response.headers.get("Location") or "")
        declared = response.headers.get("Content-Length") or ""
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise too_large(self.url, int(declared), self.max_response_bytes)
        # With a Content-Length, urllib3 reads exactly that much or raises IncompleteRead.
        body = response.read() if declared.isdigit() else self._read_capped(response)
        return Reply(status, response.headers.get("Content-Type") or "", body)

    def _read_capped(self, response: urllib3.BaseHTTPResponse) -> bytes:
        """A body of unknown length (chunked), abandoned once past the cap."""
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > self.max_response_bytes:
                raise too_large(self.url, size, self.max_response_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


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
    url: str
    headers: dict[str, str]


def _proxy(url: str) -> _Proxy:
    """An http:// proxy reached with CONNECT; credentials in its URL become Proxy-Authorization
    (and leave the URL, so nothing that shows the URL can show them)."""
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
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return _Proxy(f"http://{host}:{port}", headers)
