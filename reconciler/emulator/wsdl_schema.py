"""The emulator reads the same WSDL schema as the client: see reconciler/wsdl_schema.py."""

from reconciler.wsdl_schema import (  # noqa: F401 - re-exported for the emulator's modules
    MD_NS,
    WSDL_PATH,
    XSD,
    ComplexSpec,
    FieldSpec,
    Schema,
    load_schema,
)

__all__ = ["MD_NS", "WSDL_PATH", "XSD", "ComplexSpec", "FieldSpec", "Schema", "load_schema"]
