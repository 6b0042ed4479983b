"""The baseline engine: judge values against the selected controls, honouring exceptions.

Three questions, one engine:
- offline (validate, and every load): does the *declared* state break a control without a valid
  exception? Is an exception expired, expiring soon, or pointless?
- planning: which fields must be set so that the *resulting* org complies? (`remedies`: only
  fields the user did not declare, and only where the live value violates, so a compliant
  value the user chose is never overwritten by the remedy's own choice)
- auditing: which live values violate, and which of those are accepted by an exception?
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from . import fields as F
from .controls import BY_ID, Control
from .desired_model import BaselineConfig, DesiredApp, DesiredState, ExceptionEntry
from .display import cut
from .errors import Issue
from .model import Finding
from .yaml_source import SHOWN_CHARS


def selected(config: BaselineConfig) -> list[Control]:
    return [BY_ID[c] for c in config.controls]


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _own(control: Control, app: str) -> set[str]:
    """The control's paths that apply to this kind of app (ECA sides, or a Connected App's)."""
    connected = F.is_connected(app)
    return {p for p in control.paths() if p.startswith("connected.") == connected}


def check_desired(state: DesiredState, today: date) -> tuple[list[Issue], list[Issue]]:
    """(errors, warnings) for the declared state alone; no org needed."""
    errors: list[Issue] = []
    warnings: list[Issue] = []
    controls = selected(state.baseline)
    for app in state.apps.values():
        where = F.yaml_path(app.name, "exceptions")
        for exc in app.exceptions:
            days = (exc.expires - today).days
            if days < 0:
                errors.append(
                    Issue(
                        exc.file,
                        exc.line,
                        where,
                        f"exception for {exc.control} expired on {exc.expires}; "
                        "renew it with a fresh justification or comply",
                    )
                )
            elif days <= state.baseline.exception_warning_days:
                warnings.append(
                    Issue(
                        exc.file,
                        exc.line,
                        where,
                        f"exception for {exc.control} expires in {days} day(s) "
                        f"({exc.expires}); owner {cut(exc.owner, SHOWN_CHARS)}",
                    )
                )
            if exc.control not in state.baseline.controls:
                warnings.append(
                    Issue(
                        exc.file,
                        exc.line,
                        where,
                        f"exception for {exc.control} is not needed: that control "
                        "is not in the baseline",
                    )
                )
        for control in controls:
            broken = control.violations(app.values)
            held = app.exception_for(control.id)
            if broken and held is None:
                first = broken[0]
                errors.append(
                    Issue(
                        *app.where(first.path),
                        F.yaml_path(app.name, first.path),
                        f"violates {control.id} ({control.title}): "
                        f"{first.path} is {_show(app.values[first.path])}. Comply, or "
                        "add an exception with control, justification, owner, "
                        "expires",
                    )
                )
            elif held is not None and not broken and _own(control, app.name) <= set(app.values):
                warnings.append(
                    Issue(
                        held.file,
                        held.line,
                        F.yaml_path(app.name, "exceptions"),
                        f"exception for {control.id} is not needed: the declared values comply",
                    )
                )
    return errors, warnings


def remedies(
    declared: Mapping[str, Any],
    live: Mapping[str, Any],
    controls: Iterable[Control],
    exempt: Iterable[str] = (),
) -> dict[str, tuple[Any, str]]:
    """{path: (value, control id)} to add to the desired values so the result complies."""
    exempt = set(exempt)
    out: dict[str, tuple[Any, str]] = {}
    for control in controls:
        if control.id in exempt:
            continue
        for req in control.requirements:
            if req.path in declared or not req.violated_by(live):
                continue
            for path, value in req.remedy.items():
                if path not in declared and path not in out:
                    out[path] = (value, control.id)
    return out


def findings(
    app: str,
    values: Mapping[str, Any],
    controls: Iterable[Control],
    desired: DesiredApp | None,
) -> list[Finding]:
    """Every violated requirement of `values`, marked accepted where an exception covers it."""
    out = []
    for control in controls:
        exc: ExceptionEntry | None = desired.exception_for(control.id) if desired else None
        for req in control.violations(values):
            out.append(
                Finding(
                    app=app,
                    control=control.id,
                    path=req.path,
                    value=values.get(req.path),
                    listed=desired is not None,
                    exception=None if exc is None else exc.evidence(),
                    file=desired.where(req.path)[0] if desired else None,
                    line=desired.where(req.path)[1] if desired else None,
                )
            )
    return out
