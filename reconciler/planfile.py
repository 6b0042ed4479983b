"""The saved-plan format: one JSON document, written by `plan --out`, read by `apply PLANFILE`.

A plan file is a record of what was reviewed, never a source of instructions. `apply PLANFILE`
re-plans from the desired state and the live org and applies only if the result is the saved
plan change for change; so a hand-edited file can refuse an apply, but never add, widen or
redirect a write. To make that comparison meaningful the file records what the plan depended
on: the desired state (a digest overall and per file), the run's scope (`--app`/`--exclude`),
the org id, and the live value of every declared field (`observed`), including fields that
need no change (a field that drifted under an unchanged plan is still a plan nobody reviewed).

`--format json` prints the same document, so `apply` accepts either. `format_version` follows
Terraform's rule: a minor bump only adds keys, a major bump breaks.

This module sits below render/ (the JSON view calls `dumps`), so it imports nothing from there.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import __version__
from . import fields as F
from .desired_state import DesiredState
from .errors import PlanFileError
from .fileio import write_atomic
from .model import AppPlan, FieldChange, Finding, Plan
from .safety import SafetyCheck, assess

FORMAT_VERSION = "1"
#: Plan files far beyond any real org's size are refused before parsing (a plan of 300 apps
#: with every field declared is well under 2 MB).
MAX_BYTES = 64 * 1024 * 1024
#: Names printed as they are; anything else from the file is printed JSON-escaped.
_PLAIN = re.compile(r"^[A-Za-z0-9_./@\-]{1,200}$")
#: Every spelling of a secret or a rotation trigger, wire or YAML (fields.py).
_SECRET_NAMES = frozenset(
    name.lower()
    for name in (*F.SECRET_FIELDS, *F.ROTATE_FIELDS, *F.FORBIDDEN_KEYS, *F.FORBIDDEN_KEYS.values())
)


class PlanMismatchError(PlanFileError):
    """The saved plan is not what planning gives now: stale (org or YAML moved) or altered."""


# --- writing -----------------------------------------------------------------------------


def plan_document(plan: Plan, safety: SafetyCheck | None = None) -> dict[str, Any]:
    """The plan as JSON data: declared fields only, so it never holds a secret. `safety` is
    the valve's verdict under the run's limit (default: the default threshold)."""
    return {
        "format_version": FORMAT_VERSION,
        "tool": f"reconciler {__version__}",
        "org_id": plan.org_id,
        "instance_url": plan.instance_url,
        "created_at": plan.created_at,
        "desired_digest": plan.desired_digest,
        "desired_files": plan.desired_files,
        "desired_file_digests": plan.desired_file_digests,
        "scope": {"apps": plan.scope_apps, "exclude": plan.scope_exclude},
        "changes": [
            {
                "app": c.app,
                "component": c.side,
                "field": c.field,
                "before": c.before,
                "after": c.after,
                "enables_flow": c.enables_flow,
                "control": c.control,
                "breaking": _breaking(plan, c),
            }
            for c in plan.changes
        ],
        # Changes kept out of `changes`: they would break an integration in use (issue 15).
        "held": [h.to_dict() for h in plan.held],
        "allow_breaking": plan.allow_breaking,
        "usage_window_days": plan.usage_window_days,
        "apps": [
            {
                "name": a.name,
                "status": "error" if a.errors else ("update" if a.changes else "no-op"),
                "errors": a.errors,
                "notes": a.notes,
                "observed": a.observed,
                "listed": a.listed,
                "risk": None if a.risk is None else asdict(a.risk),
                "findings": [asdict(f) for f in a.findings],
                "usage": None if a.usage is None else a.usage.to_dict(),
                "breaking": a.breaking,
                "unused_exceptions": a.unused_exceptions,
            }
            for a in plan.apps
        ],
        "baseline": plan.controls,
        "warnings": plan.warnings,
        "summary": plan.summary(),
        # What the safety valve says (safety.py); informational, never read back.
        "safety": (safety or assess(plan)).to_dict(),
    }


def _breaking(plan: Plan, change: FieldChange) -> bool:
    """A planned change that turns client credentials off for an app in use."""
    app = plan.app(change.app)
    return bool(
        app is not None
        and app.breaking
        and change.path.endswith(".client_credentials")
        and change.after is False
    )


def dumps(plan: Plan, safety: SafetyCheck | None = None) -> str:
    return json.dumps(plan_document(plan, safety), indent=2, sort_keys=False) + "\n"


def write(plan: Plan, path: Path, safety: SafetyCheck | None = None) -> Path:
    """Save atomically: a reader (or a crash) never sees half a plan."""
    return write_atomic(path, dumps(plan, safety))


# --- reading -----------------------------------------------------------------------------


def _name(text: Any) -> str:
    """Text from the file as one inert token (the file may have been edited by anyone)."""
    text = str(text)
    return text if _PLAIN.match(text) else json.dumps(text, ensure_ascii=True)


def _show(value: Any) -> str:
    """A field value as plans print it; JSON escaping keeps control characters inert."""
    return "(unset)" if value is None else json.dumps(value, ensure_ascii=True)


def _is_secret(name: str) -> bool:
    return name.lower() in _SECRET_NAMES or name.split(".")[-1].lower() in _SECRET_NAMES


def _spec(source: str, app: str, side: Any, key: Any, where: str) -> F.FieldSpec:
    """The catalogue entry of a field named in the file, or a PlanFileError saying why not.

    Values are never echoed here: a secret (or a secret under a misspelt name) stays out of
    the message."""
    if not isinstance(side, str) or not isinstance(key, str):
        raise PlanFileError(f"{source}: malformed plan file: app {app}: {where}: not a field name")
    path = f"{side}.{key}"
    if _is_secret(key) or _is_secret(side):
        raise PlanFileError(
            f"{source}: malformed plan file: app {app}: {where} {_name(path)} is a secret or a "
            "rotation trigger; plans never hold those and apply never writes them. Re-run plan"
        )
    spec = F.BY_PATH.get(path)
    if spec is None:
        raise PlanFileError(
            f"{source}: malformed plan file: app {app}: {where} {_name(path)} is not a field "
            "this reconciler manages (see the table in docs/desired-state.md / "
            "reconciler/fields.py). Re-run plan"
        )
    return spec


def _value(source: str, app: str, spec: F.FieldSpec, value: Any, what: str) -> Any:
    if value is None:
        return None
    try:
        spec.parse(value)
    except (ValueError, TypeError) as exc:
        raise PlanFileError(
            f"{source}: app {app} {spec.path}: {what} value {_show(value)} is not allowed "
            f"(allowed: {exc}); re-run plan"
        ) from None
    return value


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{what} must be a list of names")
    return list(value)


def _app(source: str, a: Any) -> AppPlan:
    if not isinstance(a, dict) or not isinstance(a.get("name"), str):
        raise TypeError("apps[] entries need a name")
    name = _name(a["name"])
    observed = a["observed"]
    if not isinstance(observed, dict):
        raise TypeError(f"apps[{name}].observed must be an object")
    # Names only: observed values are whatever the org held (an enum value newer than the
    # catalogue is kept verbatim), and they are only ever compared, never written.
    for path in observed:
        side, _, key = str(path).partition(".")
        _spec(source, name, side, key, "observed field")
    return AppPlan(
        a["name"],
        [],
        dict(observed),
        _strings(a["errors"], "errors"),
        _strings(a.get("notes", []), "notes"),
        listed=bool(a.get("listed", True)),
        findings=[Finding(**f) for f in a.get("findings", [])],
    )


def _change(source: str, c: Any, apps: dict[str, AppPlan]) -> FieldChange:
    if not isinstance(c, dict) or not isinstance(c.get("app"), str):
        raise TypeError("changes[] entries need an app")
    name = _name(c["app"])
    spec = _spec(source, name, c["component"], c["field"], "change to")
    if c["app"] not in apps:
        raise PlanFileError(
            f"{source}: malformed plan file: a change to {spec.path} names app {name}, "
            "which is not in the plan's apps list"
        )
    control = c.get("control")
    if control is not None and not isinstance(control, str):
        raise TypeError("changes[].control must be a control id or null")
    change = FieldChange(
        c["app"],
        spec.side,
        spec.key,
        c["before"],  # a live value, compared only (see _app)
        _value(source, name, spec, c["after"], "planned"),
        control,
    )
    if change.after is None:
        raise PlanFileError(f"{source}: app {name} {spec.path}: planned value is missing")
    if any(old.path == change.path for old in apps[c["app"]].changes):
        raise PlanFileError(f"{source}: app {name} {spec.path}: changed twice in one plan")
    return change


def plan_from_document(doc: Any, source: str) -> Plan:
    """Rebuild a Plan from a plan file; anything malformed is a PlanFileError naming the file."""
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise PlanFileError(f"{source}: not a reconciler plan file")
    version = _name(doc["format_version"])
    if version.split(".")[0] != FORMAT_VERSION:
        raise PlanFileError(
            f"{source}: plan format_version {version} is not supported "
            f"(this reconciler reads {FORMAT_VERSION}.x); re-run plan"
        )
    try:
        if "desired_file_digests" not in doc or "scope" not in doc:
            raise PlanFileError(
                f"{source}: malformed plan file: it does not record its desired-state files or "
                "scope (made by an older reconciler?); re-run plan"
            )
        digests = doc["desired_file_digests"]
        if not isinstance(digests, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in digests.items()
        ):
            raise TypeError("desired_file_digests must map file names to digests")
        scope = doc["scope"]
        if not isinstance(scope, dict):
            raise TypeError("scope must be an object")
        for key in ("org_id", "instance_url", "desired_digest", "created_at"):
            if not isinstance(doc[key], str):
                raise TypeError(f"{key} must be a string")
        if not isinstance(doc["apps"], list) or not isinstance(doc["changes"], list):
            raise TypeError("apps and changes must be lists")
        apps: dict[str, AppPlan] = {}
        for a in doc["apps"]:
            app = _app(source, a)
            if app.name in apps:
                raise PlanFileError(f"{source}: app {_name(app.name)} is listed twice")
            apps[app.name] = app
        for c in doc["changes"]:
            change = _change(source, c, apps)
            apps[change.app].changes.append(change)
        return Plan(
            org_id=doc["org_id"],
            instance_url=doc["instance_url"],
            desired_digest=doc["desired_digest"],
            created_at=doc["created_at"],
            apps=list(apps.values()),
            warnings=_strings(doc.get("warnings", []), "warnings"),
            controls=_strings(doc.get("baseline", []), "baseline"),
            desired_files=_strings(doc.get("desired_files", []), "desired_files"),
            desired_file_digests=dict(digests),
            scope_apps=_strings(scope["apps"], "scope.apps"),
            scope_exclude=_strings(scope["exclude"], "scope.exclude"),
            allow_breaking=_flag(doc.get("allow_breaking", False), "allow_breaking"),
            usage_window_days=_window(doc.get("usage_window_days", 30)),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        detail = f"missing key {_name(exc.args[0])}" if isinstance(exc, KeyError) else str(exc)
        raise PlanFileError(f"{source}: malformed plan file ({detail})") from None


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be true or false")
    return value


def _window(value: Any) -> int | None:
    """`usage_window_days` of a plan file: the re-plan uses it (None: usage not looked up). A
    file made before usage evidence existed has none: the default window applies."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
        raise TypeError("usage_window_days must be a number of days or null")
    return value


