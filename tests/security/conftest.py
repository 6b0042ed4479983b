"""Security-baseline fixtures: the real CLI against the real HTTPS org emulator, no mocks.

Each test writes an org state file (the demo org, optionally mutated) and a desired-state YAML
into its tmp_path, drives `reconciler.cli.main` with CliRunner and `-o emulator:<file>`, and
inspects output, exit codes and the state file afterwards.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.cli import main
from reconciler.emulator.demo_org import build_demo_org

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / "tests" / "fixtures" / "sarif-schema-2.1.0.json"
ORG_ID = "00D000000000001EAA"

SETTINGS = "ExtlClntAppGlobalOauthSettings"
POLICIES = "ExtlClntAppOauthConfigurablePolicies"

#: App -> (settings fullName, policies fullName) in the demo org.
COMPONENTS = {
    "Billing_Sync": ("Billing_Sync_glbloauth", "Billing_Sync_oauthPlcy"),
    "Data_Warehouse_ETL": (
        "Data_Warehouse_ETLGlblOAuth",
        "Data_Warehouse_ETL_oauth_defaultPolicy",
    ),
    "Mobile_Field_Service": ("Mobile_Field_Service_glbloauth", "Mobile_Field_Service_oauthPlcy"),
    "Partner_Portal": ("Partner_PortalGlblOAuth", "Partner_Portal_oauthPlcy"),
    "Reporting_JWT": ("Reporting_JWT_glbloauth", "Reporting_JWT_defaultPolicy"),
    "Legacy_Importer": ("Legacy_Importer_glbloauth", "Legacy_Importer_oauthPlcy"),
    "Marketing_Events": ("Marketing_EventsGlblOAuth", "Marketing_Events_oauthPlcy"),
    "Ledger_Export": ("Ledger_Export_glbloauth", "Ledger_Export_oauthPlcy"),
    "Support_Exporter": ("Support_ExporterGlblOAuth", "Support_Exporter_oauthPlcy"),
    "Old_Payroll_Feed": ("Old_Payroll_Feed_glbloauth", "Old_Payroll_Feed_oauthPlcy"),
}
ALL_APPS = sorted(COMPONENTS)

TODAY = dt.date.today()
VALID = (TODAY + dt.timedelta(days=200)).isoformat()
SOON = (TODAY + dt.timedelta(days=10)).isoformat()
EXPIRED = (TODAY - dt.timedelta(days=1)).isoformat()

_BASE_DOC: dict[str, Any] | None = None


def demo_doc() -> dict[str, Any]:
    """A fresh copy of the demo org document (built once per session: keygen is not free)."""
    global _BASE_DOC
    if _BASE_DOC is None:
        _BASE_DOC = build_demo_org()
    return copy.deepcopy(_BASE_DOC)


def settings_of(doc: dict[str, Any], app: str) -> dict[str, Any]:
    return doc["metadata"][SETTINGS][COMPONENTS[app][0]]


def policies_of(doc: dict[str, Any], app: str) -> dict[str, Any]:
    return doc["metadata"][POLICIES][COMPONENTS[app][1]]


class Org:
    """One emulator state file on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = f"emulator:{path}"

    def load(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8"))

    def save(self, doc: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")

    def settings(self, app: str) -> dict[str, Any]:
        return settings_of(self.load(), app)

    def policies(self, app: str) -> dict[str, Any]:
        return policies_of(self.load(), app)

    def bytes(self) -> bytes:
        return self.path.read_bytes()


@pytest.fixture
def make_org(tmp_path: Path) -> Callable[..., Org]:
    """`make_org(mutate=None, doc=None, name="org.json")` writes an org state file."""

    def make(
        mutate: Callable[[dict[str, Any]], None] | None = None,
        doc: dict[str, Any] | None = None,
        name: str = "org.json",
    ) -> Org:
        doc = doc if doc is not None else demo_doc()
        if mutate is not None:
            mutate(doc)
        org = Org(tmp_path / name)
        org.save(doc)
        return org

    return make


@pytest.fixture
def org(make_org: Callable[..., Org]) -> Org:
    """The unmodified demo org."""
    return make_org()


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """`write_yaml(text, name="apps.yaml")` writes one desired-state file; returns its path."""

    def write(text: str, name: str = "apps.yaml") -> Path:
        path = tmp_path / "desired" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from tmp_path so `audit` never picks up the repository's own desired/ folder."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("RECONCILER_EVIDENCE_DIR", raising=False)
    monkeypatch.delenv("SF_ACCESS_TOKEN", raising=False)


def run(*args: Any, input: str | None = None) -> Result:
    """Invoke the CLI in-process; unexpected exceptions propagate to the test."""
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def line_of(path: Path, needle: str, after: str | None = None) -> int:
    """1-based line number of the first line containing `needle` (after the `after` line)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 0
    if after is not None:
        start = next(i for i, text in enumerate(lines) if after in text) + 1
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i + 1
    raise AssertionError(f"{needle!r} not in {path}")


def exception_yaml(
    control: str,
    expires: str = VALID,
    justification: str | None = "needed by the nightly job",
    owner: str | None = "team@acme.example",
    ticket: str | None = "SEC-1",
    indent: int = 4,
) -> str:
    """One `exceptions:` block for an app body (indented for `apps: {App: ...}`)."""
    pad = " " * indent
    lines = [f"{pad}exceptions:", f"{pad}  - control: {control}"]
    if justification is not None:
        lines.append(f"{pad}    justification: {justification}")
    if owner is not None:
        lines.append(f"{pad}    owner: {owner}")
    if ticket is not None:
        lines.append(f"{pad}    ticket: {ticket}")
    if expires is not None:
        lines.append(f"{pad}    expires: {expires}")
    return "\n".join(lines) + "\n"
