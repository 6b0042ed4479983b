"""A small SOQL subset over the state's `sobjects` tables (wire doc §9).

Grammar: SELECT f[, Rel.f ...] FROM Obj [WHERE cond [AND cond ...]] [ORDER BY f [ASC|DESC]]
[LIMIT n]; cond is `f = v`, `f != v`, `f IN (v, ...)` with v a quoted string, true/false,
null or a number. Names are case-insensitive, as in SOQL.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

PAGE_SIZE = 2000

# (object, relationship name) → (lookup id field, target object)
RELATIONSHIPS = {
    ("User", "Profile"): ("ProfileId", "Profile"),
    ("PermissionSet", "Profile"): ("ProfileId", "Profile"),
    ("PermissionSetAssignment", "PermissionSet"): ("PermissionSetId", "PermissionSet"),
    ("PermissionSetAssignment", "Assignee"): ("AssigneeId", "User"),
}


#: Objects the emulator knows even when the state holds no rows for them, with their columns
#: (eca doc §14). Minimal LoginHistory support, to be replaced by the emulator's own (emu15).
DECLARED_COLUMNS = {
    "LoginHistory": (
        "Id",
        "UserId",
        "LoginTime",
        "LoginType",
        "LoginSubType",
        "Application",
        "SourceIp",
        "Status",
        "LoginUrl",
        "Platform",
        "AuthenticationServiceId",
    ),
}


class QueryError(Exception):
    """Becomes HTTP 400 with a JSON error list."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_QUERY_RE = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>[\w.]+)(?:\s+(?P<dir>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_DATETIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)"
_VALUE = rf"'(?:[^'\\]|\\.)*'|true|false|null|{_DATETIME}|-?\d+(?:\.\d+)?"
_COND_RE = re.compile(
    rf"^\s*(?P<field>[\w.]+)\s*(?:(?P<op>!=|>=|<=|=|>|<)\s*(?P<value>{_VALUE})"
    rf"|\s+(?P<in>NOT\s+IN|IN)\s*\((?P<values>[^)]*)\))\s*$",
    re.IGNORECASE,
)


def _literal(token: str) -> Any:
    token = token.strip()
    low = token.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low == "null":
        return None
    if token.startswith("'"):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    if re.fullmatch(_DATETIME, token):
        return _when(token)
    return float(token) if "." in token else int(token)


