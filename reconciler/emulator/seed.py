"""An emulator org seeded from an SFDX source folder, as if the folder had been deployed.

A team can then try plan, apply and audit against its own metadata without an org. What a
deploy does that the files do not say is filled in as a real org does it (eca doc §13a):
- every boolean of the OAuth settings and policies that a file omits comes back `false`;
- a global settings file without `consumerKey`/`consumerSecret` gets generated ones (a retrieved
  file has the key but never the secret, so the secret is always generated);
- an app with OAuth settings but no policy file gets the generated policy
  `<ExtlClntAppOauthSettings fullName>_defaultPolicy` (Enforce, AllSelfAuthorized,
  SpecificLifetime 365 Days, STANDARD, every flag false).
A source folder has no users. The demo org's users are kept (the emulator's admin logs in as
one of them), and each run-as user the files name that the demo org lacks is added as an
active Standard User, so writes that keep it are accepted; `added_users` lists them so the
caller can say so: their risk grade is the emulator's invention, not the team's org.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler import fields as F
from reconciler.emulator.demo_org import CREATED, MODIFIED, build_demo_org, sf_id
from reconciler.emulator.metadata_soap import _apply_secrets
from reconciler.emulator.rules import (
    ID_PREFIX,
    SUPPORTED_TYPES,
    generated_policy,
    generated_policy_name,
    with_defaults,
)
from reconciler.org.source import parse_file, scan_folder

OAUTH_SETTINGS_TYPE = "ExtlClntAppOauthSettings"
#: Placeholder profile of a run-as user the demo org does not have.
ADDED_USER_PROFILE = "Standard User"


def build_from_source(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """(emulator state document, run-as usernames added as placeholder users)."""
    doc = build_demo_org()
    metadata: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in SUPPORTED_TYPES}
    for type_name, files in scan_folder(folder.resolve()).items():
        for full_name, path in files.items():
            fields = parse_file(path, type_name, full_name).fields
            if type_name == F.SETTINGS_TYPE:
                _apply_secrets(fields, None)  # generated as a deploy would; rotation honoured
            # Omitted booleans come back false (rules.with_defaults), as a deploy does.
            metadata[type_name][full_name] = with_defaults(type_name, fields)
    owners = {f.get("externalClientApplication") for f in metadata[F.POLICIES_TYPE].values()}
    for name, fields in sorted(metadata[OAUTH_SETTINGS_TYPE].items()):
        app = fields.get("externalClientApplication")
        if app in metadata[F.APP_TYPE] and app not in owners:
            policy_name = generated_policy_name(name)
            metadata[F.POLICIES_TYPE][policy_name] = generated_policy(str(app), name)
            owners.add(app)
    doc["metadata"] = metadata
    doc["metadata_info"] = {
        type_name: {
            name: {
                "id": sf_id(ID_PREFIX[type_name], n),
                "createdDate": CREATED,
                "lastModifiedDate": MODIFIED,
            }
            for n, name in enumerate(sorted(components), start=1)
        }
        for type_name, components in metadata.items()
    }
    doc["org"]["name"] = f"Seeded from {folder}"
    # The demo's logins are of the demo's apps; an org seeded from source has none yet.
    doc["sobjects"]["LoginHistory"] = []
    return doc, _add_run_as_users(doc)


def _add_run_as_users(doc: dict[str, Any]) -> list[str]:
    sobjects = doc["sobjects"]
    known = {str(u["Username"]).lower() for u in sobjects["User"]}
    profile = next(p for p in sobjects["Profile"] if p["Name"] == ADDED_USER_PROFILE)
    owned = next(s for s in sobjects["PermissionSet"] if s.get("ProfileId") == profile["Id"])
    added: list[str] = []
    for fields in doc["metadata"][F.POLICIES_TYPE].values():
        username = fields.get("clientCredentialsFlowUser")
        if not isinstance(username, str) or not username or username.lower() in known:
            continue
        known.add(username.lower())
        uid = sf_id("005", 100 + len(added))
        sobjects["User"].append(
            {
                "Id": uid,
                "Username": username,
                "Name": f"{username} (added by the emulator)",
                "Email": username,
                "IsActive": True,
                "ProfileId": profile["Id"],
                "UserType": "Standard",
            }
        )
        sobjects["PermissionSetAssignment"].append(
            {
                "Id": sf_id("0Pa", 100 + len(added)),
                "AssigneeId": uid,
                "PermissionSetId": owned["Id"],
            }
        )
        added.append(username)
    return added


def seed_for_run(folder: Path, state: Path, keep: bool) -> tuple[Path, list[str]]:
    """(the path the emulator loads, lines saying what was seeded) for `emulator --from-source`.

    The folder itself is loaded (seeded in memory by OrgState.load) unless `keep`: then
    `state` is written with the seeded org, so `-o emulator:FILE` continues it."""
    import json

    from reconciler.display import printable
    from reconciler.fileio import write_atomic

    doc, added = build_from_source(folder)
    apps = len(doc["metadata"].get("ExternalClientApplication", {}))
    if keep:
        write_atomic(state, json.dumps(doc, indent=2, sort_keys=True))
    where = f"kept in {state}" if keep else "in memory: changes end with this process"
    lines = [f"Seeded from {printable(str(folder))}: {apps} app(s), {printable(where)}."]
    if added:
        lines.append(
            "The folder has no users; run-as users added as active Standard Users: "
            + ", ".join(printable(name) for name in added)
        )
    return (state if keep else folder), lines
