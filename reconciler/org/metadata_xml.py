"""Metadata components <-> XML, exact enough for read-modify-write.

A record becomes a Component whose `fields` keep every element the org sent, in the org's
order: scalars typed by the WSDL (boolean, int, double, else string), complex elements as
dicts, repeated elements as lists, and elements the WSDL does not know kept as text (or dicts)
rather than dropped. Writing emits the same elements in the same order, so a component goes
back unchanged except for the planned fields; a field the plan adds is placed where the WSDL
sequence puts it (alphabetical after fullName for these types, wire doc §7).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..errors import IncompleteResponse
from ..model import Component
from ..wsdl_schema import ComplexSpec, FieldSpec, load_schema
from .soap import XSI, md, xsi_type

_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}


def _spec(type_name: str) -> ComplexSpec | None:
    schema = load_schema()
    return schema.complex(type_name) if schema.has_type(type_name) else None


def record_to_component(record: etree._Element, type_name: str, call: str) -> Component:
    """One `records` element of a readMetadata reply; refuses a record of another type."""
    found = xsi_type(record)
    if found != type_name:
        raise IncompleteResponse(
            f"{call}: a record of type {found or '(none)'} came back where {type_name} was asked"
        )
    fields = _children(record, _spec(type_name), call)
    full_name = fields.pop("fullName", None)
    if not isinstance(full_name, str) or not full_name:
        raise IncompleteResponse(f"{call}: a {type_name} record has no fullName")
    return Component(type_name, full_name, fields)


def _children(element: etree._Element, spec: ComplexSpec | None, call: str) -> dict[str, Any]:
    # The hot loop of every read (a record has ~25 children, a plan of 5,000 apps reads
    # 250,000): fields are found by lxml's "{namespace}local" tag in one dict lookup, and the
    # common scalar cases are decoded inline rather than through _value.
    out: dict[str, Any] = {}
    by_tag = spec.by_tag if spec is not None else _NO_FIELDS
    for child in element:
        tag = child.tag
        field = by_tag.get(tag)
        if field is None:
            if not isinstance(tag, str):
                continue  # processing instructions; comments are removed by the parser
            name = tag.rpartition("}")[2]
            value = _value(child, None, call)
        else:
            name = field.name
            kind = field.kind
            value = None
            if child.get(_NIL) is None and not len(child):
                if kind == "string" or kind == "enum":
                    value = child.text or ""
                elif kind == "boolean":
                    value = _BOOLEAN.get(child.text or "")
            if value is None:
                value = _value(child, field, call)
        if value is None:
            continue
        if (field is not None and field.many) or name in out:
            existing = out.get(name)
            if existing is None:
                out[name] = [value]
            elif isinstance(existing, list) and (field is None or field.many):
                existing.append(value)
            else:
                out[name] = [existing, value]
        else:
            out[name] = value
    return out


_NIL = f"{{{XSI}}}nil"
_NO_FIELDS: dict[str, FieldSpec] = {}


def _value(element: etree._Element, field: FieldSpec | None, call: str) -> Any:
    if element.get(_NIL) in ("true", "1"):
        return None
    kind = field.kind if field is not None else "string"
    if kind == "complex" or len(element):
        inner = _spec(field.type_name) if field is not None and kind == "complex" else None
        return _children(element, inner, call)
    text = element.text or ""
    if kind == "string" or kind == "enum":
        return text
    what = field.name if field is not None else "?"
    if kind == "boolean":
        value = _BOOLEAN.get(text.strip())
        if value is None:
            raise IncompleteResponse(f"{call}: {what} is not a boolean")
        return value
    if kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise IncompleteResponse(f"{call}: {what} is not an integer") from None
    if kind == "double":
        try:
            return float(text.strip())
        except ValueError:
            raise IncompleteResponse(f"{call}: {what} is not a number") from None
    return text


def component_to_xml(parent: etree._Element, component: Component) -> etree._Element:
    """Append `<metadata xsi:type="md:Type">` for a component to an updateMetadata element."""
    element = etree.SubElement(parent, md("metadata"))
    element.set(f"{{{XSI}}}type", f"md:{component.type}")
    etree.SubElement(element, md("fullName")).text = component.full_name
    spec = _spec(component.type)
    for name, value in _ordered(component.fields, spec):
        _emit(element, name, value, spec.by_name.get(name) if spec else None)
    return element


def _ordered(fields: dict[str, Any], spec: ComplexSpec | None) -> list[tuple[str, Any]]:
    """Fields in WSDL sequence order; unknown ones stay right after the field they followed."""
    if spec is None:
        return list(fields.items())
    index = {f.name: i for i, f in enumerate(spec.fields)}
    keyed: list[tuple[tuple[int, int], str, Any]] = []
    anchor = -1
    for position, (name, value) in enumerate(fields.items()):
        if name in index:
            anchor = index[name]
            keyed.append(((anchor, 0), name, value))
        else:
            keyed.append(((anchor, 1 + position), name, value))
    keyed.sort(key=lambda item: item[0])
    return [(name, value) for _, name, value in keyed]


def _emit(parent: etree._Element, name: str, value: Any, field: FieldSpec | None) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _emit(parent, name, item, field)
        return
    child = etree.SubElement(parent, md(name))
    if isinstance(value, dict):
        inner = _spec(field.type_name) if field is not None and field.kind == "complex" else None
        for key, item in _ordered(value, inner):
            _emit(child, key, item, inner.by_name.get(key) if inner else None)
        return
    if isinstance(value, bool):
        child.text = "true" if value else "false"
    else:
        child.text = str(value)
