"""Ready-to-paste settings for every login method, for `reconciler emulator`.

A running emulator is reached like a real org: with an access token (`--instance-url` and
SF_ACCESS_TOKEN), with JWT bearer (a key whose certificate is registered on an app, a
pre-authorized user), or with an SFDX auth URL (a refresh token the org knows). This module
makes the last two possible without editing the state by hand: it generates a key and a
certificate and registers the certificate on the JWT app, registers a refresh token in
`org.refresh_tokens`, writes the key and the auth URL to files beside the emulator's CA
certificate, and returns one block of shell lines per method.

Every credential here is the emulator's own test credential, valid only against this
emulator; they are printed on stdout for pasting and never logged.
"""

from __future__ import annotations

import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .certs import make_self_signed
from .rules import GLOBAL_TYPE
from .state import OrgState

#: The demo org's JWT app and a user its policy pre-authorizes (permission set
#: Billing_Integration).
JWT_APP = "Reporting_JWT"
JWT_USER = "billing.integration@acme.example"
#: The Salesforce CLI's own client id, which an SFDX auth URL from `sf` carries.
SFDX_CLIENT_ID = "PlatformCLI"
#: Marks the refresh token this module registered, so the next start replaces it.
REGISTERED_BY = "reconciler emulator"


@dataclass(frozen=True)
class LoginBlock:
    """One login method: a title, shell lines to paste, or why it is not offered."""

    title: str
    lines: tuple[str, ...] = ()
    unavailable: str = ""


def prepare_logins(
    state: OrgState, folder: Path, instance_url: str, ca_file: str, access_token: str
) -> list[LoginBlock]:
    """Register what JWT and SFDX-URL logins need in `state` (saved, if it has a file) and
    write their key and URL files into `folder`; one block per method."""
    ca = f"export REQUESTS_CA_BUNDLE={shlex.quote(ca_file)}"
    blocks = [
        LoginBlock(
            "Access token (--instance-url)",
            (
                f"export SF_ACCESS_TOKEN={shlex.quote(access_token)}",
                ca,
                f"reconciler plan --instance-url {shlex.quote(instance_url)}",
            ),
        ),
        _jwt_block(state, folder, instance_url, ca),
        _sfdx_block(state, folder, instance_url, ca),
    ]
    return blocks


def _jwt_block(state: OrgState, folder: Path, instance_url: str, ca: str) -> LoginBlock:
    title = "JWT bearer (--client-id, --username, --jwt-key-file, --login-url)"
    key_pem, cert_pem = make_self_signed("reconciler emulator JWT login")
    with state.transaction() as doc:
        settings = _settings_of(doc, JWT_APP)
        users = {str(u.get("Username", "")).lower() for u in doc["sobjects"].get("User", [])}
        if settings is None or JWT_USER not in users:
            return LoginBlock(title, unavailable=f"this org has no {JWT_APP} app or no {JWT_USER}")
        settings["certificate"] = cert_pem
        client_id = str(settings.get("consumerKey") or "")
    if not client_id:
        return LoginBlock(title, unavailable=f"{JWT_APP} has no consumer key")
    key_file = _private_file(folder / "jwt-login.key", key_pem)
    return LoginBlock(
        title,
        (
            ca,
            f"reconciler plan --client-id {shlex.quote(client_id)} --username {JWT_USER} "
            f"--jwt-key-file {shlex.quote(str(key_file))} "
            f"--login-url {shlex.quote(instance_url)}",
        ),
    )


def _sfdx_block(state: OrgState, folder: Path, instance_url: str, ca: str) -> LoginBlock:
    title = "SFDX auth URL (--sfdx-url-file)"
    token = "5Aep861" + secrets.token_hex(32)
    with state.transaction() as doc:
        users = [u for u in doc["sobjects"].get("User", []) if u.get("IsActive")]
        if not users:
            return LoginBlock(title, unavailable="this org has no active user")
        tokens: dict[str, Any] = doc["org"].setdefault("refresh_tokens", {})
        for old in [k for k, v in tokens.items() if isinstance(v, dict) and v.get("by")]:
            if tokens[old].get("by") == REGISTERED_BY:
                del tokens[old]
        username = str(users[0]["Username"])
        tokens[token] = {"username": username, "client_id": SFDX_CLIENT_ID, "by": REGISTERED_BY}
    host = instance_url.removeprefix("https://")
    url_file = _private_file(
        folder / "sfdx-auth-url.txt", f"force://{SFDX_CLIENT_ID}::{token}@{host}\n"
    )
    return LoginBlock(title, (ca, f"reconciler plan --sfdx-url-file {shlex.quote(str(url_file))}"))


def _settings_of(doc: dict[str, Any], app: str) -> dict[str, Any] | None:
    for fields in doc["metadata"].get(GLOBAL_TYPE, {}).values():
        if fields.get("externalClientApplication") == app:
            return fields  # type: ignore[no-any-return]
    return None


def _private_file(path: Path, text: str) -> Path:
    """A file only its owner can read (it holds a credential)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path.resolve()


def render_blocks(blocks: list[LoginBlock]) -> str:
    """The blocks as printed: a title line, then the lines to paste, indented."""
    out = ["Log in from another shell, any of these ways (each block pastes as it is):"]
    for block in blocks:
        out.append(f"# {block.title}")
        if block.unavailable:
            out.append(f"#   not offered: {block.unavailable}")
        out += [f"  {line}" for line in block.lines]
    return "".join(line + "\n" for line in out)
