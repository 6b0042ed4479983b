"""Rollback: plan the return of exactly the fields an apply changed, from its backup.

The rollback is an ordinary Plan (after -> before) applied through the same read-modify-write
path as any apply, stale check included. Per field, the org now holds either the backup's
`after` (apply's value: roll it back), its `before` (never written, or already back: nothing to
do), or something else: then someone changed it since, and it is reported, not overwritten.

Rolling back may re-enable a flow the baseline forbids (the apply may have been the fix). The
rollback says so, naming each violated control, and proceeds: undoing is the operator's call.

Planning is pure: `operations.rollback` reads the components `backed_up` names, then hands them
to `plan_rollback`, which imports no module that can reach the org or the disk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from . import fields as F
from .baseline import findings
from .controls import BY_ID
from .diffing import same as _same
from .display import show
from .model import (
    AppPlan,
    Backup,
    BackupChange,
    Component,
    FieldChange,
    LiveApp,
    LiveState,
    Plan,
)


def _plan_app(
    app: AppPlan, found: list[tuple[BackupChange, Any]], peers_moved: Sequence[str] = ()
) -> None:
    """after -> before for each field the org still holds as the apply left it.

    A field someone changed since is left as it is. So are the fields coupled with it (one
    setting, e.g. the refresh-token policy, period and unit): restoring only some of them would
    leave a mix of the old setting and the new one that nobody chose. `peers_moved` are coupled
    fields the apply did not change that moved since (they block their group too)."""
    moved = [c.path for c, now in found if not _same(now, c.after) and not _same(now, c.before)]
    moved += [p for p in peers_moved if p not in moved]
    held: dict[tuple[str, ...], list[str]] = {}
    for change, now in found:
        if change.path in moved:
            app.notes.append(
                f"{change.path} is now {show(now)}: the apply set it to {show(change.after)} "
                f"(it was {show(change.before)}); someone changed it since, so the rollback "
                "leaves it as it is"
            )
        elif _same(now, change.after) and not _same(now, change.before):
            group = F.coupled(change.path)
            blockers = [p for p in moved if p in group]
            if blockers:
                held[group] = blockers
                continue
            app.changes.append(
                FieldChange(change.app, change.side, change.field, change.after, change.before)
            )
    for group, blockers in held.items():
        group_name = F.BY_PATH[group[0]].group
        app.notes.append(
            f"{_listed(group)} are one setting ({group_name}) and {_listed(blockers)} changed "
            "since the apply, so the rollback restores none of them"
        )


def _peers_moved(
    backup: Backup, found: list[tuple[BackupChange, Any]], fresh: Mapping[str, Component]
) -> list[str]:
    """Coupled fields the apply did not change (so they held their backed-up value after it)
    whose value differs now: someone changed part of the setting since."""
    changed = {c.path for c, _ in found}
    out: list[str] = []
    for change, _ in found:
        backed = backup.coupled.get(change.component, {})
        component = fresh.get(change.component)
        if component is None:
            continue
        now = F.decode_component(change.side, component.fields)
        for peer in F.coupled(change.path):
            if peer in changed or peer not in backed or peer in out:
                continue
            if not _same(now.get(peer), backed[peer]):
                out.append(peer)
    return out


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def backed_up(backup: Backup) -> dict[str, list[str]]:
    """Metadata type -> the fullNames of the components the backup's changes live in: what
    the caller reads (fresh, by name) before planning the rollback."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for change in backup.changes:
        wanted[F.TYPE_OF_SIDE[change.side]].add(change.component)
    return {type_name: sorted(names) for type_name, names in sorted(wanted.items())}


def plan_rollback(
    backup: Backup, fresh: Mapping[str, Component], instance_url: str
) -> tuple[Plan, LiveState]:
    """Plan after -> before for each field, from the components as the org holds them now
    (`fresh`: fullName -> component, read by the caller: see `backed_up`). Pure (issue 14,
    item 4): the caller does all I/O first, so a rollback is planned, and tested, from data
    alone; only the plan's time stamp comes from the clock."""
    controls = [BY_ID[c] for c in backup.controls]
    live = LiveState(org_id=backup.org_id, apps={})
    apps: dict[str, AppPlan] = {}
    read: dict[str, list[tuple[BackupChange, Any]]] = defaultdict(list)
    for change in backup.changes:
        app = apps.setdefault(change.app, AppPlan(change.app))
        live_app = live.apps.setdefault(change.app, LiveApp(change.app))
        component = fresh.get(change.component)
        if component is None:
            app.errors.append(f"{change.component} is no longer in the org")
            continue
        setattr(live_app, change.side, component)
        now = F.decode_component(change.side, component.fields).get(change.path)
        app.observed[change.path] = now
        read[change.app].append((change, now))
    for name, found in read.items():
        _plan_app(apps[name], found, _peers_moved(backup, found, fresh))
    for name, app in apps.items():
        after = {**live.apps[name].values(), **{c.path: c.after for c in app.changes}}
        rolled = {c.path for c in app.changes}
        app.findings = [f for f in findings(name, after, controls, None) if f.path in rolled]
    plan = Plan(
        org_id=backup.org_id,
        instance_url=instance_url,
        desired_digest=f"rollback of {backup.path.name}",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        apps=sorted(apps.values(), key=lambda a: a.name),
        controls=list(backup.controls),
    )
    return plan, live
