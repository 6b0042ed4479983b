"""HTTP to the org: one session type that refuses redirects and oversized replies, and one map
from transport failures to the error taxonomy in reconciler.errors.

Both the REST side (simple-salesforce) and the Metadata SOAP side send every request through a
GuardedSession, so the two rules below hold for every byte exchanged with the org:

- No redirects. requests follows 30x by default, and for a 307/308 it re-sends the POST body,
  which for SOAP carries the session id in its header: a redirect to another host would hand
  that host a live session. A 30x is therefore an error naming both hosts, never followed.
- A cap on the reply size (50 MB). A reply is read in chunks and abandoned past the cap, so a
  broken or hostile endpoint cannot exhaust memory; the error names the call.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from ..display import cut, one_line, printable
from ..errors import IncompleteResponse, OrgError, OutcomeUnknown, TransientOrgError
from ..redaction import scrub

MAX_RESPONSE_BYTES = 50 * 1024 * 1024
_CHUNK = 256 * 1024


class RedirectRefused(IncompleteResponse):
    """The org answered 30x; following it could send the session to another host."""


class GuardedSession(requests.Session):
    """A requests.Session that never follows redirects and caps every reply's size."""

    def __init__(self, max_response_bytes: int = MAX_RESPONSE_BYTES, pool_size: int = 8) -> None:
        super().__init__()
        self.max_response_bytes = max_response_bytes
        # One pooled connection per concurrent request, so parallel reads reuse TLS sessions.
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 1))
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def adopt_environment(self, url: str) -> None:
        """Read proxies and the CA bundle (REQUESTS_CA_BUNDLE, ...) from the environment once,
        as requests would before every request, then stop consulting it.

        requests re-reads proxy variables, netrc and CA-bundle variables on every request
        (~7% of plan's CPU at 5,000 apps, a stat per call); the environment cannot change under
        a running command, so once is the same answer. netrc is not used: the session carries
        its own token."""
        settings = super().merge_environment_settings(url, {}, None, None, None)
        self.proxies.update(settings["proxies"])
        self.verify = settings["verify"]
        self.trust_env = False

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        response = super().request(method, url, *args, **kwargs)
        if response.is_redirect or 300 <= response.status_code < 400:
            response.close()
            raise redirect_refused(
                response.status_code, str(url), response.headers.get("Location", "")
            )
        self._read_capped(response, str(url))
        return response

    def _read_capped(self, response: requests.Response, url: str) -> None:
        """Read the whole body now, refusing it past the cap (requests would read it all)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            response.close()
            raise too_large(url, int(declared), self.max_response_bytes)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > self.max_response_bytes:
                response.close()
                raise too_large(url, size, self.max_response_bytes)
            chunks.append(chunk)
        # requests' documented way to hold a body is `content`; setting the private slot is
        # what `content` itself does after reading, so later `.json()`/`.text` use our bytes.
        response._content = b"".join(chunks)
        response._content_consumed = True  # type: ignore[attr-defined]


def too_large(url: str, size: int, cap: int) -> IncompleteResponse:
    path = urlsplit(url).path
    return IncompleteResponse(
        f"the org's reply to {path} is larger than {cap // (1024 * 1024)} MB "
        f"(at least {size / (1024 * 1024):.1f} MB); refusing to read it"
    )


def redirect_refused(status: int, url: str, location: str) -> RedirectRefused:
    here = urlsplit(url).netloc
    there = urlsplit(location).netloc or "(no location)"
    return RedirectRefused(
        f"the org answered HTTP {status}, a redirect from {here} to {_host(there)}; redirects "
        "are never followed (the request carries the session). Check the instance URL."
    )


def _host(host: str) -> str:
    """A host name as it may be shown (it came from the org's Location header or our URL)."""
    return cut(printable(host), 200)


def transport_error(exc: requests.RequestException, call: str, *, sent_matters: bool) -> OrgError:
    """Map a requests failure onto the taxonomy (see `failure`)."""
    if isinstance(exc, requests.JSONDecodeError):
        return IncompleteResponse(f"{call}: the org's reply is not valid JSON ({exc.msg})")
    host = urlsplit(str(getattr(exc.request, "url", "") or "")).netloc or "the org"
    # An SSLError counts as unsent, as before the channel existed: failure() then refuses it
    # as untrusted rather than retrying it.
    if isinstance(exc, requests.exceptions.SSLError | requests.ConnectTimeout) or _not_sent(exc):
        return failure(host, call, exc, sent=False, sent_matters=sent_matters)
    if isinstance(
        exc, requests.Timeout | requests.ConnectionError | requests.exceptions.ChunkedEncodingError
    ):
        return failure(host, call, exc, sent=True, sent_matters=sent_matters)
    return OrgError(_cannot_reach(host, call, exc))


def failure(
    host: str, call: str, exc: BaseException, *, sent: bool, sent_matters: bool
) -> OrgError:
    """A transport failure as the taxonomy's error, for requests and http.client alike.

    Before the request left (`sent` false: connecting, resolving, the TLS handshake) nothing
    reached the org, so even a write may simply be retried: transient. Once it was sent, a
    timeout or dropped connection leaves a write's outcome unknown (OutcomeUnknown), which the
    applier settles by re-reading; for a read it is transient. A certificate the client does
    not trust is not transient: it will not change by retrying.
    """
    message = _cannot_reach(host, call, exc)
    if not sent and _is_tls_refusal(exc):
        return OrgError(f"{message}; for a private CA set REQUESTS_CA_BUNDLE")
    if sent and sent_matters:
        return OutcomeUnknown(
            f"{call}: the request was sent but no complete answer came back "
            f"({type(exc).__name__}); the org may or may not have applied it",
            "OUTCOME_UNKNOWN",
        )
    return TransientOrgError(message, "CONNECTION_FAILED")


def _cannot_reach(host: str, call: str, exc: BaseException) -> str:
    return f"cannot reach {_host(host)} ({call}, {type(exc).__name__}): {_reason(exc)}"


def _is_tls_refusal(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLError | requests.exceptions.SSLError) for e in _chain(exc))


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it, outermost first (urllib3 nests several levels)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in out):
        out.append(current)
        if isinstance(current, urllib3.exceptions.MaxRetryError) and current.reason:
            current = current.reason
            continue
        nested = current.args[0] if current.args else None
        current = (
            current.__cause__
            or current.__context__
            or (nested if isinstance(nested, BaseException) else None)
        )
    return out


def _reason(exc: BaseException) -> str:
    """The innermost cause in a few words, not urllib3's "Max retries exceeded" wrapper."""
    innermost = _chain(exc)[-1]
    last = innermost.args[-1] if innermost.args else None
    # http.client's IncompleteRead carries the partial body as its argument: never show it.
    text = (last if isinstance(last, str) else str(innermost)) or type(innermost).__name__
    return one_line(scrub(text), 200)


def _not_sent(exc: BaseException) -> bool:
    """True when the failure happened while connecting: nothing reached the org."""
    connecting = (
        urllib3.exceptions.NewConnectionError,
        urllib3.exceptions.ConnectTimeoutError,
        urllib3.exceptions.NameResolutionError,
    )
    return any(isinstance(e, connecting) for e in _chain(exc))
