"""The Org adapter for a real org (and the emulator, which is reached the same way).

REST queries go through simple-salesforce; Metadata API calls are SOAP envelopes built and
parsed with lxml (see soap.py for why not zeep). One design serves three needs:

- integrity: every reply is parsed strictly and size-capped, redirects are refused
  (http.GuardedSession), and a read either returns everything asked or raises;
- reliability: reads are retried on transient failures with one tenacity policy (retry.py),
  an expired session is renewed once where a login can be repeated, and a write whose answer
  is lost is reported as in doubt rather than guessed;
- scale: batches of 10 (the Metadata API's limit, wire doc §4) run on a bounded thread pool,
  `parallelism` calls in flight, over one pooled connection per worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from lxml import etree

from .. import fields as F
from ..display import one_line, printable
from ..errors import (
    IncompleteResponse,
    OrgError,
    OutcomeUnknown,
    RequestLimitExceeded,
    SessionExpired,
    TransientOrgError,
)
from ..model import Component
from ..redaction import register_secret, scrub
from ..wsdl_schema import load_schema
from . import soap
from .http import GuardedSession, RedirectRefused, transport_error
from .interface import OUTCOME_UNKNOWN, TRANSIENT_CODES, SaveOutcome
from .metadata_xml import component_to_xml, record_to_component
from .retry import RetryPolicy
from .soap_channel import SoapChannel
from .target import API_VERSION, DEFAULT_PARALLELISM

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 10  # components per read/CRUD call (wire doc §4)
LIST_QUERIES = 3  # ListMetadataQuery per listMetadata call
#: Concurrent API calls. Salesforce caps only requests of 20 s or longer: 25 at once in
#: production orgs and sandboxes, 5 in Developer Edition and trial orgs, none for shorter ones
#: (Salesforce "API Request Limits and Allocations", Concurrent API Request Limits). Metadata
#: reads of 10 components take well under a second; 8 leaves room for other integrations.
MAX_PARALLELISM = 25

#: Returns a fresh access token; None where the login cannot be repeated (a pasted token).
Relogin = Callable[[], str]


def _reporting(
    calls: Sequence[Callable[[], T]],
    label: str,
    progress: Callable[[str, int, int], None],
    sizes: Sequence[int] | None = None,
) -> list[Callable[[], T]]:
    """The calls, each telling `progress` how many items (apps) are done when it has finished:
    `sizes` items per call (one each by default)."""
    weights = list(sizes) if sizes is not None else [1] * len(calls)
    total = sum(weights)
    done = [0]
    lock = threading.Lock()

    def wrap(call: Callable[[], T], weight: int) -> Callable[[], T]:
        def run() -> T:
            result = call()
            with lock:
                done[0] += weight
                so_far = done[0]
            progress(label, so_far, total)
            return result

        return run

    return [wrap(call, weight) for call, weight in zip(calls, weights, strict=True)]


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SalesforceOrg:
    """An org reached at `instance_url` with a session id (access token)."""

    def __init__(
        self,
        instance_url: str,
        access_token: str,
        session: GuardedSession,
        *,
        api_version: str = API_VERSION,
        timeout: float = 60.0,
        parallelism: int = DEFAULT_PARALLELISM,
        retry: RetryPolicy | None = None,
        relogin: Relogin | None = None,
    ) -> None:
        register_secret(access_token)
        self.instance_url = instance_url
        self.api_version = api_version
        self.timeout = timeout
        self.parallelism = max(1, min(parallelism, MAX_PARALLELISM))
        #: One slot per call in flight, Metadata and REST alike: callers may also run calls
        #: side by side (the org id beside the reads, two run-as queries), and `parallelism`
        #: bounds them all together; with 1, every call waits for the one before.
        self._in_flight = threading.BoundedSemaphore(self.parallelism)
        self.retry = retry or RetryPolicy()
        self._session = session
        self._token = access_token
        self._relogin = relogin
        self._relogged = False
        self._token_lock = threading.Lock()
        self._org_id: str | None = None
        self._org_id_lock = threading.Lock()
        self._sf: Any = None
        #: progress(operation, done, total) after each batch of a read or a write, for a
        #: terminal's progress line; the adapter itself never prints.
        self.progress: Callable[[str, int, int], None] | None = None
        self._channel = SoapChannel.for_session(
            f"{instance_url}/services/Soap/m/{api_version}/", session, self.parallelism
        )

    def close(self) -> None:
        """Close the pooled connections now rather than whenever the process ends."""
        self._channel.close()
        self._session.close()

    # -- session ------------------------------------------------------------------------

    @property
    def sf(self) -> Any:
        """simple-salesforce for REST, built on first use: importing it costs ~0.35 s."""
        if self._sf is None:
            from simple_salesforce import Salesforce  # type: ignore[attr-defined]

            self._sf = Salesforce(
                instance_url=self.instance_url,
                session_id=self._token,
                version=self.api_version,
                session=self._session,
            )
        return self._sf

    def _renew(self, used_token: str, error: SessionExpired) -> None:
        """Log in again once per run, where possible; otherwise stop with a clear message."""
        with self._token_lock:
            if self._token != used_token:
                return  # another worker already renewed it
            if self._relogin is None:
                raise SessionExpired(
                    f"{error} The access token expired or was revoked, and this login cannot be "
                    "repeated: get a fresh token (`sf org auth show-access-token --target-org "
                    "ALIAS --json`, field result.accessToken) or use a login that can be renewed "
                    "(-o ALIAS, JWT bearer, --sfdx-url-file).",
                    error.code,
                ) from None
            if self._relogged:
                raise SessionExpired(
                    f"{error} The session was rejected again after logging in again; stopping "
                    "rather than looping.",
                    error.code,
                ) from None
            log.warning("session expired; logging in again (once)")
            self._relogged = True
            token = self._relogin()
            register_secret(token)
            self._token = token
            self._sf = None

    def _with_session(self, call: Callable[[str], T]) -> T:
        """Run `call(token)`, renewing the session once if the org says it expired."""
        token = self._token
        try:
            return call(token)
        except SessionExpired as exc:
            self._renew(token, exc)
        token = self._token
        try:
            return call(token)
        except SessionExpired as exc:
            self._renew(token, exc)  # raises: one renewal per run, never a loop
            raise

    # -- Metadata SOAP --------------------------------------------------------------------

    def _post(self, operation: str, body: bytes, *, write: bool) -> etree._Element:
        log.debug("metadata %s (%d bytes)", operation, len(body))
        with self._in_flight:
            reply = self._channel.post(body, call=operation, write=write, timeout=self.timeout)
        return soap.parse_reply(
            reply.status, reply.content_type, reply.body, operation, write=write
        )

    def _soap_read(self, operation: str, build: Callable[[etree._Element], None]) -> etree._Element:
        def once(token: str) -> etree._Element:
            root, op = soap.envelope(token, operation)
            build(op)
            return self._post(operation, soap.serialise(root), write=False)

        return self.retry.run(operation, lambda: self._with_session(once))

    def _parallel(
        self, calls: Sequence[Callable[[], T]], label: str = "", sizes: Sequence[int] = ()
    ) -> list[T]:
        """Run calls `parallelism` at a time, results in call order; the first error wins.
        `sizes`: the apps each call covers, for the progress line."""
        if self.progress is not None and label:
            calls = _reporting(calls, label, self.progress, sizes or None)
        if len(calls) <= 1 or self.parallelism == 1:
            return [call() for call in calls]
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            futures: list[Future[T]] = [pool.submit(call) for call in calls]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def list_names(self, types: Sequence[str]) -> dict[str, list[str]]:
        # Reading records needs the WSDL's field list (~0.06 s to parse, once per process):
        # parse it while the listing is in flight rather than when the first records arrive.
        threading.Thread(target=load_schema, name="wsdl", daemon=True).start()
        found: dict[str, list[str]] = {t: [] for t in types}
        groups = list(_chunks(list(types), LIST_QUERIES))

        def listing(group: Sequence[str]) -> Callable[[], etree._Element]:
            def build(op: etree._Element) -> None:
                for type_name in group:
                    query = etree.SubElement(op, soap.md("queries"))
                    etree.SubElement(query, soap.md("type")).text = type_name
                etree.SubElement(op, soap.md("asOfVersion")).text = self.api_version

            return lambda: self._soap_read("listMetadata", build)

        type_tag, name_tag = soap.md("type"), soap.md("fullName")
        for answer in self._parallel([listing(g) for g in groups]):
            for result in answer.iterchildren(soap.md("result")):
                # Only two of a FileProperties' dozen children matter: one pass, no XPath.
                type_name = full_name = None
                for child in result:
                    if child.tag == type_tag:
                        type_name = child.text
                    elif child.tag == name_tag:
                        full_name = child.text
                if not type_name or not full_name:
                    raise IncompleteResponse("listMetadata: a result has no type or fullName")
                if soap.unmark(full_name) != full_name:
                    raise IncompleteResponse(
                        f"listMetadata: the fullName {printable(soap.unmark(full_name))} holds a "
                        "character XML 1.0 cannot carry; it cannot be read by name"
                    )
                if type_name in found:
                    found[type_name].append(full_name)
        return {t: sorted(set(names)) for t, names in found.items()}

    def read(self, type_name: str, names: Sequence[str]) -> list[Component]:
        def reading(batch: Sequence[str]) -> Callable[[], list[Component]]:
            def build(op: etree._Element) -> None:
                soap.add_text(op, "type", [type_name])
                soap.add_text(op, "fullNames", batch)

            def call() -> list[Component]:
                answer = self._soap_read("readMetadata", build)
                result = answer.find(soap.md("result"))
                if result is None:
                    raise IncompleteResponse("readMetadata: the reply has no result element")
                out = []
                marked = answer.get(soap.MARKED) is not None
                for record in result.findall(soap.md("records")):
                    if soap.is_nil(record):
                        continue  # an unknown name (wire doc §6); the caller checks completeness
                    component = record_to_component(record, type_name, "readMetadata")
                    if marked:  # a value held a character XML 1.0 cannot carry: put it back
                        component = Component(
                            component.type,
                            soap.unmark(component.full_name),
                            soap.unmark(component.fields),
                        )
                    if component.full_name not in batch:
                        raise IncompleteResponse(
                            f"readMetadata: the org returned {component.full_name!r}, "
                            "which was not asked for"
                        )
                    out.append(component)
                return out

            return call

        components: list[Component] = []
        chunks = list(_chunks(list(names), BATCH))
        batches = [reading(b) for b in chunks]
        sizes = [len(chunk) for chunk in chunks]
        for part in self._parallel(batches, f"Reading {type_name}", sizes):
            components.extend(part)
        for component in components:
            for value in F.secret_values(component.fields):
                register_secret(value)
        return components

    def update(self, type_name: str, components: Sequence[Component]) -> list[SaveOutcome]:
        batches = list(_chunks(list(components), BATCH))
        calls = [self._update_batch(type_name, b) for b in batches]
        results = self._parallel(calls, f"Writing {type_name}", [len(b) for b in batches])
        return [outcome for part in results for outcome in part]

    def _update_batch(
        self, type_name: str, batch: Sequence[Component]
    ) -> Callable[[], list[SaveOutcome]]:
        def once(token: str) -> etree._Element:
            root, op = soap.envelope(token, "updateMetadata")
            for component in batch:
                component_to_xml(op, component)
            return self._post("updateMetadata", soap.serialise(root), write=True)

        def call() -> list[SaveOutcome]:
            try:
                answer = self._with_session(once)
            except (RequestLimitExceeded, SessionExpired):
                raise
            except IncompleteResponse as exc:
                if isinstance(exc, RedirectRefused):
                    refused = [("REDIRECT_REFUSED", str(exc))]
                    return [SaveOutcome(c.full_name, False, refused) for c in batch]
                # The org answered, but the answer cannot be read: it may have saved the
                # batch. In doubt, like a lost answer; the applier settles it by re-reading.
                doubt = [(OUTCOME_UNKNOWN, str(exc))]
                return [SaveOutcome(c.full_name, False, doubt) for c in batch]
            except OutcomeUnknown as exc:
                return [
                    SaveOutcome(c.full_name, False, [(OUTCOME_UNKNOWN, str(exc))]) for c in batch
                ]
            except OrgError as exc:
                # A well-formed SOAP fault, a call-level refusal: nothing in this batch was
                # saved. Any other failed answer came back from parse_reply as OutcomeUnknown.
                code = exc.code or "FAULT"
                if isinstance(exc, TransientOrgError) and code not in TRANSIENT_CODES:
                    code = "SERVER_UNAVAILABLE"  # so SaveOutcome.transient lets the applier retry
                return [SaveOutcome(c.full_name, False, [(code, str(exc))]) for c in batch]
            by_name: dict[str, SaveOutcome] = {}
            for result in answer.findall(soap.md("result")):
                name = result.findtext(soap.md("fullName")) or ""
                success = (result.findtext(soap.md("success")) or "").strip() == "true"
                errors = [
                    (
                        (error.findtext(soap.md("statusCode")) or "UNKNOWN").strip(),
                        one_line(scrub(error.findtext(soap.md("message")) or ""), 500),
                    )
                    for error in result.findall(soap.md("errors"))
                ]
                by_name[name] = SaveOutcome(name, success, errors)
            return [
                by_name.get(c.full_name)
                or SaveOutcome(
                    c.full_name,
                    False,
                    [(OUTCOME_UNKNOWN, "the org's reply has no result for this component")],
                )
                for c in batch
            ]

        return call

    # -- REST -----------------------------------------------------------------------------

    @property
    def org_id(self) -> str:
        """Read once per run (REST query on Organization) and recorded in plans.

        read_live asks it from a worker thread, beside the reads; should another thread ask
        at the same moment, it waits for that answer instead of sending a second query."""
        with self._org_id_lock:
            if self._org_id is None:
                rows = self.query("SELECT Id FROM Organization")
                if not rows or not isinstance(rows[0].get("Id"), str):
                    raise OrgError("the org returned no Organization record")
                self._org_id = rows[0]["Id"]
            return self._org_id

    def _rest(self, what: str, call: Callable[[Any], Any]) -> dict[str, Any]:
        """One REST call through simple-salesforce (`call(sf)`), with a slot of
        --parallelism, retries, one re-login, and errors mapped onto the taxonomy."""

        def once(token: str) -> dict[str, Any]:
            from simple_salesforce.exceptions import SalesforceError

            sf = self.sf  # built (and simple-salesforce imported) before taking a slot
            try:
                with self._in_flight:
                    result = call(sf)
            except SalesforceError as exc:
                raise _rest_error(exc) from None
            except OrgError:
                raise
            except requests.RequestException as exc:
                raise transport_error(exc, what, sent_matters=False) from None
            except ValueError as exc:  # a JSON reply that does not parse
                raise IncompleteResponse(
                    f"{what}: the org's reply is not valid JSON ({exc})"
                ) from None
            return dict(result)

        return self.retry.run(what, lambda: self._with_session(once))

    def query(self, soql: str) -> list[dict[str, Any]]:
        log.debug("query %s", soql)
        result = self._rest("query", lambda sf: sf.query_all(soql, timeout=self.timeout))
        records = result.get("records") if isinstance(result, dict) else None
        if not isinstance(records, list):
            raise IncompleteResponse("query: the org's reply has no records list")
        return [_strip_attributes(row) for row in records]

    def describe(self, sobject: str) -> list[dict[str, Any]]:
        """The fields of an sObject (`GET sobjects/<name>/describe`), each with at least
        `name` and `label`: look-ups find fields whose API name is unverified by label."""
        log.debug("describe %s", sobject)
        result = self._rest("describe", lambda sf: getattr(sf, sobject).describe())
        fields = result.get("fields") if isinstance(result, dict) else None
        if not isinstance(fields, list):
            raise IncompleteResponse("describe: the org's reply has no fields list")
        return [f for f in fields if isinstance(f, dict)]


def _rest_error(exc: Any) -> OrgError:
    """simple-salesforce's exception as the taxonomy's error (wire doc §9)."""
    detail = exc.content
    code = None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        code = str(detail[0].get("errorCode") or "") or None
        detail = f"{code}: {detail[0].get('message')}"
    elif isinstance(detail, bytes | str):
        detail = f"{len(detail)} bytes of non-JSON content"
    text = f"query failed (HTTP {exc.status}): {one_line(scrub(str(detail)), 500)}"
    if exc.status == 401 or code == "INVALID_SESSION_ID":
        return SessionExpired(text, code or "INVALID_SESSION_ID")
    if code == "REQUEST_LIMIT_EXCEEDED":
        return RequestLimitExceeded(
            f"{text}. The org's API request limit is used up; nothing more will be sent, and "
            "retrying cannot help until the limit resets.",
            code,
        )
    if exc.status in (502, 503, 504):
        return TransientOrgError(text, code or "SERVER_UNAVAILABLE")
    return OrgError(text, code)


def _strip_attributes(row: Any) -> Any:
    if isinstance(row, dict):
        return {k: _strip_attributes(v) for k, v in row.items() if k != "attributes"}
    return row
