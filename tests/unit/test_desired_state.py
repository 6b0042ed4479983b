"""Offline validation of the desired state: every rejection names file, line and key."""

from __future__ import annotations

import ast
import gc
import os
import textwrap
import threading
from datetime import date
from pathlib import Path

import pytest
import yaml

from reconciler import fields as F
from reconciler import yaml_source
from reconciler.errors import DesiredStateError
from reconciler.operations import load_desired
from reconciler.yaml_source import shorten

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


NEAR_MISS = "version: 1\napps:\n  A:\n    settings:\n      client_credential: false\n"
UNSUPPORTED_VERSION_NO_APPS = "version: 2\n"
TWO_PROBLEMS = (
    "version: 1\napps:\n  A:\n    settings: {devic: true}\n  B:\n    policies: {ip_relaxation: x}\n"
)


def test_near_miss_key_gets_suggestion_with_line(tmp_path):
    path = write(tmp_path, NEAR_MISS)
    (problem,) = issues(path)
    assert problem.startswith(f"{path}:5: apps.A.settings.client_credential: unknown key")
    assert "did you mean 'client_credentials'?" in problem


#: (snippet under `apps: A:`, what the validator says; None: valid). tests/unit/test_schema.py
#: checks the JSON Schema against the same cases.
BAD_VALUES = [
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
]


@pytest.mark.parametrize(("snippet", "expected"), BAD_VALUES)
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
    found = issues(write(tmp_path, UNSUPPORTED_VERSION_NO_APPS))
    assert any("unsupported version 2" in p for p in found)
    assert any("apps: missing" in p for p in found)


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, TWO_PROBLEMS)
    assert len(issues(path)) == 2


def test_the_docs_document_every_field():
    page = (Path(__file__).parents[2] / "docs" / "desired-state.md").read_text()
    for spec in F.CATALOGUE:
        assert f"| `{spec.side}` | `{spec.key}` | `{spec.wire}` |" in page, spec.path


# -- input limits (issue 6, point 6) -----------------------------------------------------------


def nested_profiles(levels: int) -> str:
    """An app whose profiles value is `levels` nested lists: document depth is 4 + levels."""
    return "version: 1\napps:\n  A:\n    policies:\n      profiles: " + (
        "[" * levels + "a" + "]" * levels + "\n"
    )


def test_nesting_up_to_the_limit_is_parsed_one_more_is_refused(tmp_path):
    at_limit = issues(write(tmp_path, nested_profiles(60), "at.yaml"))
    assert not any("nested more than" in p for p in at_limit), at_limit
    assert any("invalid value [[[" in p for p in at_limit), at_limit
    path = write(tmp_path, nested_profiles(61), "over.yaml")
    assert issues(path) == [f"{path}:5: nested more than 64 levels deep (the limit)"]


#: Nodes, keys included: mapping 1, version 2, x 1+4, y 1+(1+4+4): 18.
ALIASES = "version: 1\nx: &x [1, 2, 3]\ny: [*x, *x]\n"


def test_aliases_count_at_their_expanded_size(tmp_path, monkeypatch):
    path = write(tmp_path, ALIASES)
    monkeypatch.setattr(yaml_source, "MAX_NODES", 18)
    assert not any("expands" in p for p in issues(path))
    monkeypatch.setattr(yaml_source, "MAX_NODES", 17)
    assert issues(path) == [
        f"{path}:3: the document expands to more than 17 YAML nodes, aliases included "
        "(at alias *x); that is the limit for one file"
    ]


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "version: 1\napps:\n  A:\n    policies:\n      profiles: &r [a, *r]\n")
    assert issues(path) == [
        f"{path}:5: alias *r refers to a node that contains it; recursive data is not allowed"
    ]


def test_size_limit_is_exact(tmp_path):
    head = "version: 1\napps:\n  A: {}\n"
    pad = yaml_source.MAX_FILE_BYTES - len(head) - 1
    ok = write(tmp_path, head + "#" * pad + "\n", "ok.yaml")
    assert ok.stat().st_size == yaml_source.MAX_FILE_BYTES
    assert list(load_desired(ok, today=TODAY).apps) == ["A"]
    over = write(tmp_path, head + "#" * (pad + 1) + "\n", "over.yaml")
    assert issues(over) == [f"{over}: 5.0 MB is over the 5 MB limit for one desired-state file"]


