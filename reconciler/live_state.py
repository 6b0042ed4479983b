"""Live state: what the org holds, read through the Org protocol and grouped per app.

Satellite components are matched to their app by their `externalClientApplication` field,
never by name: Salesforce has no naming rule for them (eca doc §7). That means every satellite
is read, even when only a few apps are wanted: the name alone cannot say whose it is.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

from . import fields as F
from .errors import IncompleteResponse, ReadRefused
from .model import Component, LiveApp, LiveState
from .org.interface import Org

log = logging.getLogger(__name__)


def read_live(org: Org, only: Collection[str] | None = None, connected: bool = False) -> LiveState:
    """Read the OAuth settings and policies of every app (or of `only` those apps), and with
    `connected` every Connected App too (keyed `ConnectedApp:<name>`), through the same
    strict, parallel read path (plan, apply and audit ask; export of ECAs does not).

    The org id (a REST query) is asked beside the listing and the reads (Metadata calls), not
    before them: they are independent, the query costs a round trip, and the first one also
    imports simple-salesforce (~0.2 s of CPU, which the reads' waiting leaves room for).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        asked = pool.submit(lambda: org.org_id)
        types = [F.APP_TYPE, F.SETTINGS_TYPE, F.POLICIES_TYPE]
        names = org.list_names([*types, F.CONNECTED_TYPE] if connected else types)
        apps = _read_apps(org, names, only)
        # The safety valve's denominator stays the ECAs: counting Connected Apps too would
        # let a percentage limit allow more writes than before; the conservative choice.
        count = len(names[F.APP_TYPE])
        if connected:
            apps.update(_read_connected(org, names[F.CONNECTED_TYPE], only))
        org_id = asked.result()
    log.debug("read %d app(s) from org %s", len(apps), org_id)
    return LiveState(org_id=org_id, apps=apps, app_count=count)


def _read_apps(
    org: Org, names: dict[str, list[str]], only: Collection[str] | None
) -> dict[str, LiveApp]:
    """Both components of every listed app (or of `only` those), matched by their parent."""
    apps = {n: LiveApp(n) for n in names[F.APP_TYPE] if only is None or n in only}
    for side in F.ECA_SIDES:
        type_name = F.TYPE_OF_SIDE[side]
        try:
            components = read_all(org, type_name, names[type_name])
        except ReadRefused as exc:
            if side != "settings":
                raise
            # Salesforce advises turning consumer-secret access via the Metadata API off; such
            # an org may refuse the global settings type. Policies stay manageable.
            log.info("settings side unreadable: %s", exc)
            for app in apps.values():
                app.settings_unreadable = str(exc)
            continue
        for component in components:
            owner = apps.get(component.parent or "")
            if owner is None:
                continue
            existing = owner.component(side)
            if existing is not None:
                owner.problems.append(
                    f"two {type_name} components name this app ({existing.full_name}, "
                    f"{component.full_name}); remove one in Setup before managing it"
                )
                continue
            setattr(owner, side, component)
    return apps


def _read_connected(org: Org, names: list[str], only: Collection[str] | None) -> dict[str, LiveApp]:
    """Every listed Connected App (or `only` those, named by their `ConnectedApp:` key), read
    through the same strict, parallel path as the ECA types. One component per app (§15)."""
    # `only` narrows ECAs (--app); Connected Apps are all read unless one is named.
    keys = [n for n in (only or ()) if F.is_connected(n)]
    wanted = [n for n in names if not keys or F.connected_key(n) in keys]
    return {
        F.connected_key(c.full_name): LiveApp(F.connected_key(c.full_name), connected=c)
        for c in read_all(org, F.CONNECTED_TYPE, wanted)
    }


def read_all(org: Org, type_name: str, names: list[str]) -> list[Component]:
    """Exactly the named components, or an error: never a silently smaller answer.

    A name that listMetadata just returned and readMetadata answers with a nil record is not
    an absent component but an incomplete read (a deletion in between, or a reply that lost
    records): reporting on what remains would under-report, so the run stops instead.
    """
    components = org.read(type_name, names)
    missing = sorted(set(names) - {c.full_name for c in components})
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise IncompleteResponse(
            f"readMetadata returned no record for {len(missing)} {type_name} component(s) that "
            f"listMetadata listed ({shown}); the org's answer is incomplete, so nothing is "
            "reported. Re-run; if it persists, check the components in Setup."
        )
    return components
