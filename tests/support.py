"""Helpers shared by the end-to-end suites: org state files and the in-process CLI.

Tests prepare an org by writing the emulator's state JSON (the demo org, optionally mutated),
drive the CLI with `-o emulator:<file>`, and read the file back to see what the org now holds.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from reconciler.cli import main
from reconciler.emulator.clones import add_clones  # noqa: F401 - re-exported to tests
from reconciler.emulator.demo_org import build_demo_org

REPO = Path(__file__).resolve().parents[1]
SETTINGS = "ExtlClntAppGlobalOauthSettings"
POLICIES = "ExtlClntAppOauthConfigurablePolicies"


@cache
def _base_doc() -> dict[str, Any]:
    return build_demo_org()  # built once per session: key generation is not free


def demo_doc() -> dict[str, Any]:
    """A fresh copy of the demo org document."""
    return copy.deepcopy(_base_doc())


def components_of(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """App -> (settings fullName, policies fullName), matched by externalClientApplication."""
    out: dict[str, list[str]] = {}
    for i, type_name in enumerate((SETTINGS, POLICIES)):
        for full_name, fields in doc["metadata"][type_name].items():
            out.setdefault(fields["externalClientApplication"], ["", ""])[i] = full_name
    return {app: (pair[0], pair[1]) for app, pair in out.items()}


def settings_of(doc: dict[str, Any], app: str) -> dict[str, Any]:
    return doc["metadata"][SETTINGS][components_of(doc)[app][0]]


def policies_of(doc: dict[str, Any], app: str) -> dict[str, Any]:
    return doc["metadata"][POLICIES][components_of(doc)[app][1]]


class Org:
    """One emulator state file on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = f"emulator:{path}"

    def load(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8"))

    def save(self, doc: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")

    def mutate(self, fn: Callable[[dict[str, Any]], None]) -> None:
        doc = self.load()
        fn(doc)
        self.save(doc)

    def settings(self, app: str) -> dict[str, Any]:
        return settings_of(self.load(), app)

    def policies(self, app: str) -> dict[str, Any]:
        return policies_of(self.load(), app)

    def bytes(self) -> bytes:
        return self.path.read_bytes()


def org_factory(directory: Path) -> Callable[..., Org]:
    """`make(mutate=None, doc=None, name="org.json")` writes an org state file into directory."""

    def make(
        mutate: Callable[[dict[str, Any]], None] | None = None,
        doc: dict[str, Any] | None = None,
        name: str = "org.json",
    ) -> Org:
        doc = doc if doc is not None else demo_doc()
        if mutate is not None:
            mutate(doc)
        org = Org(directory / name)
        org.save(doc)
        return org

    return make


def yaml_writer(directory: Path) -> Callable[..., Path]:
    """`write(text, name="apps.yaml", folder="desired")` writes one YAML file; returns its path."""

    def write(text: str, name: str = "apps.yaml", folder: str = "desired") -> Path:
        path = directory / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


def run(*args: Any, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Invoke the CLI in-process; unexpected exceptions propagate to the test."""
    return CliRunner().invoke(
        main, [str(a) for a in args], input=input, env=env, catch_exceptions=False
    )
