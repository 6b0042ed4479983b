"""Fixtures every suite may use; the helpers behind them are in tests/support.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Org, org_factory, yaml_writer


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps apply's backups and org locks in its own folder (RECONCILER_DIR): the
    demo orgs all share one org id, so a shared lock would make parallel runs collide."""
    folder = tmp_path / ".reconciler"
    monkeypatch.setenv("RECONCILER_DIR", str(folder))
    return folder


@pytest.fixture
def make_org(tmp_path: Path) -> Callable[..., Org]:
    """`make_org(mutate=None, doc=None, name="org.json")` writes an org state file."""
    return org_factory(tmp_path)


@pytest.fixture
def org(make_org: Callable[..., Org]) -> Org:
    """The unmodified demo org."""
    return make_org()


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """`write_yaml(text, name="apps.yaml", folder="desired")` writes one YAML file."""
    return yaml_writer(tmp_path)
