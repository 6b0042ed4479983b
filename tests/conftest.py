"""Fixtures every suite may use; the helpers behind them are in tests/support.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import Org, org_factory, yaml_writer


@pytest.fixture(scope="session", autouse=True)
def session_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """RECONCILER_DIR for module- and session-scoped fixtures, which run before the per-test
    `own_state_dir` below: without it their applies kept backups and org locks in the
    repository's own .reconciler/, shared with every other run of the suite (pytest-xdist
    workers included), so one run's lock refused another's apply."""
    folder = tmp_path_factory.mktemp("session-state") / ".reconciler"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECONCILER_DIR", str(folder))
        yield folder


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
