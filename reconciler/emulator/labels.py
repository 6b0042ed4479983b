"""sObject describe for the emulator: field names and the labels Setup shows for them.

The client finds the two app-approval permissions by their label (ECA reference §15 names them
"Use Any API Client" and "Approve Uninstalled Connected Apps"), because their API field names
are UNVERIFIED. The emulator has to store them under some name; the names below are this
emulator's, not a claim about Salesforce's, and no client code depends on them.
"""

from __future__ import annotations

from typing import Any

#: The emulator's own field names for the two permissions (UNVERIFIED as Salesforce names).
USE_ANY_API_CLIENT = "PermissionsUseAnyApiClient"
APPROVE_UNINSTALLED = "PermissionsApproveUninstalledConnectedApps"

LABELS: dict[str, dict[str, str]] = {
    "PermissionSet": {
        "PermissionsModifyAllData": "Modify All Data",
        "PermissionsViewAllData": "View All Data",
        "PermissionsModifyMetadata": "Modify Metadata Through Metadata API Functions",
        "PermissionsCustomizeApplication": "Customize Application",
        "PermissionsApiUserOnly": "API Only User",
        USE_ANY_API_CLIENT: "Use Any API Client",
        APPROVE_UNINSTALLED: "Approve Uninstalled Connected Apps",
    },
}


def describe(obj: str, names: list[str]) -> dict[str, Any]:
    """A describe answer with the parts the client reads: `name`, and `fields` with `name`,
    `label` and `type`. A field without a known label is labelled with its name."""
    labels = LABELS.get(obj, {})
    return {
        "name": obj,
        "fields": [
            {
                "name": n,
                "label": labels.get(n, n),
                "type": "boolean"
                if n.startswith("Permissions") or n.startswith("Is")
                else "string",
            }
            for n in names
        ],
    }
