"""Bigger orgs from the demo org: copies of an app with all its satellites.

Tests and the benchmark both need orgs of hundreds or thousands of apps that look real, so the
copying lives here once rather than in each of them.
"""

from __future__ import annotations

import copy
from typing import Any

APP_TYPE = "ExternalClientApplication"


def add_clones(doc: dict[str, Any], template: str, count: int, digits: int = 3) -> list[str]:
    """Add `count` copies of app `template` (header and every satellite) to an org document.

    Satellites keep the template's naming with the app name swapped, and name their new parent
    in `externalClientApplication`, so the copies are indistinguishable from real apps.
    """
    names = [f"{template}_{i:0{digits}d}" for i in range(count)]
    for type_name, components in doc["metadata"].items():
        for full_name, fields in list(components.items()):
            is_header = full_name == template and type_name == APP_TYPE
            if not is_header and fields.get("externalClientApplication") != template:
                continue
            info = doc.get("metadata_info", {}).get(type_name, {}).get(full_name)
            for name in names:
                clone_name = full_name.replace(template, name, 1)
                clone = copy.deepcopy(fields)
                if not is_header:
                    clone["externalClientApplication"] = name
                components[clone_name] = clone
                if info is not None:
                    doc["metadata_info"][type_name][clone_name] = copy.deepcopy(info)
    return names
