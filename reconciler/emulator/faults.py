"""Which injected fault, if any, a call to the emulator gets (the `org.faults` rules).

Reliability tests need an org that fails on cue: the third updateMetadata of one app, every
query, a single login. The rules live in the state file (so CLI runs against
`-o emulator:<file>` see them too); the counters live here, in memory, so `after`/`times` count
the calls made to one running server, and a fresh server starts from zero.

Each rule counts every call that matches it (op and `match`), whether or not an earlier rule
answered that call; so two rules never steal counts from each other. Of the rules due on a call,
every "latency" rule adds its delay and the first other rule in list order decides the fault.
How a fault looks on the wire is in fault_wire.py; this module only decides.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.emulator import soap_xml as sx
from reconciler.errors import ReconcilerError

METADATA_OPS = (
    "listMetadata",
    "readMetadata",
    "createMetadata",
    "updateMetadata",
    "upsertMetadata",
    "deleteMetadata",
    "renameMetadata",
)
OPS = (*METADATA_OPS, "query", "describe", "login", "token", "*")

#: kind -> {parameter: allowed Python types}; every parameter is optional (defaults in fault_wire).
KINDS: dict[str, dict[str, tuple[type, ...]]] = {
    "latency": {"seconds": (int, float)},
    "http_error": {"status": (int,), "body": (str,), "content_type": (str,), "processed": (bool,)},
    "reset": {},
    "hang": {"seconds": (int, float)},
    "lost_response": {},
    "invalid_session": {},
    "request_limit": {},
    "rest_error": {"status": (int,), "errorCode": (str,), "message": (str,)},
    "soap_fault": {"code": (str,), "message": (str,)},
    "save_error": {"statusCode": (str,), "message": (str,)},
    "ignored_field": {"field": (str,)},
    "truncate": {},
    "malformed": {},
    "doctype": {},
    "oversize": {"bytes": (int,)},
    "nil_record": {},
    "redirect": {},
}
_COMMON = {"op", "kind", "match", "after", "times"}


class FaultRuleError(ReconcilerError):
    """An `org.faults` rule the emulator cannot follow; names the rule and the key."""


@dataclass(frozen=True)
class Call:
    """What a rule can see of one incoming call.

    `subjects` are the SOQL text of a query, or the fullNames a metadata call reads or writes;
    login, token, listMetadata and queryMore (by locator) have none, so a rule with `match`
    never fires on them. `session` is the token the call used, for "invalid_session".
    """

    op: str
    subjects: tuple[str, ...] = ()
    session: str | None = None


@dataclass(frozen=True)
class Decision:
    """Seconds to wait first, then the rule that answers (None: answer normally)."""

    delay: float = 0.0
    rule: dict[str, Any] | None = None

    @property
    def kind(self) -> str | None:
        return None if self.rule is None else str(self.rule["kind"])


def validate(rules: Any) -> list[dict[str, Any]]:
    """Check the whole list; the message says which rule, which key and what is allowed."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise FaultRuleError(f"org.faults must be a list of rules, got {type(rules).__name__}")
    for i, rule in enumerate(rules):
        where = f"org.faults[{i}]"
        if not isinstance(rule, dict):
            raise FaultRuleError(f"{where} must be an object, got {type(rule).__name__}")
        if rule.get("op") not in OPS:
            raise FaultRuleError(
                f"{where}.op must be one of {', '.join(OPS)}; got {rule.get('op')!r}"
            )
        kind = rule.get("kind")
        if kind not in KINDS:
            raise FaultRuleError(f"{where}.kind must be one of {', '.join(KINDS)}; got {kind!r}")
        params = KINDS[kind]
        for key, value in rule.items():
            if key in ("op", "kind"):
                continue
            if key in _CHECKS:
                ok = _CHECKS[key](value)
            elif key in params:
                ok = isinstance(value, params[key]) and (
                    bool in params[key] or not isinstance(value, bool)
                )
            else:
                allowed = ", ".join(sorted(_COMMON | set(params)))
                raise FaultRuleError(
                    f"{where}: unknown key {key!r} for kind {kind!r}; allowed: {allowed}"
                )
            if not ok:
                raise FaultRuleError(f"{where}.{key} has an invalid value {value!r}")
    return rules


