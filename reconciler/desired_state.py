"""Desired state: the YAML under desired/, validated into DesiredApp objects.

Validation is offline and complete: every problem in every file is collected with its file, line
and key before anything touches an org, so a bad pull request fails with one readable list.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import fields as F
from .controls import BY_ID as CONTROLS_BY_ID
from .controls import DEFAULT_BASELINE
from .desired_model import BaselineConfig, DesiredApp, DesiredState, ExceptionEntry
from .display import cut
from .errors import DesiredStateError, Issue
from .yaml_source import (
    SHOWN_CHARS,
    LocatedDict,
    find_yaml_files,
    parse_bytes,
    read_source,
    shorten,
)

__all__ = [  # the types live in desired_model.py; importing them from here keeps working
    "BaselineConfig",
    "DesiredApp",
    "DesiredState",
    "ExceptionEntry",
    "load_desired",
]

SUPPORTED_VERSIONS = (1,)
TOP_LEVEL_KEYS = (
    "version",
    "defaults",
    "apps",
    "connected_apps",
    "baseline",
    "unlisted",
    "exception_warning_days",
)
APP_KEYS = ("settings", "policies", "exceptions")
SIDE_KEYS: tuple[F.Side, ...] = ("settings", "policies")
EXCEPTION_KEYS = ("control", "justification", "owner", "ticket", "expires")
UNLISTED_MODES = ("enforce", "report", "ignore")
#: ExternalClientApplication fullNames are API names, optionally namespaced (`ns__Name`).
APP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _suggest(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    return f"unknown key{hint} Allowed: {', '.join(allowed)}"


class _Validator:
    """Walks one file's data, appending Issues; returns the apps it found valid enough to use."""

    def __init__(self, display: str) -> None:
        self.file = display
        self.issues: list[Issue] = []
        self.found_baseline: BaselineConfig | None = None
        #: Baseline keys this file declares validly: key -> (value, line). An overlay layer
        #: replaces only these, key by key.
        self.baseline_keys: dict[str, tuple[Any, int]] = {}
        #: App name -> field paths that came from this file's `defaults:` (not the app's own
        #: keys): in an overlay an app's own key from any layer wins over a default.
        self.defaulted: dict[str, set[str]] = {}

    def issue(self, line: int | None, key: str, message: str) -> None:
        # A key path embeds user-chosen names; a megabyte-long one must not fill the terminal.
        self.issues.append(Issue(self.file, line, cut(key, 2 * SHOWN_CHARS), message))

    def check_keys(
        self, mapping: LocatedDict, allowed: list[str] | tuple[str, ...], where: str
    ) -> None:
        for key in mapping:
            if key not in allowed:
                self.issue(
                    mapping.line_of(key),
                    f"{where}.{key}".lstrip("."),
                    _suggest(cut(str(key), SHOWN_CHARS), list(allowed)),
                )

    def mapping(self, value: Any, line: int, key: str) -> LocatedDict | None:
        if value is None:
            return LocatedDict()
        if not isinstance(value, LocatedDict):
            self.issue(line, key, f"must be a mapping, got {type(value).__name__}")
            return None
        return value

    def value(self, spec: F.FieldSpec, raw: Any, line: int, key: str) -> tuple[bool, Any]:
        """Type-check one value; returns (ok, canonical value)."""
        try:
            return True, spec.parse(raw)
        except ValueError as exc:
            shown = "null" if raw is None else shorten(raw)
            self.issue(line, key, f"invalid value {shown}; allowed: {exc}")
            return False, None

    def side(
        self, side: F.Side, raw: Any, line: int, where: str
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """Validate `settings:` or `policies:`; returns ({path: value}, {path: line})."""
        values: dict[str, Any] = {}
        lines: dict[str, int] = {}
        block = self.mapping(raw, line, where)
        if block is None:
            return values, lines
        specs = {spec.key: spec for spec in F.specs_of(side)}
        nested = F.NESTED_KEYS[side]
        allowed = sorted({key.split(".")[0] for key in specs})
        for key, raw_value in block.items():
            key_line = block.line_of(key)
            qualified = f"{where}.{key}"
            if side == "connected" and key == "exceptions":
                continue  # a Connected App's block holds its fields and its exceptions
            if key in F.FORBIDDEN_KEYS:
                self.issue(
                    key_line,
                    qualified,
                    f"{F.FORBIDDEN_KEYS[key]} is a secret or a rotation trigger and can "
                    "never be declared; manage it in Setup",
                )
            elif key in nested:
                sub = self.mapping(raw_value, key_line, qualified)
                if sub is None:
                    continue
                self.check_keys(sub, nested[key], qualified)
                for child in nested[key]:
                    if child in sub:
                        spec = specs[f"{key}.{child}"]
                        ok, value = self.value(
                            spec, sub[child], sub.line_of(child), f"{qualified}.{child}"
                        )
                        if ok:
                            values[spec.path] = value
                            lines[spec.path] = sub.line_of(child)
            elif key in specs:
                ok, value = self.value(specs[key], raw_value, key_line, qualified)
                if ok:
                    values[specs[key].path] = value
                    lines[specs[key].path] = key_line
            else:
                shown = [*allowed, "exceptions"] if side == "connected" else allowed
                self.issue(key_line, qualified, _suggest(cut(str(key), SHOWN_CHARS), shown))
        return values, lines

    def sides(self, raw: Any, line: int, where: str) -> tuple[dict[str, Any], dict[str, int]]:
        block = self.mapping(raw, line, where)
        values: dict[str, Any] = {}
        lines: dict[str, int] = {}
        if block is None:
            return values, lines
        self.check_keys(block, APP_KEYS if where.startswith("apps.") else SIDE_KEYS, where)
        for side in SIDE_KEYS:
            if side in block:
                v, ln = self.side(side, block[side], block.line_of(side), f"{where}.{side}")
                values.update(v)
                lines.update(ln)
        return values, lines

    def document(self, data: Any) -> list[DesiredApp]:
        if data is None:
            self.issue(None, "", "file is empty; expected 'version: 1' and 'apps:'")
            return []
        if not isinstance(data, LocatedDict):
            self.issue(1, "", "top level must be a mapping with 'version' and 'apps'")
            return []
        self.check_keys(data, TOP_LEVEL_KEYS, "")
        self.found_baseline = self.baseline(data)
        version = data.get("version")
        if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
            self.issue(
                data.line_of("version"),
                "version",
                f"unsupported version {shorten(version)}; supported: "
                + ", ".join(map(str, SUPPORTED_VERSIONS)),
            )
        default_values, default_lines = self.sides(
            data.get("defaults"), data.line_of("defaults"), "defaults"
        )
        apps_block = self.mapping(data.get("apps"), data.line_of("apps"), "apps")
        if "apps" not in data and "connected_apps" not in data:
            self.issue(data.line, "apps", "missing; declare at least one app under 'apps:'")
        connected = self.connected_apps(data)
        if apps_block is None:
            return connected
        apps = connected
        for name, body in apps_block.items():
            line = apps_block.line_of(name)
            if not isinstance(name, str) or not APP_NAME.match(name):
                self.issue(
                    line,
                    f"apps.{name}",
                    "app names are ExternalClientApplication API names: a letter, then "
                    "letters, digits or underscores",
                )
                continue
            values, lines = self.sides(body, line, f"apps.{name}")
            app = DesiredApp(name, self.file, line)
            if isinstance(body, LocatedDict) and "exceptions" in body:
                app.exceptions = self.exceptions(
                    body["exceptions"], body.line_of("exceptions"), f"apps.{name}.exceptions"
                )
            for path, value in default_values.items():
                app.values[path], app.lines[path] = value, default_lines[path]
            app.values.update(values)
            app.lines.update(lines)
            self.defaulted[name] = set(default_values) - set(values)
            apps.append(app)
        return apps

    def connected_apps(self, data: LocatedDict) -> list[DesiredApp]:
        """`connected_apps:`: each Connected App's flat OAuth keys and its exceptions. Keyed in
        the pipeline by `ConnectedApp:<name>`; `defaults:` (ECA sides) does not apply."""
        block = self.mapping(
            data.get("connected_apps"), data.line_of("connected_apps"), "connected_apps"
        )
        out: list[DesiredApp] = []
        for name, body in (block or {}).items():
            line = block.line_of(name) if block is not None else 0
            where = f"connected_apps.{name}"
            if not isinstance(name, str) or not APP_NAME.match(name):
                self.issue(
                    line,
                    where,
                    "Connected App names are ConnectedApp API names: a letter, then letters, "
                    "digits or underscores",
                )
                continue
            values, lines = self.side("connected", body, line, where)
            app = DesiredApp(F.connected_key(name), self.file, line, values, lines)
            if isinstance(body, LocatedDict) and "exceptions" in body:
                app.exceptions = self.exceptions(
                    body["exceptions"], body.line_of("exceptions"), f"{where}.exceptions"
                )
            self.defaulted[app.name] = set()
            out.append(app)
        return out

    def exceptions(self, raw: Any, line: int, where: str) -> list[ExceptionEntry]:
        """Shape checks only; expiry and need are judged in baseline.py, which knows today."""
        if not isinstance(raw, list):
            self.issue(line, where, "must be a list of {control, justification, owner, expires}")
            return []
        entries: list[ExceptionEntry] = []
        seen: set[str] = set()
        for index, item in enumerate(raw):
            key = f"{where}[{index}]"
            if not isinstance(item, LocatedDict):
                self.issue(
                    line, key, "must be a mapping with control, justification, owner, expires"
                )
                continue
            self.check_keys(item, EXCEPTION_KEYS, key)
            ok = True
            control = item.get("control")
            if not isinstance(control, str) or control not in CONTROLS_BY_ID:
                allowed = ", ".join(CONTROLS_BY_ID)
                self.issue(
                    item.line_of("control"),
                    f"{key}.control",
                    f"unknown control {shorten(control)}; allowed: {allowed}",
                )
                ok = False
            elif control in seen:
                self.issue(
                    item.line_of("control"),
                    f"{key}.control",
                    f"a second exception for {control}; keep one",
                )
                ok = False
            for required in ("justification", "owner"):
                text = item.get(required)
                if not isinstance(text, str) or not text.strip():
                    self.issue(
                        item.line_of(required),
                        f"{key}.{required}",
                        "required: a non-empty text (exceptions must say why and who)",
                    )
                    ok = False
            expires = item.get("expires")
            if isinstance(expires, datetime):
                expires = expires.date()
            if isinstance(expires, str):
                with contextlib.suppress(ValueError):
                    expires = date.fromisoformat(expires.strip())
            if not isinstance(expires, date):
                self.issue(
                    item.line_of("expires"),
                    f"{key}.expires",
                    "required: a date YYYY-MM-DD (exceptions must expire)",
                )
                ok = False
            ticket = item.get("ticket")
            if ticket is not None and not isinstance(ticket, str | int):
                self.issue(item.line_of("ticket"), f"{key}.ticket", "must be a text, e.g. SEC-1234")
                ok = False
            if ok and isinstance(control, str) and isinstance(expires, date):
                seen.add(control)
                entries.append(
                    ExceptionEntry(
                        control,
                        item["justification"].strip(),
                        item["owner"].strip(),
                        expires,
                        None if ticket is None else str(ticket),
                        self.file,
                        item.line,
                    )
                )
        return entries

    def baseline(self, data: LocatedDict) -> BaselineConfig | None:
        """`baseline: [ids]`, `unlisted: mode`, `exception_warning_days: N`; None if undeclared."""
        if not any(k in data for k in ("baseline", "unlisted", "exception_warning_days")):
            return None
        config = BaselineConfig(DEFAULT_BASELINE, file=self.file, line=data.line_of("baseline"))
        if "baseline" in data:
            raw = data["baseline"]
            if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
                self.issue(
                    data.line_of("baseline"),
                    "baseline",
                    "must be a list of control ids, e.g. [ECA-OAUTH-001]",
                )
            else:
                for control in raw:
                    if control not in CONTROLS_BY_ID:
                        self.issue(
                            data.line_of("baseline"),
                            "baseline",
                            f"unknown control {shorten(control)}; allowed: "
                            + ", ".join(CONTROLS_BY_ID),
                        )
                config.controls = tuple(c for c in raw if c in CONTROLS_BY_ID)
                self.baseline_keys["baseline"] = (config.controls, data.line_of("baseline"))
        if "unlisted" in data:
            if data["unlisted"] not in UNLISTED_MODES:
                self.issue(
                    data.line_of("unlisted"),
                    "unlisted",
                    f"invalid value {shorten(data['unlisted'])}; allowed: "
                    + " | ".join(UNLISTED_MODES),
                )
            else:
                config.unlisted = data["unlisted"]
                self.baseline_keys["unlisted"] = (config.unlisted, data.line_of("unlisted"))
        if "exception_warning_days" in data:
            days = data["exception_warning_days"]
            if not isinstance(days, int) or isinstance(days, bool) or days < 0:
                self.issue(
                    data.line_of("exception_warning_days"),
                    "exception_warning_days",
                    f"invalid value {shorten(days)}; allowed: a whole number >= 0",
                )
            else:
                config.exception_warning_days = days
                self.baseline_keys["exception_warning_days"] = (
                    days,
                    data.line_of("exception_warning_days"),
                )
        return config


def cross_checks(app: DesiredApp) -> list[Issue]:
    """Rules that span fields; checked once every layer is merged, as the org would see them
    (a base layer's run_as and an org layer's `client_credentials: false` do conflict)."""
    issues: list[Issue] = []
    cc = app.values.get("policies.client_credentials")
    if cc is False and "policies.run_as" in app.values:
        issues.append(
            Issue(
                *app.where("policies.run_as"),
                cut(f"apps.{app.name}.policies.run_as", 2 * SHOWN_CHARS),
                "run_as is set while policies.client_credentials is false; remove run_as "
                "or enable the flow",
            )
        )
    policy = app.values.get("policies.refresh_token.policy")
    if policy in ("specific_lifetime", "specific_inactivity"):
        for child in ("period", "unit"):
            if f"policies.refresh_token.{child}" not in app.values:
                issues.append(
                    Issue(
                        *app.where("policies.refresh_token.policy"),
                        cut(f"apps.{app.name}.policies.refresh_token.{child}", 2 * SHOWN_CHARS),
                        f"required when refresh_token.policy is {policy}",
                    )
                )
    return issues


DesiredPaths = str | Path | Sequence[str | Path]


@dataclass
class _Layer:
    """What one `-d` folder (or file) declares, validated file by file."""

    apps: dict[str, DesiredApp] = field(default_factory=dict)
    #: App name -> paths that came from `defaults:` rather than the app's own keys.
    defaulted: dict[str, set[str]] = field(default_factory=dict)
    #: Baseline key -> (value, file, line).
    baseline: dict[str, tuple[Any, str, int]] = field(default_factory=dict)
    #: File and line of the first baseline key seen in this layer (for "declared twice").
    baseline_at: tuple[str, int] | None = None


def _layer_name(root: Path, file: Path, layered: bool) -> str:
    """The file's name in digests: relative to its root, so `-d desired` and `-d ./desired`
    agree; with several layers prefixed by the root as given (normalised), so the same file
    name in two layers stays two entries."""
    rel = file.relative_to(root).as_posix() if root.is_dir() else file.name
    if not layered:
        return rel
    prefix = Path(os.path.normpath(root)).as_posix()
    return f"{prefix}/{rel}" if root.is_dir() else prefix


def _read_layer(
    root: Path,
    files: list[Path],
    layered: bool,
    digest: Any,
    file_digests: dict[str, str],
    issues: list[Issue],
) -> _Layer:
    """Validate each file of one layer; within a layer an app or a baseline key may be
    declared once (as before overlays existed)."""
    layer = _Layer()
    for file in files:
        display = str(file)
        name = _layer_name(root, file, layered)
        digest.update(name.encode() + b"\0")
        raw, read_issues = read_source(file, display)
        issues.extend(read_issues)
        if raw is None:
            continue
        digest.update(raw)
        file_digests[name] = hashlib.sha256(raw).hexdigest()
        data, load_issues = parse_bytes(raw, display)
        issues.extend(load_issues)
        if load_issues and data is None:
            continue
        validator = _Validator(display)
        for app in validator.document(data):
            if app.name in layer.apps:
                first = layer.apps[app.name]
                validator.issue(
                    app.line,
                    F.yaml_path(app.name),
                    f"app declared twice in one layer (also in {first.file}:{first.line})",
                )
            else:
                layer.apps[app.name] = app
                layer.defaulted[app.name] = validator.defaulted.get(app.name, set())
        if validator.found_baseline is not None:
            if layer.baseline_at is not None:
                validator.issue(
                    validator.found_baseline.line,
                    "baseline",
                    f"baseline settings declared twice (also in {layer.baseline_at[0]}:"
                    f"{layer.baseline_at[1]}); keep them in one file",
                )
            else:
                layer.baseline_at = (display, validator.found_baseline.line)
                for key, (value, line) in validator.baseline_keys.items():
                    layer.baseline[key] = (value, display, line)
        issues.extend(validator.issues)
    return layer


def _overlay_app(
    merged: DesiredApp, own: dict[str, bool], app: DesiredApp, defaulted: set[str]
) -> None:
    """Lay `app` (a later layer) over `merged`, field by field.

    A later layer's value replaces an earlier one, except that a value from the later file's
    `defaults:` never replaces one the app declared itself in an earlier layer: defaults fill
    gaps, they do not override (the same rule as inside one file)."""
    for path, value in app.values.items():
        is_own = path not in defaulted
        if is_own or not own.get(path, False):
            merged.values[path] = value
            merged.lines[path] = app.lines[path]
            merged.path_files[path] = app.file
            own[path] = is_own
    by_control = {e.control: i for i, e in enumerate(merged.exceptions)}
    for entry in app.exceptions:
        if entry.control in by_control:
            merged.exceptions[by_control[entry.control]] = entry
        else:
            merged.exceptions.append(entry)


def _merge_layers(layers: list[_Layer]) -> tuple[dict[str, DesiredApp], BaselineConfig | None]:
    """Later layers override earlier ones key by key: apps field by field, exceptions by
    control, baseline settings key by key."""
    apps: dict[str, DesiredApp] = {}
    own: dict[str, dict[str, bool]] = {}
    baseline_keys: dict[str, tuple[Any, str, int]] = {}
    for layer in layers:
        for name, app in layer.apps.items():
            defaulted = layer.defaulted.get(name, set())
            if name not in apps:
                apps[name] = app
                own[name] = {path: path not in defaulted for path in app.values}
            else:
                _overlay_app(apps[name], own[name], app, defaulted)
        baseline_keys.update(layer.baseline)
    for name, app in apps.items():
        app.from_defaults = {path for path, is_own in own[name].items() if not is_own}
    if not any(layer.baseline_at for layer in layers):
        return apps, None
    # Where the baseline "is" (SARIF points there): the layer that chose the controls, else the
    # last layer that declared any baseline setting.
    if "baseline" in baseline_keys:
        file, line = baseline_keys["baseline"][1:]
    else:
        file, line = next(layer.baseline_at for layer in reversed(layers) if layer.baseline_at)
    config = BaselineConfig(DEFAULT_BASELINE, file=file, line=line)
    if "baseline" in baseline_keys:
        config.controls = baseline_keys["baseline"][0]
    if "unlisted" in baseline_keys:
        config.unlisted = baseline_keys["unlisted"][0]
    if "exception_warning_days" in baseline_keys:
        config.exception_warning_days = baseline_keys["exception_warning_days"][0]
    return apps, config


def _roots(path: DesiredPaths) -> list[Path]:
    return [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]


def load_desired(path: DesiredPaths) -> DesiredState:
    """Load and validate a file or folder, or several as layers; DesiredStateError lists every
    issue found. Only loads: the baseline's own checks of the declared state (expired
    exceptions, violations without one) are policy, run by the operations that need them
    (operations.load_desired), so loading never depends on the baseline engine.

    Several paths (`-d base -d prod`) are layers: each is validated file by file, then later
    layers override earlier ones key by key (see `_merge_layers`). The digests cover every
    layer's files, in layer order, so a saved plan notices a change in any of them.

    Anything that cannot be read (a file, a folder, a broken link) is an issue like any other:
    the run stops rather than going on without what it might have held."""
    roots = _roots(path)
    if not roots:
        raise DesiredStateError([Issue("-d", None, "", "no desired-state file or folder given")])
    layered = len(roots) > 1
    issues: list[Issue] = []
    seen: dict[Path, Path] = {}
    found: list[tuple[Path, list[Path]]] = []
    for root in roots:
        if not root.exists():
            issues.append(Issue(str(root), None, "", "no such file or folder"))
            continue
        same = seen.get(root.resolve())
        if same is not None:
            issues.append(Issue(str(root), None, "", f"given twice as -d (also as {same})"))
            continue
        seen[root.resolve()] = root
        files, find_issues = find_yaml_files(root)
        issues.extend(find_issues)
        if not files and not find_issues:
            issues.append(Issue(str(root), None, "", "no *.yaml or *.yml files found"))
        found.append((root, files))
    if issues and not any(files for _, files in found):
        raise DesiredStateError(issues)
    digest = hashlib.sha256()
    file_digests: dict[str, str] = {}
    layers = []
    for root, files in found:  # in layer order; names carry the layer's root (_layer_name)
        layers.append(_read_layer(root, files, layered, digest, file_digests, issues))
    apps, baseline = _merge_layers(layers)
    all_files = [f for _, files in found for f in files]
    state = DesiredState(
        apps=apps,
        files=[str(f) for f in all_files],
        digest=digest.hexdigest(),
        file_digests=file_digests,
    )
    if baseline is not None:
        state.baseline = baseline
    for app in apps.values():
        issues.extend(cross_checks(app))
    if issues:
        raise_sorted(issues, state.files)
    return state


def raise_sorted(issues: list[Issue], files: Sequence[str]) -> None:
    """Raise DesiredStateError with the issues in file order, then line order."""
    order = {name: i for i, name in enumerate(files)}
    issues.sort(key=lambda i: (order.get(i.file, -1), i.line or 0))
    raise DesiredStateError(issues)
