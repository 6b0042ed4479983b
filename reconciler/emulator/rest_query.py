"""A small SOQL subset over the state's `sobjects` tables (wire doc §9).

Grammar: SELECT item[, item ...] FROM Obj [WHERE cond [AND cond ...]] [GROUP BY f[, f ...]]
[ORDER BY f [ASC|DESC]] [LIMIT n]. An item is a field (`f` or `Rel.f`) or an aggregate
`COUNT()`, `COUNT(f)`, `MAX(f)`, `MIN(f)` with an optional alias. cond is `f op v` with op one
of = != < <= > >=, or `f [NOT] IN (v, ...)`; v is a quoted string, true/false, null, a number or
an unquoted SOQL dateTime literal (`2026-11-03T09:00:00Z`, `...+01:00`), which is compared with
dateTime fields as an instant. Names are case-insensitive, as in SOQL.

Aggregate queries answer REST's AggregateResult records (see `_aggregate`).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PAGE_SIZE = 2000
#: An aggregate query cannot be paged: REST has no query locator for it [SOQL reference,
#: "Considerations for GROUP BY"], so more groups than fit one batch (2,000) is an error.
AGGREGATE_ROW_LIMIT = 2000
#: The message is the one public projects quote from real orgs ("measured on a sandbox");
#: the errorCode that comes with it on REST is UNVERIFIED. EXCEEDED_ID_LIMIT is what the same
#: "... does not support queryMore(), use LIMIT ..." refusal carries for EntityDefinition.
AGGREGATE_TOO_MANY = (
    "EXCEEDED_ID_LIMIT",
    "Aggregate query does not support queryMore(), use LIMIT to restrict the results to a "
    "single batch",
)

# (object, relationship name) → (lookup id field, target object)
RELATIONSHIPS = {
    ("User", "Profile"): ("ProfileId", "Profile"),
    ("PermissionSet", "Profile"): ("ProfileId", "Profile"),
    ("PermissionSetAssignment", "PermissionSet"): ("PermissionSetId", "PermissionSet"),
    ("PermissionSetAssignment", "Assignee"): ("AssigneeId", "User"),
}

#: Columns of objects an org has even when the state holds no row of them (columns are
#: otherwise learnt from the rows). LoginHistory: ECA reference §14.
SCHEMAS: dict[str, tuple[str, ...]] = {
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
    r"(?:\s+GROUP\s+BY\s+(?P<group>[\w.]+(?:\s*,\s*[\w.]+)*))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>[\w.]+)(?:\s+(?P<dir>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
#: SOQL dateTime literal: YYYY-MM-DDThh:mm:ss with Z or a +/-hh:mm offset, unquoted [SOQL
#: reference, "Date Formats and Date Literals"]; fractional seconds are accepted too.
_DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})"
_VALUE = rf"'(?:[^'\\]|\\.)*'|{_DATETIME}|true|false|null|-?\d+(?:\.\d+)?"
_COND_RE = re.compile(
    rf"^\s*(?P<field>[\w.]+)\s*(?:(?P<op>!=|<=|>=|=|<|>)\s*(?P<value>{_VALUE})"
    rf"|\s+(?P<in>NOT\s+IN|IN)\s*\((?P<values>[^)]*)\))\s*$",
    re.IGNORECASE,
)
_AGGREGATE_RE = re.compile(
    r"^(?P<fn>COUNT|MAX|MIN)\s*\(\s*(?P<arg>[\w.]*)\s*\)\s*(?P<alias>[A-Za-z]\w*)?$",
    re.IGNORECASE,
)
#: A dateTime as REST returns it, e.g. 2026-12-03T09:15:02.000+0000 (what real REST answers
#: carry; salesforce-wire.md shows only the SOAP form, 2025-01-10T09:00:00.000Z).
REST_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.{ms:03d}+0000"
_STORED_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})$"
)


def rest_datetime(moment: datetime) -> str:
    """`moment` as a REST dateTime in UTC: 2026-12-03T09:15:02.000+0000."""
    utc = moment.astimezone(UTC)
    return utc.strftime(REST_DATETIME_FORMAT.format(ms=utc.microsecond // 1000))


def parse_datetime(text: str) -> datetime | None:
    """A dateTime written as REST, SOAP or a SOQL literal does (offset required), else None."""
    if not isinstance(text, str) or not _STORED_DATETIME.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class _DateTimeLiteral:
    """An unquoted SOQL dateTime literal in a WHERE clause."""

    def __init__(self, text: str) -> None:
        parsed = parse_datetime(text)
        if parsed is None:
            raise QueryError("MALFORMED_QUERY", f"line 1:0 no viable alternative at '{text}'")
        self.text = text
        self.instant = parsed


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
        return _DateTimeLiteral(token)
    return float(token) if "." in token else int(token)


@dataclass(frozen=True)
class _Item:
    """One SELECT item: a field path, or an aggregate function over one."""

    text: str
    fn: str | None = None  # COUNT | MAX | MIN
    arg: str = ""  # "" for COUNT()
    alias: str | None = None


def _parse_item(text: str) -> _Item:
    if re.fullmatch(r"[\w.]+", text):
        return _Item(text)
    m = _AGGREGATE_RE.match(text)
    if m is None:
        raise QueryError("MALFORMED_QUERY", "unexpected token in SELECT list")
    fn = m["fn"].upper()
    if not m["arg"] and fn != "COUNT":
        raise QueryError("MALFORMED_QUERY", f"unexpected token: '{text}'")
    return _Item(text, fn, m["arg"], m["alias"])


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
        for obj in (*self.tables, *SCHEMAS):
            if obj.lower() == name.lower():
                return obj
        raise QueryError("INVALID_TYPE", f"sObject type '{name}' is not supported.")

    def _columns(self, obj: str) -> dict[str, str]:
        cols = {"id": "Id"} | {c.lower(): c for c in SCHEMAS.get(obj, ())}
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
        m = _QUERY_RE.match(soql)
        if not m:
            raise QueryError("MALFORMED_QUERY", f"unexpected token in query: {soql.strip()}")
        obj = self._object(m["obj"])
        items = [_parse_item(p.strip()) for p in m["fields"].split(",")]
        rows = list(self.tables.get(obj, []))
        if m["where"]:
            for cond in re.split(r"\s+AND\s+", m["where"], flags=re.IGNORECASE):
                rows = self._filter(obj, rows, cond)
        if m["group"] or any(item.fn for item in items):
            return self._aggregate(obj, rows, items, m)
        selected = [(item.text, self._resolve(obj, item.text)) for item in items]
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
        op = c["op"]
        return [r for r in rows if _compare(self._get(r, steps), op, value, c["field"])]

    # --- aggregates --------------------------------------------------------------------
    def _aggregate(
        self, obj: str, rows: list[dict[str, Any]], items: list[_Item], m: re.Match[str]
    ) -> dict[str, Any]:
        """GROUP BY and COUNT/MAX/MIN, answered as REST does.

        Each group is one record `{"attributes": {"type": "AggregateResult"}, <grouped field>:
        value, ..., <alias or exprN>: value}` in SELECT order; an aggregate without an alias is
        named expr0, expr1, ... counting only the unaliased aggregates [Apex guide, "Working
        with SOQL Aggregate Functions"]. Aggregate records carry no `url` (a group is no
        record). `SELECT COUNT() FROM ...` alone answers the count in totalSize and no records.
        Grouped fields must be plain fields of the object in the emulator (Salesforce also
        groups by relationship fields; not needed here).
        """
        group = [g.strip() for g in (m["group"] or "").split(",") if g.strip()]
        group_cols = [self._plain_column(obj, g) for g in group]
        if any(item.fn == "COUNT" and not item.arg for item in items):
            if len(items) > 1 or group:
                # Salesforce: "If you are using a GROUP BY clause, use COUNT(fieldName)
                # instead of COUNT()" [SOQL reference]; the error text is UNVERIFIED.
                raise QueryError(
                    "MALFORMED_QUERY", "COUNT() must be the only element in the SELECT list"
                )
            count = len(rows)
            if m["limit"]:
                count = min(count, int(m["limit"]))
            return {"totalSize": count, "done": True, "records": []}
        if m["limit"] and not group:
            # "You must use a GROUP BY clause if your query has a LIMIT clause and an
            # aggregated function" [SOQL reference]; the error text is UNVERIFIED.
            raise QueryError(
                "MALFORMED_QUERY", "LIMIT with an aggregate function needs a GROUP BY clause"
            )
        keys: list[tuple[str, _Item, str | None]] = []  # (output name, item, column)
        unnamed = 0
        for item in items:
            if item.fn is None:
                col = self._plain_column(obj, item.text)
                if col.lower() not in {g.lower() for g in group_cols}:
                    raise QueryError(
                        "MALFORMED_QUERY", f"Field must be grouped or aggregated: {col}"
                    )
                keys.append((col, item, col))
                continue
            arg_col = self._plain_column(obj, item.arg) if item.arg else None
            name = item.alias
            if name is None:
                name = f"expr{unnamed}"
                unnamed += 1
            keys.append((name, item, arg_col))
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(_group_key(row.get(c)) for c in group_cols), []).append(row)
        if not group:
            groups = {(): rows}  # one result row, even over no rows
        records = []
        for members in groups.values():
            record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for out_name, out_item, source in keys:
                if out_item.fn is None:
                    record[out_name] = members[0].get(source) if source else None
                else:
                    values = [r.get(source) for r in members] if source else []
                    record[out_name] = _apply(out_item.fn, values)
            records.append(record)
        if m["order"]:
            key = next((k for k, _, _ in keys if k.lower() == m["order"].lower()), None)
            if key is None:
                raise QueryError(
                    "MALFORMED_QUERY",
                    f"Ordered field must be grouped or aggregated: {m['order']}",
                )
            records.sort(
                key=lambda r: _sort_key(r[key]), reverse=(m["dir"] or "").upper() == "DESC"
            )
        if m["limit"]:
            records = records[: int(m["limit"])]
        if len(records) > AGGREGATE_ROW_LIMIT:
            raise QueryError(*AGGREGATE_TOO_MANY)
        return {"totalSize": len(records), "done": True, "records": records}

    def _plain_column(self, obj: str, name: str) -> str:
        steps = self._resolve(obj, name)
        if len(steps) != 1:
            raise QueryError(
                "MALFORMED_QUERY",
                f"the emulator groups and aggregates plain fields only, not '{name}'",
            )
        return steps[0][1]

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


def _compare(actual: Any, op: str, value: Any, field: str) -> bool:
    """One WHERE comparison. dateTime literals compare as instants; null never orders."""
    if isinstance(value, _DateTimeLiteral):
        if actual is None:
            return op == "!="
        instant = parse_datetime(actual)
        if instant is None:
            # Salesforce refuses a dateTime literal against a non-dateTime field; the exact
            # errorCode and text are UNVERIFIED.
            raise QueryError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{field}' must be of type "
                "dateTime and should not be enclosed in quotes",
            )
        return _ordered(instant, op, value.instant)
    if op in ("=", "!="):
        return _eq(actual, value) == (op == "=")
    if actual is None or value is None:
        return False
    if isinstance(actual, str) and isinstance(value, str):
        return _ordered(actual.lower(), op, value.lower())
    if isinstance(actual, bool) or isinstance(value, bool):
        return False
    if isinstance(actual, int | float) and isinstance(value, int | float):
        return _ordered(actual, op, value)
    return False


def _ordered(a: Any, op: str, b: Any) -> bool:
    return bool(
        {
            "=": a == b,
            "!=": a != b,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }[op]
    )


def _group_key(value: Any) -> Any:
    """Grouping is case-insensitive for text, as SOQL string comparison is (UNVERIFIED for
    GROUP BY; the emulator's data never differs only in case)."""
    return value.lower() if isinstance(value, str) else value


def _sort_key(value: Any) -> tuple[bool, Any]:
    instant = parse_datetime(value) if isinstance(value, str) else None
    if instant is not None:
        return (False, instant.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (False, float(value))
    return (value is None, str(value).lower() if value is not None else "")


def _apply(fn: str, values: list[Any]) -> Any:
    """COUNT counts non-null values (COUNT(Id) so counts every row); MAX and MIN ignore nulls
    [SOQL reference, "Aggregate Functions"] and answer the value as stored (a dateTime keeps
    its REST form), dateTimes ordered as instants, numbers as numbers."""
    present = [v for v in values if v is not None]
    if fn == "COUNT":
        return len(present)
    if not present:
        return None
    pick = max if fn == "MAX" else min
    return pick(present, key=_sort_key)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()  # SOQL string comparison is case-insensitive
    return bool(a == b)


def _attrs(obj: str, row: dict[str, Any], base: str) -> dict[str, str]:
    return {"type": obj, "url": f"{base}/sobjects/{obj}/{row.get('Id')}"}
