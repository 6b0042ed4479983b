"""Offline validation of the desired state: every rejection names file, line and key."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from reconciler import fields as F
from reconciler.desired_state import load_desired
from reconciler.errors import DesiredStateError

TODAY = date(2026, 11, 29)


def write(tmp_path: Path, text: str, name: str = "apps.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def issues(path: Path) -> list[str]:
    with pytest.raises(DesiredStateError) as exc:
        load_desired(path, today=TODAY)
    return [str(i) for i in exc.value.issues]


def test_shipped_desired_state_is_valid():
    state = load_desired(Path(__file__).parents[2] / "desired", today=TODAY)
    assert "Billing_Sync" in state.apps
    assert state.baseline.controls[0] == "ECA-OAUTH-001"


def test_defaults_merge_under_apps_and_app_wins(tmp_path):
    path = write(
        tmp_path,
        """
        version: 1
        defaults:
          policies: {ip_relaxation: enforce, client_credentials: false}
        apps:
          A:
            policies: {ip_relaxation: enforce_relax_refresh}
        """,
    )
    app = load_desired(path, today=TODAY).apps["A"]
    assert app.values == {
        "policies.ip_relaxation": "enforce_relax_refresh",
        "policies.client_credentials": False,
    }


def test_near_miss_key_gets_suggestion_with_line(tmp_path):
    path = write(
        tmp_path, "version: 1\napps:\n  A:\n    settings:\n      client_credential: false\n"
    )
    (problem,) = issues(path)
    assert problem.startswith(f"{path}:5: apps.A.settings.client_credential: unknown key")
    assert "did you mean 'client_credentials'?" in problem


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("settings: {device: 'yes'}", "invalid value 'yes'; allowed: true or false"),
        ("policies: {permitted_users: everyone}", "admin_approved | all_self_authorized"),
        ("policies: {session_timeout_minutes: -5}", "a whole number from 0 to 2147483647"),
        (
            "policies: {session_timeout_minutes: 2147483648}",
            "invalid value 2147483648; allowed: a whole number from 0 to 2147483647",
        ),
        ("policies: {refresh_token: {policy: zero, period: true}}", "from 0 to 2147483647"),
        ("policies: {session_timeout_minutes: 2147483647}", None),
        ("policies: {profiles: 'Standard User'}", "a list of names"),
        ("settings: {consumer_secret: x}", "can never be declared"),
        ("settings: {certificate: x}", "can never be declared"),
        ("policies: {client_credentials: false, run_as: u@x.example}", "run_as is set while"),
        ("policies: {refresh_token: {policy: zero, period: 3}}", None),
        ("policies: {refresh_token: {policy: specific_lifetime}}", "required when"),
    ],
)
def test_bad_values_are_rejected(tmp_path, snippet, expected):
    path = write(tmp_path, f"version: 1\napps:\n  A:\n    {snippet}\n")
    if expected is None:
        load_desired(path, today=TODAY)
        return
    found = issues(path)
    assert any(expected in p and f"{path}:4" in p for p in found), found


def test_run_as_with_flow_off_from_defaults(tmp_path):
    path = write(
        tmp_path,
        """
        version: 1
        defaults: {policies: {client_credentials: false}}
        apps:
          A: {policies: {run_as: u@x.example}}
        """,
    )
    assert any("run_as is set while" in p for p in issues(path))


def test_same_app_in_two_files_names_both(tmp_path):
    first = write(tmp_path, "version: 1\napps:\n  A: {}\n", "a.yaml")
    second = write(tmp_path, "version: 1\napps:\n  A: {}\n", "b.yml")
    (problem,) = issues(tmp_path)
    assert str(second) in problem and f"also in {first}:3" in problem


def test_yaml_syntax_error_has_line(tmp_path):
    path = write(tmp_path, "version: 1\napps:\n  A: [\n")
    (problem,) = issues(path)
    assert "YAML syntax error" in problem and f"{path}:" in problem


def test_duplicate_key_in_one_mapping(tmp_path):
    path = write(tmp_path, "version: 1\napps:\n  A: {}\n  A: {}\n")
    (problem,) = issues(path)
    assert "duplicate key (first defined on line 3)" in problem


def test_unsupported_version_and_missing_apps(tmp_path):
    found = issues(write(tmp_path, "version: 2\n"))
    assert any("unsupported version 2" in p for p in found)
    assert any("apps: missing" in p for p in found)


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(
        tmp_path,
        "version: 1\napps:\n  A:\n    settings: {devic: true}\n"
        "  B:\n    policies: {ip_relaxation: x}\n",
    )
    assert len(issues(path)) == 2


def test_readme_documents_every_field():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for spec in F.CATALOGUE:
        assert f"| `{spec.side}` | `{spec.key}` | `{spec.wire}` |" in readme, spec.path