def read(path: Path) -> Plan:
    """Load and validate a plan file; every problem is a PlanFileError naming the file."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise PlanFileError(f"{path}: larger than {MAX_BYTES // 2**20} MB; not a plan file")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlanFileError(f"{path}: not UTF-8 text; not a plan file") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}: not JSON (line {exc.lineno}): {exc.msg}") from None
    except RecursionError:
        raise PlanFileError(f"{path}: JSON nested too deeply; not a plan file") from None
    return plan_from_document(doc, str(path))


# --- checking ----------------------------------------------------------------------------


def _canon(value: Any) -> Any:
    """Strict equality key: true is not 1, 30 is not "30"; lists are sets (profiles, URLs)."""
    if isinstance(value, list):
        return ("list", tuple(sorted(json.dumps(v, sort_keys=True) for v in value)))
    return (type(value).__name__, json.dumps(value, sort_keys=True))


def desired_differences(saved: Plan, desired: DesiredState) -> list[str]:
    """Which desired-state files were added, removed or modified since the plan was made."""
    then, now = saved.desired_file_digests, desired.file_digests
    out = [f"{_name(n)}: added since the plan was made" for n in sorted(now.keys() - then.keys())]
    out += [f"{_name(n)}: removed since the plan was made" for n in sorted(then.keys() - now)]
    out += [
        f"{_name(n)}: modified since the plan was made"
        for n in sorted(then.keys() & now.keys())
        if then[n] != now[n]
    ]
    if not out and saved.desired_digest != desired.digest:
        out.append(
            f"the desired state's digest is {desired.digest[:12]}..., the plan file says "
            f"{_name(saved.desired_digest)[:12]}..."
        )
    return out


def _change_text(change: FieldChange | None) -> str:
    if change is None:
        return "no change"
    text = f"{_show(change.before)} -> {_show(change.after)}"
    return f"{text} (baseline {_name(change.control)})" if change.control else text


def _key(change: FieldChange) -> tuple[Any, ...]:
    return (_canon(change.before), _canon(change.after), change.control)


def plan_differences(saved: Plan, now: Plan) -> list[str]:
    """Every way `now` (planned moments ago) differs from `saved`, as `App: path: ...` lines."""
    if saved.org_id != now.org_id:
        return [f"the plan was made for org {_name(saved.org_id)}, but this org is {now.org_id}"]
    out: list[str] = []
    names = list(dict.fromkeys([a.name for a in now.apps] + [a.name for a in saved.apps]))
    for name in names:
        then_app, now_app = saved.app(name), now.app(name)
        shown = _name(name)
        out += [f"{shown}: planning now reports: {e}" for e in (now_app.errors if now_app else [])]
        then_changes = {c.path: c for c in (then_app.changes if then_app else [])}
        now_changes = {c.path: c for c in (now_app.changes if now_app else [])}
        for path in sorted(then_changes.keys() | now_changes.keys(), key=_field_order):
            a, b = then_changes.get(path), now_changes.get(path)
            if a is None or b is None or _key(a) != _key(b):
                out.append(
                    f"{shown}: {path}: the plan file says {_change_text(a)} but planning now "
                    f"gives {_change_text(b)}"
                )
        then_obs = then_app.observed if then_app else {}
        now_obs = now_app.observed if now_app else {}
        for path in sorted(then_obs.keys() | now_obs.keys(), key=_field_order):
            if path not in now_obs:
                out.append(f"{shown}: {_name(path)}: observed when planned, no longer declared")
            elif path not in then_obs:
                out.append(f"{shown}: {path}: declared now, not observed when planned")
            elif _canon(then_obs[path]) != _canon(now_obs[path]):
                out.append(
                    f"{shown}: {path} was {_show(then_obs[path])} when planned, "
                    f"now {_show(now_obs[path])}"
                )
    return out


_ORDER = {spec.path: i for i, spec in enumerate(F.ALL_SPECS)}


def _field_order(path: str) -> tuple[int, str]:
    return (_ORDER.get(path, len(_ORDER)), path)


def check(saved: Plan, recomputed: Plan, desired: DesiredState) -> list[str]:
    """Why `saved` must not be applied (empty when it may): desired files, then the plan."""
    return desired_differences(saved, desired) or plan_differences(saved, recomputed)


def mismatch(differences: list[str], *, desired_changed: bool) -> PlanMismatchError:
    """The refusal: every difference on its own line, and what to do about it."""
    what = (
        "the desired state changed since it was made"
        if desired_changed
        else "it differs from what planning gives now"
    )
    return PlanMismatchError(
        f"the saved plan is stale or was altered; nothing was written: {what}:\n"
        + "\n".join(f"  {d}" for d in differences)
        + "\nRe-run `reconciler plan` and review the new plan."
    )
