"""Backups: what apply is about to overwrite, saved before its first write.

A backup holds the fresh copy of every component the apply will write, with the secret fields
removed (they are never ours to keep, and `rollback` never needs them: it sets back only the
fields apply changed, on a fresh read-modify-write copy), plus the planned changes (app, side,
field, before, after), the org id and instance URL, and the baseline controls in force, so a
rollback can say which of its changes re-enable what the baseline forbids.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import fields as F
from .errors import ReconcilerError
from .fileio import write_atomic
from .model import Backup, BackupChange, Component, Plan
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
        path,
        doc["org_id"],
        doc["instance_url"],
        doc["created_at"],
        list(controls),
        changes,
        _coupled(doc.get("components")),
    )


def _coupled(components: Any) -> dict[str, dict[str, Any]]:
    """fullName -> the coupled fields' values as backed up. Best effort: a component entry the
    file does not describe well is skipped (rollback then checks only the changed fields, as
    it did before backups were read for this)."""
    grouped = {path for paths in F.GROUPS.values() for path in paths}
    out: dict[str, dict[str, Any]] = {}
    for item in components if isinstance(components, list) else []:
        if not isinstance(item, dict) or item.get("side") not in F.TYPE_OF_SIDE:
            continue
        if not isinstance(item.get("fullName"), str) or not isinstance(item.get("fields"), dict):
            continue
        try:
            values = F.decode_component(item["side"], item["fields"])
        except (ValueError, TypeError, KeyError):
            continue
        side_paths = {p for p in grouped if p.startswith(item["side"] + ".")}
        out[item["fullName"]] = {p: values.get(p) for p in side_paths}
    return out
