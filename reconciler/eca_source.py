"""The SFDX source files of the External Client App that would replace a Connected App.

`export --as-eca --source-dir DIR` writes them beside the desired-state YAML, so a team can
review the whole move in one pull request and deploy the new apps with `sf project deploy`.
Pure: values in, file texts out (operations.export writes them).

What the files hold, and why (eca doc §12 and §13a, real retrieved files):
- the layout of `sf project retrieve`: `externalClientApps/<App>.eca-meta.xml`,
  `extlClntAppGlobalOauthSets/<App>_glbloauth.ecaGlblOauth-meta.xml`,
  `extlClntAppOauthSettings/<App>_oauth.ecaOauth-meta.xml`,
  `extlClntAppOauthPolicies/<App>_oauthPlcy.ecaOauthPlcy-meta.xml` (the names Setup gives);
  4-space indentation, elements in alphabetical order, the XML declaration first;
- no `consumerKey`/`consumerSecret`: deploying a global settings file without them generates
  them, and a Connected App's secret is never exported (the new app gets new credentials);
- only the fields the move carries over (export.as_eca_values): a deploy fills every omitted
  boolean with `false` (§13a), which is what the Connected App's unset flags meant too;
- the OAuth scopes: `ConnectedAppOauthConfig.scopes` values are written as the ECA's
  `commaSeparatedOauthScopes` verbatim. Both use names such as `Api` and `RefreshToken` in the
  reference's examples, but that the two lists share every spelling is UNVERIFIED: the file is
  for review, and a scope the deploy refuses is named by the deploy's error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from . import fields as F

MD_NS = "http://soap.sforce.com/2006/04/metadata"

#: (folder, suffix, root element) per file, in the order a reviewer reads them.
LAYOUT: tuple[tuple[str, str, str], ...] = (
    ("externalClientApps", ".eca-meta.xml", F.APP_TYPE),
    ("extlClntAppGlobalOauthSets", "_glbloauth.ecaGlblOauth-meta.xml", F.SETTINGS_TYPE),
    ("extlClntAppOauthSettings", "_oauth.ecaOauth-meta.xml", "ExtlClntAppOauthSettings"),
    ("extlClntAppOauthPolicies", "_oauthPlcy.ecaOauthPlcy-meta.xml", F.POLICIES_TYPE),
)


def _wire(side: F.Side, block: Mapping[str, Any]) -> dict[str, Any]:
    """A `settings:`/`policies:` block (nested `refresh_token` included) as wire fields."""
    out: dict[str, Any] = {}
    for key, value in block.items():
        if isinstance(value, Mapping):
            for sub, sub_value in value.items():
                spec = F.BY_PATH[f"{side}.{key}.{sub}"]
                out[spec.wire] = spec.to_wire(sub_value)
        else:
            spec = F.BY_PATH[f"{side}.{key}"]
            out[spec.wire] = spec.to_wire(value)
    return out


def _xml(root: str, fields: Mapping[str, Any]) -> str:
    element = etree.Element(f"{{{MD_NS}}}{root}", nsmap={None: MD_NS})
    for name in sorted(fields):
        value = fields[name]
        if value is None:
            continue
        child = etree.SubElement(element, f"{{{MD_NS}}}{name}")
        child.text = str(value).lower() if isinstance(value, bool) else str(value)
    etree.indent(element, space="    ")
    body = etree.tostring(element, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def eca_files(
    name: str, eca: Mapping[str, Mapping[str, Any]], connected: Mapping[str, Any]
) -> dict[str, str]:
    """Relative path -> file text of the ECA `name` that keeps a Connected App's flows.

    `eca` is export.as_eca_values' result (`settings:`/`policies:` blocks); `connected` the
    Connected App component's fields as read (for its label, contact and scopes)."""
    label = str(connected.get("label") or name)
    header = {
        "contactEmail": connected.get("contactEmail"),
        "description": connected.get("description"),
        "distributionState": "Local",
        "isProtected": False,
        "label": label,
    }
    settings = {
        **_wire("settings", eca.get("settings", {})),
        "externalClientApplication": name,
        "label": f"{label} global OAuth",
    }
    scopes = (connected.get("oauthConfig") or {}).get("scopes")
    if isinstance(scopes, str):
        scopes = [scopes]
    oauth = {
        "commaSeparatedOauthScopes": ",".join(str(s) for s in scopes) if scopes else None,
        "externalClientApplication": name,
        "label": f"{label} OAuth",
    }
    policies = {
        **_wire("policies", eca.get("policies", {})),
        "externalClientApplication": name,
        "label": f"{label} OAuth policy",
    }
    texts = {}
    contents: tuple[dict[str, Any], ...] = (header, settings, oauth, policies)
    for (folder, suffix, root), fields in zip(LAYOUT, contents, strict=True):
        texts[f"{folder}/{name}{suffix}"] = _xml(root, fields)
    return texts
