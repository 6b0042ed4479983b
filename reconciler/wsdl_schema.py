"""Field specs for Metadata types, derived from simple-salesforce's bundled metadata.wsdl.

The client (reading and writing components) and the emulator (answering) both take field names,
order, types, required flags and enumerations from the very WSDL simple-salesforce bundles,
instead of hand-kept copies that drift. lxml parses the 1.5 MB file in a few tens of
milliseconds, once per process.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree as ET

XSD = "http://www.w3.org/2001/XMLSchema"
MD_NS = "http://soap.sforce.com/2006/04/metadata"
#: Located without importing simple_salesforce (whose import alone costs ~0.35 s).
_SPEC = importlib.util.find_spec("simple_salesforce")
WSDL_PATH = Path(_SPEC.origin if _SPEC and _SPEC.origin else ".").parent / "metadata.wsdl"

# xsd builtin → our scalar kind
_XSD_KINDS = {
    "string": "string",
    "boolean": "boolean",
    "int": "int",
    "long": "int",
    "double": "double",
    "dateTime": "string",
    "date": "string",
    "base64Binary": "string",
}


@dataclass(frozen=True)
class FieldSpec:
    """One child element of a complex type, in WSDL order."""

    name: str
    kind: str  # "string" | "boolean" | "int" | "double" | "enum" | "complex"
    required: bool
    many: bool
    type_name: str  # local type name (e.g. "ExternalAppIdTokenConfig", "boolean")
    enum_values: tuple[str, ...] = ()


@dataclass
class ComplexSpec:
    """A complex type with its (inherited-first) ordered fields."""

    name: str
    fields: list[FieldSpec] = field(default_factory=list)

    @functools.cached_property
    def by_name(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    @functools.cached_property
    def by_tag(self) -> dict[str, FieldSpec]:
        """Fields by lxml's `{namespace}name` tag: the reader's lookup, with no string work."""
        return {f"{{{MD_NS}}}{f.name}": f for f in self.fields}

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]


class Schema:
    """All complex and enum types of the metadata WSDL, resolved lazily."""

    def __init__(self, wsdl_path: Path = WSDL_PATH) -> None:
        root = ET.parse(
            str(wsdl_path), ET.XMLParser(resolve_entities=False, no_network=True)
        ).getroot()
        self._complex: dict[str, ET.Element] = {}
        self._enums: dict[str, tuple[str, ...]] = {}
        for schema in root.iter(f"{{{XSD}}}schema"):
            for ct in schema.findall(f"{{{XSD}}}complexType"):
                self._complex[ct.get("name", "")] = ct
            for st in schema.findall(f"{{{XSD}}}simpleType"):
                values = tuple(e.get("value", "") for e in st.iter(f"{{{XSD}}}enumeration"))
                self._enums[st.get("name", "")] = values
        self._cache: dict[str, ComplexSpec] = {}

    def has_type(self, name: str) -> bool:
        return name in self._complex

    def complex(self, name: str) -> ComplexSpec:
        if name not in self._cache:
            self._cache[name] = ComplexSpec(name, self._fields_of(self._complex[name]))
        return self._cache[name]

    def _fields_of(self, ct: ET.Element) -> list[FieldSpec]:
        fields: list[FieldSpec] = []
        ext = ct.find(f"{{{XSD}}}complexContent/{{{XSD}}}extension")
        container = ct
        if ext is not None:
            base = ext.get("base", "").split(":")[-1]
            fields.extend(self.complex(base).fields)
            container = ext
        seq = container.find(f"{{{XSD}}}sequence")
        if seq is None:
            return fields
        for el in seq.findall(f"{{{XSD}}}element"):
            fields.append(self._field(el))
        return fields

    def _field(self, el: ET.Element) -> FieldSpec:
        prefix, _, local = el.get("type", "xsd:string").rpartition(":")
        required = el.get("minOccurs", "1") != "0"
        many = el.get("maxOccurs", "1") != "1"
        name = el.get("name", "")
        if prefix == "xsd":
            return FieldSpec(name, _XSD_KINDS.get(local, "string"), required, many, local)
        if local in self._complex:
            return FieldSpec(name, "complex", required, many, local)
        values = self._enums.get(local, ())
        kind = "enum" if values else "string"  # e.g. tns:ID is a pattern-restricted string
        return FieldSpec(name, kind, required, many, local, values)


_LOCK = threading.Lock()
_LOADED: list[Schema] = []


def load_schema() -> Schema:
    """Parse the WSDL once per process. The lock stops the eight read workers from each
    parsing it on their first, simultaneous call; once parsed, the schema is handed out
    without taking the lock (every record read asks for it)."""
    if _LOADED:
        return _LOADED[0]
    with _LOCK:
        if not _LOADED:
            _LOADED.append(Schema())
        return _LOADED[0]
