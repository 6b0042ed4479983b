"""Export: live state -> desired-state YAML that validates and plans to `No changes.`

It is the on-ramp for an existing org (like `octodns-dump`): run it once, commit the result,
then edit. Only managed fields are written; secrets are never among them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import yaml

from . import fields as F
from .baseline import findings
from .controls import CONTROLS
from .display import printable, show
from .model import LiveState


def _side_block(values: dict[str, Any], side: F.Side, skipped: list[str]) -> dict[str, Any]:
    block: dict[str, Any] = {}
    for spec in F.specs_of(side):
        value = values.get(spec.path)
        if value is None:
            continue
        if spec.kind == "enum" and value not in spec.choices:
            skipped.append(f"{spec.path} = {show(value)} (a value this version does not know)")
            continue
        if spec.kind == "url" and "\n" in value:
            value = [line for line in value.splitlines() if line.strip()]
        if "." in spec.key:
            parent, child = spec.key.split(".", 1)
            block.setdefault(parent, {})[child] = value
        else:
            block[spec.key] = value
    if side == "policies":
        if block.get("client_credentials") is False:
            block.pop("run_as", None)  # validation forbids run_as next to a disabled flow
        refresh = block.get("refresh_token", {})
        if refresh.get("policy", "").startswith("specific_") and not {"period", "unit"} <= set(
            refresh
        ):
            skipped.append("policies.refresh_token (period or unit missing in the org)")
            block.pop("refresh_token")
    return block


def export_yaml(live: LiveState, only: Collection[str] = ()) -> str:
    apps: dict[str, Any] = {}
    comments = []
    for name in sorted(live.apps):
        if only and name not in only:
            continue
        app = live.apps[name]
        values = app.values()
        skipped: list[str] = []
        body: dict[str, Any] = {}
        for side in ("settings", "policies"):
            if app.component(side) is not None:
                block = _side_block(values, side, skipped)
                if block:
                    body[side] = block
        if app.settings_unreadable:
            skipped.append("settings (the org does not return them)")
        apps[name] = body
        # Comments are raw YAML lines: a newline in an org name would inject YAML, so escape.
        comments += [f"# {printable(name)}: left unmanaged: {item}" for item in skipped]
    violations = [
        f"#   {printable(f.app)}: {f.control} {f.path} is {show(f.value)}"
        for name in apps
        for f in findings(name, live.apps[name].values(), CONTROLS, None)
    ]
    header = [
        f"# Exported by `reconciler export` from org {printable(live.org_id)}.",
        "# It records the org as it is, so the baseline is empty: choose controls under",
        "# `baseline:` and add justified, expiring `exceptions:` before enforcing them.",
    ]
    if violations:
        header.append("# Current violations of the available controls:")
        header += violations
    document = yaml.safe_dump(
        {"version": 1, "baseline": [], "apps": apps},
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    return "\n".join(header + comments) + "\n" + document
