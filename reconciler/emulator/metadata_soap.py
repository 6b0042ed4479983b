"""Metadata API SOAP operations over OrgState (list/read/create/update/upsert/delete/rename).

Failure injection for client tests: put
``state.org["fail_updates"] = {fullName: {"statusCode": "UNKNOWN_EXCEPTION", "message": "..."}}``
and every updateMetadata/upsertMetadata of that existing component fails with that error
(other components in the same call are unaffected unless AllOrNoneHeader is true). The
`org.faults` rules (faults.py) reach in here only for the per-component kinds: "save_error"
and "ignored_field" on create/update/upsert and "nil_record" on readMetadata, through
`ComponentFaults`.
"""

from __future__ import annotations

import datetime as dt
import secrets
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from typing import Any

from reconciler.emulator import soap_xml as sx
from reconciler.emulator.demo_org import sf_id
from reconciler.emulator.faults import ComponentFaults
from reconciler.emulator.rules import (
    APP_TYPE,
    CONNECTED_APP_TYPE,
    CONNECTED_OAUTH,
    FILE_LAYOUT,
    GLOBAL_TYPE,
    ID_PREFIX,
    POLICY_TYPE,
    SECRET_FIELDS,
    STRING_ENUMS,
    SUPPORTED_TYPES,
    generated_policy,
    generated_policy_name,
    with_defaults,
)
from reconciler.emulator.sessions import Session
from reconciler.emulator.state import OrgState
from reconciler.emulator.wsdl_schema import ComplexSpec, FieldSpec, Schema, load_schema

MAX_PER_CALL = 10
MAX_LIST_QUERIES = 3
OAUTH_SETTINGS_TYPE = "ExtlClntAppOauthSettings"
CC_USER_MESSAGE = "Enter a valid execution user for the OAuth client credentials flow."

Error = tuple[str, str, list[str]]  # statusCode, message, fields


def now_iso() -> str:
    t = dt.datetime.now(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


#: xsd:boolean lexical forms, and the numeric kinds with their parsers.
_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}
_NUMBER: dict[str, Callable[[str], Any]] = {"int": int, "double": float}


