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
    return _document(header + comments, apps)


def _document(comments: list[str], apps: dict[str, Any]) -> str:
    """The comment lines, then a desired-state document with an empty baseline."""
    document = yaml.safe_dump(
        {"version": 1, "baseline": [], "apps": apps},
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    return "\n".join(comments) + "\n" + document


# -- export --as-eca: a way off Connected Apps (issue 18) ----------------------------------------

#: Connected App key -> the ECA field path with the same meaning. A Connected App has one
#: client-credentials switch; an ECA has two (eca doc §6), so it sets both. `admin_approved`
#: is left out: the reference does not say what oauthConfig.isAdminApproved does, so mapping
#: it to permitted_users would be a guess.
AS_ECA: dict[str, tuple[str, ...]] = {
    "client_credentials": ("settings.client_credentials", "policies.client_credentials"),
    "run_as": ("policies.run_as",),
    "code_credentials": ("settings.code_credentials",),
    "code_credentials_post_only": ("settings.code_credentials_post_only",),
    "token_exchange": ("settings.token_exchange",),
    "token_exchange_policy": ("policies.token_exchange",),
    "jwt_access_tokens": ("settings.jwt_access_tokens",),
    "pkce_required": ("settings.pkce_required",),
    "consumer_secret_optional": ("settings.consumer_secret_optional",),
    "refresh_token_rotation": ("settings.refresh_token_rotation",),
    "secret_required_for_refresh_token": ("settings.secret_required_for_refresh_token",),
    "secret_required_for_token_exchange": ("settings.secret_required_for_token_exchange",),
    "introspect_all_tokens": ("settings.introspect_all_tokens",),
    "callback_url": ("settings.callback_url",),
}


def _choice(path: str, raw: Any) -> str | None:
    """The ECA enum key whose name or wire value equals a Connected App string, folded
    (`ENFORCE` -> `enforce`); None when none does (the spelling is then not guessed)."""
    spec = F.BY_PATH[path]
    folded = str(raw).casefold()
    for key, wire in spec.choices.items():
        if folded in (key.casefold(), wire.casefold()):
            return key
    return None


def _refresh_policy(raw: Any) -> dict[str, Any] | None:
    """`specific_inactivity:30:DAYS` (the reference's example, §15) or a bare policy name as
    an ECA `refresh_token` block; None when the string does not read that way."""
    parts = str(raw).split(":")
    policy = _choice("policies.refresh_token.policy", parts[0])
    if policy is None:
        return None
    if len(parts) == 1:
        return {"policy": policy}
    unit = _choice("policies.refresh_token.unit", parts[2]) if len(parts) == 3 else None
    if unit is None or not parts[1].isdigit():
        return None
    return {"policy": policy, "period": int(parts[1]), "unit": unit}


def as_eca_values(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A Connected App's live values as ECA `settings:`/`policies:` blocks keeping its OAuth
    flows as they are, and what could not be carried over (said, never guessed)."""
    out: dict[str, dict[str, Any]] = {"settings": {}, "policies": {}}
    skipped: list[str] = []
    for key, targets in AS_ECA.items():
        value = values.get(f"connected.{key}")
        if value is None:
            continue
        if key == "callback_url" and "\n" in str(value):
            value = [line for line in str(value).splitlines() if line.strip()]
        for path in targets:
            side, field_key = path.split(".", 1)
            out[side][field_key] = value
    ip = values.get("connected.ip_relaxation")
    if ip is not None:
        choice = _choice("policies.ip_relaxation", ip)
        if choice is None:
            skipped.append(f"ip_relaxation = {show(ip)} (no ECA value reads the same)")
        else:
            out["policies"]["ip_relaxation"] = choice
    refresh = values.get("connected.refresh_token")
    if refresh is not None:
        block = _refresh_policy(refresh)
        if block is None:
            skipped.append(f"refresh_token = {show(refresh)} (no ECA policy reads the same)")
        else:
            out["policies"]["refresh_token"] = block
    if out["policies"].get("client_credentials") is False:
        out["policies"].pop("run_as", None)  # validation forbids run_as next to a disabled flow
    return {side: block for side, block in out.items() if block}, skipped


def connected_apps(live: LiveState, only: Collection[str] = ()) -> list[tuple[str, str]]:
    """(API name, live key) of each Connected App `--app` keeps (by API name or key)."""
    return [
        (F.bare_name(key), key)
        for key in sorted(k for k in live.apps if F.is_connected(k))
        if not only or F.bare_name(key) in only or key in only
    ]


def export_as_eca_yaml(live: LiveState, only: Collection[str] = ()) -> str:
    """For each Connected App, the ECA desired state that keeps its OAuth flows as they are
    today, under the Connected App's API name: the plan of a move, to review and apply once
    the ECAs exist. Secrets are not among the fields; the new ECA gets its own credentials."""
    apps: dict[str, Any] = {}
    comments: list[str] = []
    for name, key in connected_apps(live, only):
        body, skipped = as_eca_values(live.apps[key].values())
        apps[name] = body
        comments += [f"# {printable(name)}: not carried over: {item}" for item in skipped]
    header = [
        f"# Exported by `reconciler export --as-eca` from org {printable(live.org_id)}: the",
        "# External Client App desired state that keeps each Connected App's OAuth flows as",
        "# they are today. Create the ECAs, then plan this file against the org to review the",
        "# move; the ECAs get new consumer credentials (secrets are never exported).",
    ]
    return _document(header + comments, apps)
