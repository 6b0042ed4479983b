"""Backups: what apply is about to overwrite, saved before its first write.

A backup holds the fresh copy of every component the apply will write, with the secret fields
removed (they are never ours to keep, and `rollback` never needs them: it sets back only the
fields apply changed, on a fresh read-modify-write copy), plus the planned changes (app, side,
field, before, after), the org id and instance URL, and the baseline controls in force, so a
rollback can say which of its changes re-enable what the baseline forbids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import fields as F
from .errors import ReconcilerError
from .fileio import write_atomic
from .model import Component, Plan
from .paths import safe_name, state_dir

BACKUP_VERSION = "1"


def default_backup_dir() -> Path:
    return state_dir() / "backups"


def write_backup(
    root: Path, plan: Plan, org_id: str, components: list[tuple[str, F.Side, Component]]
) -> Path:
    """Write `root/<org id>/<UTC time>.json` atomically; returns its path."""
    now = datetime.now(UTC)
    names = {(app, side): c.full_name for app, side, c in components}
    record = {
        "backup_version": BACKUP_VERSION,
        "created_at": now.isoformat(timespec="seconds"),
        "org_id": org_id,
        "instance_url": plan.instance_url,
        "baseline": plan.controls,
        "components": [
            {
                "app": app,
                "side": side,
                "type": c.type,
                "fullName": c.full_name,
                "fields": F.without_secrets(c.fields),
            }
            for app, side, c in components
        ],
        "changes": [
            {
                "app": change.app,
                "side": change.side,
                "field": change.field,
                "component": names[(change.app, change.side)],
                "before": change.before,
                "after": change.after,
            }
            for change in plan.changes
            if (change.app, change.side) in names
        ],
    }
    folder = root / safe_name(org_id)
    path = folder / f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}.json"
    counter = 1
    while path.exists():  # two applies in one microsecond: keep both
        path = folder / f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{counter}.json"
        counter += 1
    return write_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n", mode=0o600)


@dataclass(frozen=True)
class BackupChange:
    app: str
    side: F.Side
    field: str
    component: str
    before: Any
    after: Any

    @property
    def path(self) -> str:
        return f"{self.side}.{self.field}"


@dataclass(frozen=True)
class Backup:
    path: Path
    org_id: str
    instance_url: str
    created_at: str
    controls: list[str]
    changes: list[BackupChange]


def load_backup(path: Path) -> Backup:
    """Read and validate a backup; every problem names the file and the key."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcilerError(f"cannot read backup {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReconcilerError(f"{path}: not JSON (line {exc.lineno}): {exc.msg}") from None

    def bad(key: str, why: str) -> ReconcilerError:
        return ReconcilerError(f"{path}: {key}: {why}")

    if not isinstance(doc, dict) or doc.get("backup_version") != BACKUP_VERSION:
        raise bad("backup_version", f"not a reconciler backup of version {BACKUP_VERSION}")
    for key in ("org_id", "instance_url", "created_at"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise bad(key, "missing or not a string")
    controls = doc.get("baseline", [])
    if not isinstance(controls, list) or not all(isinstance(c, str) for c in controls):
        raise bad("baseline", "not a list of control ids")
    from .controls import BY_ID

    unknown = [c for c in controls if c not in BY_ID]
    if unknown:
        raise bad("baseline", f"unknown control(s) {', '.join(unknown)}")
    raw = doc.get("changes")
    if not isinstance(raw, list):
        raise bad("changes", "missing or not a list")
    changes = []
    for i, item in enumerate(raw):
        where = f"changes[{i}]"
        if not isinstance(item, dict):
            raise bad(where, "not an object")
        spec = F.BY_PATH.get(f"{item.get('side')}.{item.get('field')}")
        if spec is None:
            raise bad(where, f"unknown field {item.get('side')}.{item.get('field')}")
        for key in ("app", "component"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise bad(f"{where}.{key}", "missing or not a string")
        values = {}
        for key in ("before", "after"):
            value = item.get(key)
            try:
                values[key] = None if value is None else spec.parse(value)
            except ValueError as exc:
                raise bad(f"{where}.{key}", f"allowed: {exc}") from None
        changes.append(
            BackupChange(
                item["app"],
                spec.side,
                spec.key,
                item["component"],
                values["before"],
                values["after"],
            )
        )
    return Backup(
        path, doc["org_id"], doc["instance_url"], doc["created_at"], list(controls), changes
    )