def validate_latency(value: Any) -> float:
    """`org.latency_ms`: absent, or a number of milliseconds >= 0."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultRuleError(f"org.latency_ms must be a number of milliseconds >= 0, got {value!r}")
    return float(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "match": lambda v: isinstance(v, str),
    "after": _count,
    "times": lambda v: v is None or _count(v),
}


class FaultInjector:
    """Per-server counters: how many matching calls each rule has seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: Counter[tuple[int, str]] = Counter()
        #: How often each rule (by list index) has fired on this server.
        self.fired: Counter[int] = Counter()

    def reset(self) -> None:
        """Forget all counts (a test that reuses one server between cases)."""
        with self._lock:
            self._seen.clear()
            self.fired.clear()

    def decide(self, rules: Sequence[dict[str, Any]] | None, call: Call) -> Decision:
        """Count `call` against every rule it matches and say how to answer it.

        A rule is keyed by its position and content, so editing the list restarts the counts
        of the rules that changed.
        """
        delay = 0.0
        chosen: dict[str, Any] | None = None
        with self._lock:
            for i, rule in enumerate(validate(list(rules or []))):
                if not _matches(rule, call):
                    continue
                key = (i, json.dumps(rule, sort_keys=True))
                self._seen[key] += 1
                n = self._seen[key]  # 1-based number of this matching call
                after = int(rule.get("after", 0))
                times = rule.get("times", 1)
                if n <= after or (times is not None and n > after + times):
                    continue
                if rule["kind"] == "latency":
                    delay += float(rule.get("seconds", 0))
                    self.fired[i] += 1
                elif chosen is None:
                    chosen = rule
                    self.fired[i] += 1
        return Decision(delay, chosen)


def _matches(rule: dict[str, Any], call: Call) -> bool:
    if rule["op"] not in ("*", call.op):
        return False
    needle = rule.get("match")
    return needle is None or any(needle in s for s in call.subjects)


def soap_call(body: bytes) -> Call:
    """Describe a Metadata SOAP request: operation local name, fullNames, session id.

    An unparsable body is op "" (only "*" rules see it); the service answers it with a fault.
    """
    try:
        root, _ = sx.parse(body)
    except ET.ParseError:
        return Call("")
    header = sx.child(root, "Header")
    session = sx.text(sx.child(sx.child(header, "SessionHeader"), "sessionId"))
    body_el = sx.child(root, "Body")
    if body_el is None or not len(body_el):
        return Call("", session=session)
    op = body_el[0]
    return Call(sx.local(op.tag), tuple(requested_names(op)), session)


def requested_names(op: ET.Element) -> list[str]:
    """fullNames a metadata operation reads or writes (listMetadata names none)."""
    names = [sx.text(e) or "" for e in sx.children(op, "fullNames")]
    for comp in sx.children(op, "metadata"):
        names.append(sx.text(sx.child(comp, "fullName")) or "")
    for tag in ("oldFullName", "newFullName"):
        value = sx.text(sx.child(op, tag))
        if value is not None:
            names.append(value)
    return names


@dataclass(frozen=True)
class ComponentFaults:
    """The part of a fault that acts inside a metadata call, per component."""

    rule: dict[str, Any] | None = None

    def hits(self, kind: str, full_name: str) -> bool:
        """Does this call's rule of `kind` apply to component `full_name`?"""
        if self.rule is None or self.rule["kind"] != kind:
            return False
        needle = self.rule.get("match")
        return needle is None or needle in full_name

    def ignored_field(self, full_name: str) -> str | None:
        """The field a save of `full_name` reports as saved but does not store, if any."""
        if self.rule is None or not self.hits("ignored_field", full_name):
            return None
        return str(self.rule.get("field", ""))

    def save_error(self, full_name: str) -> tuple[str, str, list[str]] | None:
        if self.rule is None or not self.hits("save_error", full_name):
            return None
        return (
            str(self.rule.get("statusCode", "UNKNOWN_EXCEPTION")),
            str(self.rule.get("message", "injected save error")),
            [],
        )
