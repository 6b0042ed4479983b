"""Org access through simple-salesforce: REST via `Salesforce`, Metadata API via zeep.

Why a zeep client of our own on simple-salesforce's bundled WSDL instead of `sf.mdapi`
(wire doc §11.5-§11.8): `sf.mdapi` turns per-component save failures into one bare `Exception`
string (we need each component's statusCode and message), `read()` returns a lone object or a
list depending on the count, it caches the session header, and it has no timeout. Building the
same zeep client through zeep's public API, with the same requests session as the REST side,
fixes all four and keeps TLS settings (REQUESTS_CA_BUNDLE, verify) identical for both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests
import simple_salesforce
import zeep
import zeep.exceptions
import zeep.helpers
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from .. import fields as F
from ..errors import OrgError, ReadRefused
from ..model import Component
from ..redaction import register_secret, scrub
from .interface import SaveOutcome

log = logging.getLogger(__name__)

#: API version of the WSDL simple-salesforce bundles. Pinning the endpoint to it matters for
#: read-modify-write: a newer endpoint could return fields the WSDL does not know, which zeep
#: would keep aside and an update would then silently drop.
API_VERSION = "63.0"
BATCH = 10  # components per read/CRUD call (wire doc §4)
LIST_QUERIES = 3  # ListMetadataQuery per listMetadata call
_BINDING = "{http://soap.sforce.com/2006/04/metadata}MetadataBinding"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _plain(value: Any) -> Any:
    """zeep objects -> dicts/lists, dropping None so a component round-trips as it was read."""
    value = zeep.helpers.serialize_object(value, target_cls=dict)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class SalesforceOrg:
    """An org reached at `instance_url` with a session id (access token)."""

    def __init__(
        self,
        instance_url: str,
        access_token: str,
        session: requests.Session,
        *,
        api_version: str = API_VERSION,
        timeout: float = 60.0,
    ) -> None:
        register_secret(access_token)
        self.instance_url = instance_url
        self.timeout = timeout
        self._org_id: str | None = None
        self.sf = Salesforce(
            instance_url=instance_url,
            session_id=access_token,
            version=api_version,
            session=session,
        )
        wsdl = (Path(simple_salesforce.__file__).parent / "metadata.wsdl").as_uri()
        transport = zeep.Transport(session=session, timeout=timeout, operation_timeout=timeout)
        settings = zeep.Settings(strict=False, xsd_ignore_sequence_order=True)
        self._client = zeep.Client(wsdl, transport=transport, settings=settings)
        self._service = self._client.create_service(
            _BINDING, f"{instance_url}/services/Soap/m/{api_version}/"
        )
        self._header = self._client.get_element("ns0:SessionHeader")(sessionId=access_token)

    # -- calls -------------------------------------------------------------------------------

    def _soap(self, operation: str, *args: Any) -> Any:
        """One Metadata API call; every failure becomes an OrgError with a scrubbed message."""
        log.debug("metadata %s %s", operation, [a for a in args if isinstance(a, str)])
        try:
            return getattr(self._service, operation)(*args, _soapheaders=[self._header])
        except zeep.exceptions.Fault as exc:
            code = str(exc.code or "").split(":")[-1] or None
            raise OrgError(f"{operation} failed: {scrub(str(exc.message))}", code) from None
        except zeep.exceptions.Error as exc:
            raise OrgError(f"{operation} failed: {scrub(str(exc))}") from None
        except requests.RequestException as exc:
            raise OrgError(
                f"cannot reach {self.instance_url} ({type(exc).__name__}): {scrub(str(exc))}"
            ) from None

    @property
    def org_id(self) -> str:
        """Read once per run (REST query on Organization) and recorded in plans."""
        if self._org_id is None:
            rows = self.query("SELECT Id FROM Organization")
            if not rows:
                raise OrgError("the org returned no Organization record")
            self._org_id = rows[0]["Id"]
        return self._org_id

    def query(self, soql: str) -> list[dict[str, Any]]:
        log.debug("query %s", soql)
        try:
            result = self.sf.query_all(soql, timeout=self.timeout)
        except SalesforceError as exc:
            detail = exc.content
            if isinstance(detail, list) and detail and isinstance(detail[0], dict):
                detail = f"{detail[0].get('errorCode')}: {detail[0].get('message')}"
            raise OrgError(f"query failed (HTTP {exc.status}): {scrub(str(detail))}") from None
        except requests.RequestException as exc:
            raise OrgError(
                f"cannot reach {self.instance_url} ({type(exc).__name__}): {scrub(str(exc))}"
            ) from None
        return [_strip_attributes(row) for row in result.get("records", [])]

    def list_names(self, types: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {t: [] for t in types}
        query_type = self._client.get_type("ns0:ListMetadataQuery")
        for group in _chunks(list(types), LIST_QUERIES):
            queries = [query_type(type=t) for t in group]
            for prop in self._soap("listMetadata", queries, float(API_VERSION)) or []:
                if prop.type in found and prop.fullName:
                    found[prop.type].append(prop.fullName)
        return {t: sorted(names) for t, names in found.items()}

    def read(self, type_name: str, names: Sequence[str]) -> list[Component]:
        components: list[Component] = []
        for batch in _chunks(list(names), BATCH):
            try:
                records = self._soap("readMetadata", type_name, list(batch)) or []
            except OrgError as exc:
                if exc.code in ("INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY"):
                    raise ReadRefused(str(exc), exc.code) from None
                raise
            for record in records:
                if record is None or getattr(record, "fullName", None) is None:
                    continue  # nil record: the name does not exist (wire doc §6)
                components.append(self._to_component(type_name, record))
        return components

    def _to_component(self, type_name: str, record: Any) -> Component:
        data = _plain(record)
        raw = data.pop("_raw_elements", None)
        full_name = data.pop("fullName")
        for secret in F.SECRET_FIELDS:
            register_secret(data.get(secret))
        component = Component(type_name, full_name, data)
        if raw:
            # Fields unknown to the WSDL cannot be sent back, so writing this component would
            # drop them: refuse to write it rather than lose data.
            component.unwritable = f"the org returned {len(raw)} element(s) unknown to the WSDL"
        return component

    def update(self, type_name: str, components: Sequence[Component]) -> list[SaveOutcome]:
        zeep_type = self._client.get_type(f"ns0:{type_name}")
        outcomes: list[SaveOutcome] = []
        for batch in _chunks(list(components), BATCH):
            payload = [zeep_type(fullName=c.full_name, **c.fields) for c in batch]
            try:
                results = self._soap("updateMetadata", payload) or []
            except OrgError as exc:
                outcomes += [
                    SaveOutcome(c.full_name, False, [(exc.code or "FAULT", str(exc))])
                    for c in batch
                ]
                continue
            by_name = {r.fullName: r for r in results}
            for c in batch:
                r = by_name.get(c.full_name)
                if r is None:
                    outcomes.append(SaveOutcome(c.full_name, False, [("NO_RESULT", "no result")]))
                    continue
                errors = [(str(e.statusCode), scrub(str(e.message))) for e in (r.errors or [])]
                outcomes.append(SaveOutcome(c.full_name, bool(r.success), errors))
        return outcomes


def _strip_attributes(row: Any) -> Any:
    if isinstance(row, dict):
        return {k: _strip_attributes(v) for k, v in row.items() if k != "attributes"}
    return row
