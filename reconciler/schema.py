"""A JSON Schema (draft 2020-12) of one desired-state YAML file, generated, never hand-kept.

Every managed field, its type, range, enum values and description come from the field catalogue
(fields.py); control ids and titles from controls.py; the top-level, app, side and exception
keys, the unlisted modes and the supported versions from desired_state.py, the validator. So the
schema cannot disagree with what `reconciler validate` accepts about a key, a type, an enum or a
range. Editors use it to complete and explain keys (`# yaml-language-server: $schema=...`).

What it cannot say, because it sees one file and `-d` layers merge several: rules that span
fields (`run_as` needs `policies.client_credentials` not false; `refresh_token.policy:
specific_*` needs period and unit, possibly from another layer), an app declared twice, expired
exceptions and baseline violations. `reconciler validate` checks those.
"""

from __future__ import annotations

import json
from typing import Any

from . import fields as F
from .controls import CONTROLS, DEFAULT_BASELINE
from .desired_model import BaselineConfig
from .desired_state import (
    APP_KEYS,
    APP_NAME,
    EXCEPTION_KEYS,
    SIDE_KEYS,
    SUPPORTED_VERSIONS,
    TOP_LEVEL_KEYS,
    UNLISTED_MODES,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: A text with something other than blanks in it (the validator strips, then refuses "").
NOT_BLANK = r"\S"

#: What the structural keys mean. Keyed by the validator's own key lists: a key added there
#: without a description here fails generation (KeyError), so the schema cannot fall behind.
_TOP_LEVEL = {
    "version": "Format version of this file.",
    "connected_apps": "Connected Apps (the older kind of OAuth app) by ConnectedApp API name: "
    "their OAuth keys and exceptions, checked by the same baseline.",
    "defaults": "Settings and policies merged under every app of this file; an app's own keys "
    "win. Fills gaps only: never replaces a key an app declared in an earlier -d layer.",
    "apps": "The External Client Apps to manage, by ExternalClientApplication fullName (API "
    "name). An app left out is 'unlisted' (see `unlisted`).",
    "baseline": "Security controls every declared app must meet unless it holds an unexpired "
    "exception.",
    "unlisted": "What to do with apps in the org that are not under `apps:`.",
    "exception_warning_days": "Warn this many days before an exception expires.",
}
_APP = {
    "settings": f"Developer side: {F.SETTINGS_TYPE}.",
    "policies": f"Admin side: {F.POLICIES_TYPE}.",
    "connected": f"One Connected App: {F.CONNECTED_TYPE} (oauthConfig and oauthPolicy).",
    "exceptions": "Justified, expiring exceptions to baseline controls, one per control.",
}
_EXCEPTION = {
    "control": "The control this exception is for.",
    "justification": "Why the app needs it.",
    "owner": "Who answers for it (a person or team address).",
    "ticket": "Reference in your tracker, e.g. SEC-1234.",
    "expires": "Last day the exception holds (YYYY-MM-DD); an expired one is an error.",
}
_REQUIRED_EXCEPTION_KEYS = ("control", "justification", "owner", "expires")
_UNLISTED = {
    "enforce": "plan the baseline for them",
    "report": "list their violations in plan and audit without changing plan's exit code",
    "ignore": "skip them",
}


def _same(found: Any, expected: Any, what: str) -> None:
    """Generation stops when the validator's key lists and this module's disagree."""
    if list(found) != list(expected):
        raise RuntimeError(f"schema.py does not describe the validator's {what}: {expected}")


def _nullable_object(schema: dict[str, Any]) -> dict[str, Any]:
    """The validator reads an empty value (`settings:` with nothing under it) as {}."""
    return {**schema, "type": ["object", "null"]}


def _controls_on(path: str) -> list[str]:
    """What the baseline controls say about one field, in words."""
    notes = []
    for control in CONTROLS:
        for requirement in control.requirements:
            if requirement.path == path:
                bad = ", ".join(json.dumps(v) for v in sorted(requirement.violating, key=str))
                notes.append(f"{control.id} ({control.title}) flags {bad}.")
    return notes


def _field(spec: F.FieldSpec) -> dict[str, Any]:
    """The schema of one catalogue field, described from the catalogue and the controls."""
    where = f"{F.TYPE_OF_SIDE[spec.side]}.{spec.wire}"
    doc = spec.doc[:1].upper() + spec.doc[1:]
    text = [f"{doc}.", f"Metadata API: {where}."]
    out: dict[str, Any]
    if spec.kind == "bool":
        out = {"type": "boolean"}
    elif spec.kind == "int":
        out = {"type": "integer", "minimum": 0, "maximum": F.INT_MAX}
    elif spec.kind == "str":
        out = {"type": "string", "pattern": NOT_BLANK}
    elif spec.kind == "enum":
        out = {"enum": list(spec.choices)}
        text.append(
            "Values: " + ", ".join(f"{key} ({wire})" for key, wire in spec.choices.items()) + "."
        )
    elif spec.kind == "list":
        out = {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": r"^[^,]*[^,\s][^,]*$"},
        }
    else:  # url: one, or a list of several
        url = {"type": "string", "pattern": NOT_BLANK}
        out = {"anyOf": [url, {"type": "array", "minItems": 1, "items": url}]}
    if spec.kind in F.ALLOWED:
        text.append(f"Allowed: {F.ALLOWED[spec.kind]}.")
    text += _controls_on(spec.path)
    return {"description": " ".join(text), **out}


def _side(side: F.Side) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for spec in F.specs_of(side):
        if "." in spec.key:
            parent, child = spec.key.split(".", 1)
            nested = properties.setdefault(
                parent,
                _nullable_object(
                    {
                        "description": f"Keys: {', '.join(F.NESTED_KEYS[side][parent])}.",
                        "properties": {},
                        "additionalProperties": False,
                    }
                ),
            )
            nested["properties"][child] = _field(spec)
        else:
            properties[spec.key] = _field(spec)
    return _nullable_object(
        {
            "description": _APP[side]
            + " Secrets and rotation triggers ("
            + ", ".join(F.FORBIDDEN_KEYS)
            + ") can never be declared.",
            "properties": properties,
            "additionalProperties": False,
        }
    )


def _connected_app() -> dict[str, Any]:
    """A Connected App's block: its flat keys, plus `exceptions` as for an ECA."""
    block = _side("connected")
    block["properties"]["exceptions"] = {
        "description": _APP["exceptions"],
        "type": "array",
        "items": {"$ref": "#/$defs/exception"},
    }
    return block


def _exception() -> dict[str, Any]:
    text = {"type": "string", "pattern": NOT_BLANK}
    properties: dict[str, Any] = {
        "control": {
            "enum": [c.id for c in CONTROLS],
            "description": _EXCEPTION["control"]
            + " "
            + "; ".join(f"{c.id}: {c.title}" for c in CONTROLS)
            + ".",
        },
        "justification": {**text, "description": _EXCEPTION["justification"]},
        "owner": {**text, "description": _EXCEPTION["owner"]},
        "ticket": {"type": ["string", "integer"], "description": _EXCEPTION["ticket"]},
        "expires": {
            "type": "string",
            "format": "date",
            "pattern": r"^\s*\d{4}-\d{2}-\d{2}\s*$",
            "description": _EXCEPTION["expires"],
        },
    }
    _same(properties, EXCEPTION_KEYS, "exception keys")
    return {
        "type": "object",
        "properties": properties,
        "required": list(_REQUIRED_EXCEPTION_KEYS),
        "additionalProperties": False,
    }


def desired_schema() -> dict[str, Any]:
    """The JSON Schema of one desired-state file (draft 2020-12)."""
    sides: dict[str, Any] = {side: {"$ref": f"#/$defs/{side}"} for side in SIDE_KEYS}
    app_properties: dict[str, Any] = {
        **sides,
        "exceptions": {
            "description": _APP["exceptions"],
            "type": "array",
            "items": {"$ref": "#/$defs/exception"},
        },
    }
    _same(app_properties, APP_KEYS, "app keys")
    defaults = BaselineConfig(DEFAULT_BASELINE)
    control_ids = [c.id for c in CONTROLS]
    properties: dict[str, Any] = {
        "version": {"description": _TOP_LEVEL["version"], "enum": list(SUPPORTED_VERSIONS)},
        "defaults": _nullable_object(
            {
                "description": _TOP_LEVEL["defaults"],
                "properties": dict(sides),
                "additionalProperties": False,
            }
        ),
        "apps": _nullable_object(
            {
                "description": _TOP_LEVEL["apps"],
                "propertyNames": {"pattern": APP_NAME.pattern},
                "additionalProperties": {"$ref": "#/$defs/app"},
            }
        ),
        "connected_apps": _nullable_object(
            {
                "description": _TOP_LEVEL["connected_apps"],
                "propertyNames": {"pattern": APP_NAME.pattern},
                "additionalProperties": {"$ref": "#/$defs/connected_app"},
            }
        ),
        "baseline": {
            "description": _TOP_LEVEL["baseline"]
            + " "
            + "; ".join(f"{c.id}: {c.title} ({c.severity})" for c in CONTROLS)
            + ".",
            "default": list(defaults.controls),
            "type": "array",
            "items": {"enum": control_ids},
        },
        "unlisted": {
            "description": _TOP_LEVEL["unlisted"]
            + " "
            + "; ".join(f"{mode}: {_UNLISTED[mode]}" for mode in UNLISTED_MODES)
            + ".",
            "default": defaults.unlisted,
            "enum": list(UNLISTED_MODES),
        },
        "exception_warning_days": {
            "description": _TOP_LEVEL["exception_warning_days"],
            "default": defaults.exception_warning_days,
            "type": "integer",
            "minimum": 0,
        },
    }
    _same(properties, TOP_LEVEL_KEYS, "top-level keys")
    return {
        "$schema": DIALECT,
        "title": "reconciler desired state",
        "description": "One desired-state file of reconciler: how each OAuth flow of each "
        "Salesforce External Client App must be set. Generated by `reconciler schema` from "
        "the field catalogue; rules spanning fields or -d layers are checked by "
        "`reconciler validate`.",
        "type": "object",
        "properties": properties,
        "required": ["version"],
        "anyOf": [{"required": ["apps"]}, {"required": ["connected_apps"]}],
        "additionalProperties": False,
        "$defs": {
            "app": _nullable_object(
                {
                    "description": "One External Client App.",
                    "properties": app_properties,
                    "additionalProperties": False,
                }
            ),
            "settings": _side("settings"),
            "policies": _side("policies"),
            "connected_app": _connected_app(),
            "exception": _exception(),
        },
    }


def schema_text() -> str:
    """desired_schema() as `reconciler schema` prints it and schema/desired.schema.json holds
    it: stable key order, two-space indent, a final newline."""
    return json.dumps(desired_schema(), indent=2, ensure_ascii=False) + "\n"