def test_fifo_named_yaml_is_an_issue_not_a_skip(tmp_path):
    write(tmp_path, "version: 1\napps:\n  A: {}\n")
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert issues(tmp_path) == [f"{fifo}: cannot read: not a regular file"]


def test_bad_timestamp_outside_a_mapping_is_an_issue(tmp_path):
    path = write(tmp_path, "- 2027-02-30\n")
    (problem,) = issues(path)
    assert problem.startswith(f"{path}: invalid value: day is out of range")


def test_shorten_stops_early_even_on_self_containing_values():
    looped: list = ["a"]
    looped.append(looped)
    assert shorten(looped, 20) == "['a', ['a', ['a', ['…"
    assert shorten(list(range(10**6)), 10) == "[0, 1, 2, …"
    assert shorten("yes") == "'yes'"
    assert shorten("y" * 500) == "'" + "y" * 79 + "…"


def test_garbage_collector_is_back_on_after_loading(tmp_path):
    load_desired(write(tmp_path, "version: 1\napps:\n  A: {}\n", "ok.yaml"), today=TODAY)
    assert gc.isenabled()
    issues(write(tmp_path, "version: 1\napps: [\n", "bad.yaml"))
    assert gc.isenabled()


LOCATED = """\
version: 1
apps:
  A:
    policies:
      run_as: u@x.example
      profiles: [P]
  B: {}
  B: {}
"""


@pytest.mark.parametrize("loader", yaml_source._LOADERS, ids=lambda pair: pair[0].__name__)
def test_every_loader_locates_keys_and_duplicates(loader, monkeypatch):
    """The C loader (when PyYAML has libyaml) must locate keys exactly as the Python one."""
    monkeypatch.setattr(yaml_source, "_LOADERS", [loader])
    data, found = yaml_source.parse_yaml(LOCATED, "apps.yaml")
    policies = data["apps"]["A"]["policies"]
    assert (data.line_of("apps"), data["apps"].line_of("A"), policies.line) == (2, 3, 5)
    assert (policies.line_of("run_as"), policies.line_of("profiles")) == (5, 6)
    assert [str(i) for i in found] == ["apps.yaml:8: B: duplicate key (first defined on line 7)"]


@pytest.mark.parametrize("loader", yaml_source._LOADERS, ids=lambda pair: pair[0].__name__)
def test_syntax_errors_read_the_same_with_every_loader(loader, monkeypatch):
    monkeypatch.setattr(yaml_source, "_LOADERS", [loader, yaml_source._LOADERS[-1]])
    _, found = yaml_source.parse_yaml("a:\n  b: c: d\n", "apps.yaml")
    assert [str(i) for i in found] == [
        "apps.yaml:2: YAML syntax error: mapping values are not allowed here"
    ]


def test_c_loader_is_used_when_available():
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without libyaml")
    assert yaml_source._LOADERS[0][0] is yaml.CSafeLoader


def _imports(module: str) -> set[str]:
    """Modules of the package that `module` imports, at any depth of its code (lazy ones too)."""
    tree = ast.parse((Path(__file__).parents[2] / "reconciler" / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_desired_state_only_loads_and_baseline_does_not_import_it():
    """Loading applies no policy: the baseline check is the operations layer's call."""
    assert "baseline" not in _imports("desired_state")
    for lower in ("baseline", "desired_model", "yaml_source"):
        assert "desired_state" not in _imports(lower), lower
    assert "baseline" not in _imports("desired_model")


def test_long_owner_is_cut_in_the_expiry_warning(tmp_path):
    owner = "o" * 5000
    path = write(
        tmp_path,
        "version: 1\napps:\n  A:\n    settings: {client_credentials: true}\n"
        "    policies: {client_credentials: true}\n    exceptions:\n"
        f"      - {{control: ECA-OAUTH-001, justification: j, owner: {owner},"
        " expires: 2026-12-01}\n",
    )
    (warning,) = load_desired(path, today=TODAY).warnings
    assert warning.message.endswith(f"owner {'o' * 80}…")


def test_fifo_given_as_the_desired_path_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    found: list[list[str]] = []
    # Opening a FIFO for reading waits for a writer: run it aside, so a regression fails the
    # test instead of hanging the suite.
    worker = threading.Thread(target=lambda: found.append(issues(fifo)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert found == [[f"{fifo}: cannot read: not a regular file"]]
