"""Security-baseline fixtures: the real CLI against the real HTTPS org emulator, no mocks.

Each test writes an org state file (the demo org, optionally mutated) and a desired-state YAML
into its tmp_path, drives `reconciler.cli.main` with CliRunner and `-o emulator:<file>`, and
inspects output, exit codes and the state file afterwards.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.support import (  # noqa: F401 - re-exported to the security tests
    POLICIES,
    REPO,
    SETTINGS,
    Org,
    components_of,
    demo_doc,
    org_factory,
    policies_of,
    run,
    settings_of,
    yaml_writer,
)

SARIF_SCHEMA = REPO / "tests" / "fixtures" / "sarif-schema-2.1.0.json"
ORG_ID = "00D000000000001EAA"

#: App -> (settings fullName, policies fullName) in the demo org.
COMPONENTS = components_of(demo_doc())
ALL_APPS = sorted(COMPONENTS)

TODAY = dt.date.today()
VALID = (TODAY + dt.timedelta(days=200)).isoformat()
SOON = (TODAY + dt.timedelta(days=10)).isoformat()
EXPIRED = (TODAY - dt.timedelta(days=1)).isoformat()


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from tmp_path so `audit` never picks up the repository's own desired/ folder."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("RECONCILER_EVIDENCE_DIR", raising=False)
    monkeypatch.delenv("SF_ACCESS_TOKEN", raising=False)


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