class MetadataService:
    """Handles one parsed SOAP request; returns the response body (faults via SoapFault)."""

    def __init__(self, state: OrgState, schema: Schema | None = None) -> None:
        self.state = state
        self.schema = schema or load_schema()
        #: Calls per operation name: lets tests and benchmarks count round trips.
        self.calls: Counter[str] = Counter()

    # ----------------------------------------------------------------------- entry point
    def handle(
        self,
        body: bytes,
        authorize: Callable[[str | None], Session | None],
        injected: ComponentFaults | None = None,
    ) -> tuple[int, str]:
        try:
            root, scopes = sx.parse(body)
        except ET.ParseError as exc:
            return 500, sx.fault_envelope("INVALID_XML", f"Could not parse request: {exc}")
        header = sx.child(root, "Header")
        session_el = sx.child(sx.child(header, "SessionHeader"), "sessionId")
        session = authorize(sx.text(session_el))
        if session is None or not session.soap_ok:
            return 500, sx.fault_envelope(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
            )
        body_el = sx.child(root, "Body")
        op = body_el[0] if body_el is not None and len(body_el) else None
        if op is None:
            return 500, sx.fault_envelope("INVALID_XML", "SOAP Body has no operation element")
        all_or_none = sx.text(sx.child(sx.child(header, "AllOrNoneHeader"), "allOrNone"))
        name = sx.local(op.tag)
        inj = injected or ComponentFaults()
        self.calls[name] += 1
        handlers = {
            "listMetadata": lambda: self.list_metadata(op),
            "readMetadata": lambda: self.read_metadata(op, inj),
            "createMetadata": lambda: self.save(op, scopes, "create", all_or_none == "true", inj),
            "updateMetadata": lambda: self.save(op, scopes, "update", all_or_none == "true", inj),
            "upsertMetadata": lambda: self.save(op, scopes, "upsert", all_or_none == "true", inj),
            "deleteMetadata": lambda: self.delete(op, all_or_none == "true"),
            "renameMetadata": lambda: self.rename(op),
        }
        if name not in handlers:
            return 500, sx.fault_envelope(
                "UNKNOWN_EXCEPTION", f"Operation {name} is not supported by the emulator"
            )
        try:
            inner = handlers[name]()
        except sx.SoapFault as fault:
            return 500, sx.fault_envelope(fault.code, fault.message)
        except Exception as exc:  # noqa: BLE001 - an emulator bug must still answer in SOAP
            return 500, sx.fault_envelope("UNKNOWN_EXCEPTION", f"emulator error: {exc!r}")
        return 200, sx.md_envelope(inner)

    # ----------------------------------------------------------------------------- list
    def list_metadata(self, op: ET.Element) -> str:
        queries = sx.children(op, "queries")
        if len(queries) > MAX_LIST_QUERIES:
            # Limit documented (3 queries); the fault code and text are UNVERIFIED.
            raise sx.SoapFault(
                "INVALID_TYPE", "Too many queries: listMetadata accepts at most 3 queries"
            )
        users = {u["Id"]: u for u in self.state.sobjects("User")}
        admin = self.state.sobjects("User")[0]
        out = []
        now = now_iso()  # one clock reading per call: 15,000 entries would read it 30,000 times
        with self.state.lock:
            for q in queries:
                type_name = sx.text(sx.child(q, "type")) or ""
                if type_name not in SUPPORTED_TYPES:
                    continue
                folder, suffix = FILE_LAYOUT[type_name]
                infos = self.state.doc["metadata_info"].get(type_name, {})
                for full_name in sorted(self.state.components(type_name)):
                    info = infos.get(full_name, {})
                    by = users.get(info.get("lastModifiedById", ""), admin)
                    out.append(
                        "<result>"
                        + sx.el("createdById", admin["Id"])
                        + sx.el("createdByName", admin["Name"])
                        + sx.el("createdDate", info.get("createdDate", now))
                        + sx.el("fileName", f"{folder}/{full_name}.{suffix}")
                        + sx.el("fullName", full_name)
                        + sx.el("id", info.get("id", ""))
                        + sx.el("lastModifiedById", by["Id"])
                        + sx.el("lastModifiedByName", by["Name"])
                        + sx.el("lastModifiedDate", info.get("lastModifiedDate", now))
                        + sx.el("manageableState", "unmanaged")
                        + sx.el("type", type_name)
                        + "</result>"
                    )
        if not out:
            return "<listMetadataResponse/>"
        return f"<listMetadataResponse>{''.join(out)}</listMetadataResponse>"

    # ----------------------------------------------------------------------------- read
    def read_metadata(self, op: ET.Element, injected: ComponentFaults | None = None) -> str:
        type_name = sx.text(sx.child(op, "type")) or ""
        names = [sx.text(e) or "" for e in sx.children(op, "fullNames")]
        if len(names) > MAX_PER_CALL:
            raise sx.SoapFault(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 10 records in this operation",
            )
        if not self.schema.has_type(type_name):
            raise sx.SoapFault("INVALID_TYPE", f"Unknown type name '{type_name}' specified")
        omit_secrets = False
        if type_name == GLOBAL_TYPE and not self.state.org.get("consumer_secret_api_access"):
            # Real behaviour with "Allow Access to OAuth Consumer Secrets via Metadata API" off
            # is not documented (ECA reference §13.5). Retrieved files (§13a) show the best
            # supported model, "omit" (the default): the read succeeds, consumerSecret is left
            # out, consumerKey stays. "fault" keeps the whole-read refusal as an option.
            if self.state.org.get("secret_access_off_behaviour", "omit") == "fault":
                raise sx.SoapFault(
                    "INSUFFICIENT_ACCESS",
                    "insufficient access rights on object id: access to OAuth consumer secrets "
                    "via the Metadata API is disabled in this org",
                )
            omit_secrets = True
        records = []
        with self.state.lock:
            comps = self.state.components(type_name) if type_name in SUPPORTED_TYPES else {}
            for name in names or [""]:
                fields = comps.get(name)
                if injected is not None and injected.hits("nil_record", name):
                    fields = None
                if fields is None:
                    # Unknown name → nil record, never an empty <result/> (wire doc §6, §11.5).
                    records.append('<records xsi:nil="true"/>')
                    continue
                # Filled at read time too, so a state file written before every boolean was
                # stored still reads back as a real org answers (ECA reference §13a).
                values = {"fullName": name, **with_defaults(type_name, fields)}
                if omit_secrets:
                    values.pop("consumerSecret", None)
                if type_name == CONNECTED_APP_TYPE and isinstance(
                    values.get(CONNECTED_OAUTH), dict
                ):
                    values[CONNECTED_OAUTH] = _connected_oauth_read(
                        values[CONNECTED_OAUTH], self.state.org
                    )
                spec = self.schema.complex(type_name)
                records.append(
                    f'<records xsi:type="{type_name}">{self._render(spec, values)}</records>'
                )
        return f"<readMetadataResponse><result>{''.join(records)}</result></readMetadataResponse>"

    def _render(self, spec: ComplexSpec, values: dict[str, Any]) -> str:
        """Serialise in WSDL order; booleans as true/false."""
        parts = []
        for f in spec.fields:
            if f.name not in values or values[f.name] is None:
                continue
            items = (
                values[f.name] if f.many and isinstance(values[f.name], list) else [values[f.name]]
            )
            for item in items:
                if f.kind == "complex":
                    inner = self._render(self.schema.complex(f.type_name), item)
                    parts.append(f"<{f.name}>{inner}</{f.name}>")
                elif f.kind == "boolean":
                    parts.append(sx.el(f.name, "true" if item else "false"))
                else:
                    parts.append(sx.el(f.name, str(item)))
        return "".join(parts)

    # ------------------------------------------------------------------- parse incoming
    def _parse(
        self, elem: ET.Element, spec: ComplexSpec, errors: list[Error], path: str = ""
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for c in elem:
            name = sx.local(c.tag)
            f = spec.by_name.get(name)
            if f is None:
                # Real orgs reject unknown elements (probably as a fault); a per-component
                # INVALID_FIELD keeps the rest of the batch observable. UNVERIFIED.
                errors.append(
                    ("INVALID_FIELD", f"Element {name} invalid in type {spec.name}", [path + name])
                )
                continue
            if c.get(f"{{{sx.XSI}}}nil") == "true":
                continue
            value = self._convert(c, f, errors, path)
            if value is None:
                continue
            if f.many:
                values.setdefault(name, []).append(value)
            else:
                values[name] = value
        for req in spec.required:
            if req not in values:
                errors.append(
                    (
                        "REQUIRED_FIELD_MISSING",
                        f"Required field is missing: {path}{req}",
                        [path + req],
                    )
                )
        return values

    def _convert(self, c: ET.Element, f: FieldSpec, errors: list[Error], path: str) -> Any:
        if f.kind == "complex":
            return self._parse(c, self.schema.complex(f.type_name), errors, f"{path}{f.name}.")
        raw = (c.text or "").strip()  # string values are trimmed [MDG]
        bad = (
            "INVALID_FIELD",
            f"'{raw}' is not a valid value for the field {f.name}",
            [path + f.name],
        )
        if f.kind in _NUMBER:
            try:
                return _NUMBER[f.kind](raw)
            except ValueError:
                errors.append(bad)
                return None
        if f.kind == "boolean":
            if raw in _BOOLEAN:
                return _BOOLEAN[raw]
            errors.append(bad)
            return None
        if f.kind == "enum" and raw not in f.enum_values:
            errors.append(bad)
            return None
        return raw

    # ----------------------------------------------------------------------------- save
    def _resolve_type(self, elem: ET.Element, scopes: dict[ET.Element, dict[str, str]]) -> str:
        qname = elem.get(f"{{{sx.XSI}}}type") or ""
        prefix, _, name = qname.rpartition(":")
        uri = scopes.get(elem, {}).get(prefix)
        if prefix and uri != sx.MD_NS:
            return ""  # a type from some other namespace
        return name

    def save(
        self,
        op: ET.Element,
        scopes: dict[ET.Element, dict[str, str]],
        mode: str,
        all_or_none: bool,
        injected: ComponentFaults | None = None,
    ) -> str:
        comps = sx.children(op, "metadata")
        if len(comps) > MAX_PER_CALL:
            # The limit is documented; the fault for writes is assumed equal to reads (UNVERIFIED).
            raise sx.SoapFault(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 10 records in this operation",
            )
        types = [self._resolve_type(c, scopes) for c in comps]
        if len(set(types)) > 1:
            # "All components must be of the same type" is documented; the fault is UNVERIFIED.
            raise sx.SoapFault(
                "INVALID_TYPE", "All components in a single call must be of the same type"
            )
        results: list[dict[str, Any]] = []
        with self.state.lock, self.state.transaction() as doc:
            for comp, type_name in zip(comps, types, strict=True):
                results.append(self._save_one(doc, comp, type_name, mode, injected))
            if all_or_none and any(not r["success"] for r in results):
                _rollback(results)
                doc.clear()
                doc.update(self.state.doc)
        tag = {"create": "createMetadata", "update": "updateMetadata", "upsert": "upsertMetadata"}
        body = "".join(_render_result(r, upsert=mode == "upsert") for r in results)
        return f"<{tag[mode]}Response>{body}</{tag[mode]}Response>"

    def _save_one(
        self,
        doc: dict[str, Any],
        comp: ET.Element,
        type_name: str,
        mode: str,
        injected: ComponentFaults | None = None,
    ) -> dict[str, Any]:
        full_name = sx.text(sx.child(comp, "fullName")) or ""
        result: dict[str, Any] = {"fullName": full_name, "success": False, "errors": []}
        if type_name not in SUPPORTED_TYPES:
            result["errors"].append(
                ("INVALID_TYPE", f"The emulator does not store type '{type_name}'", [])
            )
            return result
        errors: list[Error] = []
        fields = self._parse(comp, self.schema.complex(type_name), errors)
        fields.pop("fullName", None)
        if not full_name:
            errors.append(
                ("REQUIRED_FIELD_MISSING", "Required field is missing: fullName", ["fullName"])
            )
        existing = doc["metadata"].get(type_name, {}).get(full_name)
        if not errors:
            errors = self._check(doc, type_name, full_name, fields, existing, mode)
        forced = injected.save_error(full_name) if injected is not None else None
        if not errors and forced is not None:
            errors = [forced]
        if errors:
            result["errors"] = errors
            return result
        ignored = injected.ignored_field(full_name) if injected is not None else None
        if ignored and existing is not None:
            # A save that answers success but does not stick for this field (org-side logic
            # overruling it): the stored value stays, so only verification can notice.
            if ignored in existing:
                fields[ignored] = existing[ignored]
            else:
                fields.pop(ignored, None)
        if type_name == GLOBAL_TYPE:
            _apply_secrets(fields, existing)
        if type_name == CONNECTED_APP_TYPE:
            _keep_connected_secrets(fields, existing)
        doc["metadata"].setdefault(type_name, {})[full_name] = with_defaults(type_name, fields)
        _stamp(doc, type_name, full_name)
        if type_name == OAUTH_SETTINGS_TYPE and existing is None:
            _generate_policy(doc, fields.get("externalClientApplication"), full_name)
        result["success"] = True
        result["created"] = existing is None
        return result

    def _check(
        self,
        doc: dict[str, Any],
        type_name: str,
        full_name: str,
        fields: dict[str, Any],
        existing: dict[str, Any] | None,
        mode: str,
    ) -> list[Error]:
        """Business rules on a well-formed component."""
        if mode == "create" and existing is not None:
            return [_duplicate(type_name, full_name)]
        if mode == "update" and existing is None:
            return [_not_found(type_name, full_name)]
        injected = doc["org"].get("fail_updates", {}).get(full_name)
        if injected and existing is not None and mode in ("update", "upsert"):
            return [
                (
                    injected.get("statusCode", "UNKNOWN_EXCEPTION"),
                    injected.get("message", "injected failure"),
                    [],
                )
            ]
        errors: list[Error] = []
        for (t, fname), allowed in STRING_ENUMS.items():
            if t == type_name and fname in fields and fields[fname] not in allowed:
                errors.append(
                    (
                        "FIELD_INTEGRITY_EXCEPTION",
                        f"{fname}: bad value for restricted picklist field: {fields[fname]}",
                        [fname],
                    )
                )
        if type_name == CONNECTED_APP_TYPE:
            return errors + _check_connected(doc, fields, existing)
        if type_name != APP_TYPE:
            parent = fields.get("externalClientApplication")
            if parent not in doc["metadata"].get(APP_TYPE, {}):
                errors.append(
                    (
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"In field: externalClientApplication - no "
                        f"ExternalClientApplication named {parent} found",
                        ["externalClientApplication"],
                    )
                )
        if type_name == GLOBAL_TYPE and existing is not None:
            for key in SECRET_FIELDS:
                if key in fields and fields[key] != existing.get(key):
                    # Real behaviour on a changed key/secret is UNVERIFIED (ECA ref §13.4).
                    errors.append(("FIELD_INTEGRITY_EXCEPTION", f"{key} can't be changed", [key]))
        cc_on = type_name == POLICY_TYPE and fields.get("isClientCredentialsFlowEnabled")
        if cc_on and not _active_user(doc, fields.get("clientCredentialsFlowUser")):
            # The message is real; the statusCode is UNVERIFIED (ECA reference §6).
            errors.append(
                ("FIELD_INTEGRITY_EXCEPTION", CC_USER_MESSAGE, ["clientCredentialsFlowUser"])
            )
        return errors

    # --------------------------------------------------------------------- delete/rename
    def delete(self, op: ET.Element, all_or_none: bool) -> str:
        type_name = sx.text(sx.child(op, "type")) or ""
        names = [sx.text(e) or "" for e in sx.children(op, "fullNames")]
        if len(names) > MAX_PER_CALL:
            raise sx.SoapFault(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 10 records in this operation",
            )
        results = []
        with self.state.lock, self.state.transaction() as doc:
            for name in names:
                comps = doc["metadata"].get(type_name, {})
                if name in comps:
                    del comps[name]
                    doc["metadata_info"].get(type_name, {}).pop(name, None)
                    results.append({"fullName": name, "success": True, "errors": []})
                else:
                    err = _not_found(type_name, name)
                    results.append({"fullName": name, "success": False, "errors": [err]})
            if all_or_none and any(not r["success"] for r in results):
                _rollback(results)
                doc.clear()
                doc.update(self.state.doc)
        body = "".join(_render_result(r) for r in results)
        return f"<deleteMetadataResponse>{body}</deleteMetadataResponse>"

    def rename(self, op: ET.Element) -> str:
        type_name = sx.text(sx.child(op, "type")) or ""
        old = sx.text(sx.child(op, "oldFullName")) or ""
        new = sx.text(sx.child(op, "newFullName")) or ""
        result: dict[str, Any] = {"fullName": new, "success": False, "errors": []}
        with self.state.lock, self.state.transaction() as doc:
            comps = doc["metadata"].get(type_name, {})
            infos = doc["metadata_info"].setdefault(type_name, {})
            if old not in comps:
                result["errors"].append(_not_found(type_name, old))
            elif new in comps:
                result["errors"].append(_duplicate(type_name, new))
            else:
                comps[new] = comps.pop(old)
                infos[new] = {**infos.pop(old, {}), "lastModifiedDate": now_iso()}
                if type_name == APP_TYPE:
                    for satellites in doc["metadata"].values():
                        for fields in satellites.values():
                            if fields.get("externalClientApplication") == old:
                                fields["externalClientApplication"] = new
                result["success"] = True
        return f"<renameMetadataResponse>{_render_result(result)}</renameMetadataResponse>"


def _stamp(doc: dict[str, Any], type_name: str, full_name: str) -> None:
    """Give a new component its id and createdDate; move lastModifiedDate on every save."""
    infos = doc["metadata_info"].setdefault(type_name, {})
    stamp = now_iso()
    info = infos.get(full_name)
    if info is None:
        n = secrets.randbelow(10**12)  # random: counting would reuse ids after deletes
        info = {"id": sf_id(ID_PREFIX[type_name], n), "createdDate": stamp}
        infos[full_name] = info
    info["lastModifiedDate"] = stamp


def _generate_policy(doc: dict[str, Any], app: Any, oauth_settings_name: str) -> None:
    """Create `<oauth settings>_defaultPolicy` for an app that has no OAuth policy yet.

    A deploy generates it (ECA reference §13a). That createMetadata/upsertMetadata of the OAuth
    settings does the same is UNVERIFIED (CRUD on ECA types is itself unverified, §13.2); the
    emulator assumes the one save path. An app that already has a policy gets none."""
    policies = doc["metadata"].setdefault(POLICY_TYPE, {})
    if any(p.get("externalClientApplication") == app for p in policies.values()):
        return
    name = generated_policy_name(oauth_settings_name)
    if name in policies:
        return
    policies[name] = generated_policy(str(app), oauth_settings_name)
    _stamp(doc, POLICY_TYPE, name)


def _not_found(type_name: str, name: str) -> Error:
    return (
        "INVALID_CROSS_REFERENCE_KEY",
        f"In field: fullName - no {type_name} named {name} found",
        ["fullName"],
    )


def _duplicate(type_name: str, name: str) -> Error:
    return (
        "DUPLICATE_VALUE",
        f"duplicate value found: {type_name} named {name} already exists",
        ["fullName"],
    )


def _active_user(doc: dict[str, Any], username: Any) -> bool:
    if not isinstance(username, str) or not username:
        return False
    return any(
        u.get("IsActive") and str(u.get("Username", "")).lower() == username.lower()
        for u in doc["sobjects"].get("User", [])
    )


def _apply_secrets(fields: dict[str, Any], existing: dict[str, Any] | None) -> None:
    """Keep stored key/secret when omitted (UNVERIFIED); generate on create; honour rotation."""
    makers: tuple[tuple[str, str, Callable[[], str]], ...] = (
        ("consumerKey", "shouldRotateConsumerKey", lambda: "3MVG9" + secrets.token_urlsafe(60)),
        ("consumerSecret", "shouldRotateConsumerSecret", lambda: secrets.token_hex(32)),
    )
    for key, flag, make in makers:
        if key not in fields:
            fields[key] = existing[key] if existing and key in existing else make()
        if fields.pop(flag, False):
            fields[key] = make()
        fields[flag] = False  # the rotate flag is an action, never stored as true


def _connected_oauth_read(oauth: dict[str, Any], org: dict[str, Any]) -> dict[str, Any]:
    """A Connected App's `oauthConfig` as a read returns it.

    Whether "Allow Access to OAuth Consumer Secrets via Metadata API" also hides a Connected
    App's consumerSecret is not in the reference (§15 is silent; §13.5 is about ECAs): the
    emulator applies the ECA model (secret left out, key kept) so clients are tested against
    a read that lacks the secret as well as one that carries it."""
    out = dict(oauth)
    if not org.get("consumer_secret_api_access"):
        out.pop("consumerSecret", None)
    return out


def _keep_connected_secrets(fields: dict[str, Any], existing: dict[str, Any] | None) -> None:
    """Keep the stored consumerKey/consumerSecret when an update omits them.

    What updateMetadata does with a ConnectedApp whose oauthConfig omits them is UNVERIFIED
    (the reference says nothing for Connected Apps; for ECAs §13.4 lists keep, clear,
    regenerate or error). The emulator keeps them, as it does for ECAs; the client verifies
    after each write that the consumerKey it read is still the one the org holds, so the
    regenerate outcome would be reported, not missed (applying.py)."""
    if existing is None:
        return
    old = existing.get(CONNECTED_OAUTH) or {}
    new = fields.get(CONNECTED_OAUTH)
    if not isinstance(new, dict):
        return
    for key in SECRET_FIELDS:
        if key not in new and key in old:
            new[key] = old[key]


def _check_connected(
    doc: dict[str, Any], fields: dict[str, Any], existing: dict[str, Any] | None
) -> list[Error]:
    """Business rules of a Connected App save.

    New Connected Apps can no longer be created from Spring '26 (ECA reference §15): a save
    that would create one is refused (the real error text is UNVERIFIED). Client credentials on
    needs an active execution user, as for ECAs (§6, §15); the message is the ECA one,
    assumed to be shared (UNVERIFIED)."""
    errors: list[Error] = []
    oauth = fields.get(CONNECTED_OAUTH) or {}
    stored = (existing or {}).get(CONNECTED_OAUTH) or {}
    for key in SECRET_FIELDS:
        if key in oauth and key in stored and oauth[key] != stored[key]:
            errors.append(("FIELD_INTEGRITY_EXCEPTION", f"{key} can't be changed", [key]))
    if existing is None:
        errors.append(
            (
                "INVALID_OPERATION",
                "New connected apps can no longer be created; create an external client app",
                [],
            )
        )
    if oauth.get("isClientCredentialEnabled") and not _active_user(
        doc, oauth.get("oauthClientCredentialUser")
    ):
        errors.append(
            (
                "FIELD_INTEGRITY_EXCEPTION",
                CC_USER_MESSAGE,
                [f"{CONNECTED_OAUTH}.oauthClientCredentialUser"],
            )
        )
    return errors


def _rollback(results: list[dict[str, Any]]) -> None:
    for r in results:
        if r["success"]:
            r["success"] = False
            r.pop("created", None)
            r["errors"] = [
                (
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the "
                    "request was using AllOrNone header",
                    [],
                )
            ]


def _render_result(r: dict[str, Any], upsert: bool = False) -> str:
    parts = []
    if upsert:
        parts.append(sx.el("created", "true" if r.get("created") else "false"))
    for code, message, fields in r["errors"]:
        inner = "".join(sx.el("fields", f) for f in fields)
        parts.append(
            f"<errors>{inner}{sx.el('message', message)}{sx.el('statusCode', code)}</errors>"
        )
    parts.append(sx.el("fullName", r["fullName"]))
    parts.append(sx.el("success", "true" if r["success"] else "false"))
    return f"<result>{''.join(parts)}</result>"