class QueryEngine:
    """Runs queries and keeps cursors for nextRecordsUrl paging."""

    def __init__(self, tables: Callable[[], dict[str, list[dict[str, Any]]]]) -> None:
        self._tables = tables  # a getter: state transactions swap the document
        #: locator -> (totalSize, offset of the first remaining record, remaining records)
        self._cursors: dict[str, tuple[int, int, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    @property
    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return self._tables()

    # --- name resolution ---------------------------------------------------------------
    def _object(self, name: str) -> str:
        for obj in [*self.tables, *DECLARED_COLUMNS]:
            if obj.lower() == name.lower():
                return obj
        raise QueryError("INVALID_TYPE", f"sObject type '{name}' is not supported.")

    def _columns(self, obj: str) -> dict[str, str]:
        cols = {"id": "Id"} | {c.lower(): c for c in DECLARED_COLUMNS.get(obj, ())}
        for row in self.tables.get(obj, []):
            cols.update({k.lower(): k for k in row})
        return cols

    def _resolve(self, obj: str, path: str) -> list[tuple[str, str]]:
        """Map 'Profile.Name' → [(object, 'Profile'), (target, 'Name')] with canonical case."""
        steps, current = [], obj
        parts = path.split(".")
        for i, part in enumerate(parts):
            if i < len(parts) - 1:
                rel = next(
                    (r for (o, r) in RELATIONSHIPS if o == current and r.lower() == part.lower()),
                    None,
                )
                if rel is None:
                    raise QueryError(
                        "INVALID_FIELD",
                        f"Didn't understand relationship '{part}' in field path. If you are "
                        "attempting to use a custom relationship, be sure to append the '__r' "
                        "after the custom relationship name.",
                    )
                steps.append((current, rel))
                current = RELATIONSHIPS[(current, rel)][1]
            else:
                col = self._columns(current).get(part.lower())
                if col is None:
                    raise QueryError(
                        "INVALID_FIELD", f"No such column '{part}' on entity '{current}'."
                    )
                steps.append((current, col))
        return steps

    def _get(self, row: dict[str, Any], steps: list[tuple[str, str]]) -> Any:
        for obj, name in steps[:-1]:
            id_field, target = RELATIONSHIPS[(obj, name)]
            key = row.get(id_field)
            found = next((r for r in self.tables[target] if r["Id"] == key), None)
            if found is None:
                return None
            row = found
        return row.get(steps[-1][1])

    # --- execution ---------------------------------------------------------------------
    def run(self, soql: str, base: str) -> dict[str, Any]:
        grouped = _GROUPED_RE.match(soql)
        if grouped:
            return self._page(self._aggregate(grouped), base)
        m = _QUERY_RE.match(soql)
        if not m:
            raise QueryError("MALFORMED_QUERY", f"unexpected token in query: {soql.strip()}")
        obj = self._object(m["obj"])
        paths = [p.strip() for p in m["fields"].split(",")]
        if any(not re.fullmatch(r"[\w.]+", p) for p in paths):
            raise QueryError("MALFORMED_QUERY", "unexpected token in SELECT list")
        selected = [(p, self._resolve(obj, p)) for p in paths]
        rows = list(self.tables.get(obj, []))
        if m["where"]:
            for cond in re.split(r"\s+AND\s+", m["where"], flags=re.IGNORECASE):
                rows = self._filter(obj, rows, cond)
        if m["order"]:
            steps = self._resolve(obj, m["order"])
            rows.sort(
                key=lambda r: (self._get(r, steps) is None, str(self._get(r, steps))),
                reverse=(m["dir"] or "").upper() == "DESC",
            )
        if m["limit"]:
            rows = rows[: int(m["limit"])]
        records = [self._shape(obj, row, selected, base) for row in rows]
        return self._page(records, base)

    def _filter(self, obj: str, rows: list[dict[str, Any]], cond: str) -> list[dict[str, Any]]:
        c = _COND_RE.match(cond)
        if not c:
            raise QueryError("MALFORMED_QUERY", f"unexpected token: '{cond.strip()}'")
        steps = self._resolve(obj, c["field"])
        if c["in"]:
            values = [_literal(v) for v in re.findall(_VALUE, c["values"], re.IGNORECASE)]
            keep_in = c["in"].upper() == "IN"
            return [r for r in rows if (self._get(r, steps) in values) == keep_in]
        value = _literal(c["value"])
        if c["op"] in _ORDER_OPS:
            test = _ORDER_OPS[c["op"]]
            return [r for r in rows if _ordered(self._get(r, steps), value, test)]
        eq = c["op"] == "="
        return [r for r in rows if (_eq(self._get(r, steps), value)) == eq]

    def _aggregate(self, m: re.Match[str]) -> list[dict[str, Any]]:
        """SELECT f, ..., COUNT(Id) alias, MAX(f) alias FROM Obj [WHERE ...] GROUP BY f, ...:
        one AggregateResult record per group (grouped fields plus the aliases)."""
        obj = self._object(m["obj"])
        group = [self._resolve(obj, f.strip())[-1][1] for f in m["group"].split(",")]
        items: list[tuple[str, str | None, str]] = []  # (name or alias, function, field)
        for item in (i.strip() for i in m["fields"].split(",")):
            agg = re.fullmatch(r"(COUNT|MAX|MIN)\((\w+)\)(?:\s+(\w+))?", item, re.I)
            if agg:
                column = self._resolve(obj, agg[2])[-1][1]
                items.append((agg[3] or f"expr{len(items)}", agg[1].upper(), column))
            else:
                column = self._resolve(obj, item)[-1][1]
                if column not in group:
                    raise QueryError("MALFORMED_QUERY", f"field {item} must be grouped")
                items.append((column, None, column))
        rows = list(self.tables.get(obj, []))
        if m["where"]:
            for cond in re.split(r"\s+AND\s+", m["where"], flags=re.IGNORECASE):
                rows = self._filter(obj, rows, cond)
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(row.get(g) for g in group), []).append(row)
        out = []
        for members in groups.values():
            record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for name, function, column in items:
                values = [r.get(column) for r in members if r.get(column) is not None]
                if function is None:
                    record[name] = members[0].get(column)
                elif function == "COUNT":
                    record[name] = len(values)
                else:
                    pick = max if function == "MAX" else min
                    record[name] = pick(values, key=_when) if values else None
            out.append(record)
        return out

    def _shape(
        self, obj: str, row: dict[str, Any], selected: list[tuple[str, Any]], base: str
    ) -> dict[str, Any]:
        """Nested objects for relationship fields, each with its own attributes."""
        out: dict[str, Any] = {"attributes": _attrs(obj, row, base)}
        for _, steps in selected:
            target, src = out, row
            for o, name in steps[:-1]:
                id_field, t_obj = RELATIONSHIPS[(o, name)]
                src = next((r for r in self.tables[t_obj] if r["Id"] == src.get(id_field)), {})
                if not src:
                    target[name] = None
                    break
                if not isinstance(target.get(name), dict):
                    target[name] = {"attributes": _attrs(t_obj, src, base)}
                target = target[name]
            else:
                target[steps[-1][1]] = src.get(steps[-1][1])
        return out

    def _page(self, records: list[dict[str, Any]], base: str) -> dict[str, Any]:
        total = len(records)
        first, rest = records[:PAGE_SIZE], records[PAGE_SIZE:]
        result: dict[str, Any] = {"totalSize": total, "done": not rest, "records": first}
        if rest:
            result["nextRecordsUrl"] = self._store(rest, total, PAGE_SIZE, base)
        return result

    def _store(self, rest: list[dict[str, Any]], total: int, offset: int, base: str) -> str:
        cursor = "01g" + secrets.token_hex(6).upper()[:12] + "AAA"
        locator = f"{cursor}-{offset}"
        with self._lock:
            self._cursors[locator] = (total, offset, rest)
        return f"{base}/query/{locator}"

    def more(self, locator: str, base: str) -> dict[str, Any]:
        with self._lock:
            entry = self._cursors.pop(locator, None)
        if entry is None:
            raise QueryError("INVALID_QUERY_LOCATOR", "invalid query locator")
        total, offset, rest = entry
        first, remaining = rest[:PAGE_SIZE], rest[PAGE_SIZE:]
        result: dict[str, Any] = {"totalSize": total, "done": not remaining, "records": first}
        if remaining:
            result["nextRecordsUrl"] = self._store(remaining, total, offset + PAGE_SIZE, base)
        return result


_GROUPED_RE = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?\s+GROUP\s+BY\s+(?P<group>[\w.,\s]+?)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


def _when(value: Any) -> Any:
    """A dateTime (literal or stored, `Z`, `+0000` or `+00:00`) as an aware datetime; any
    other value unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return value


def _ordered(a: Any, b: Any, test: Callable[[Any, Any], bool]) -> bool:
    a, b = _when(a), _when(b)
    try:
        return a is not None and bool(test(a, b))
    except TypeError:
        return False


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()  # SOQL string comparison is case-insensitive
    return a == b


def _attrs(obj: str, row: dict[str, Any], base: str) -> dict[str, str]:
    return {"type": obj, "url": f"{base}/sobjects/{obj}/{row.get('Id')}"}
