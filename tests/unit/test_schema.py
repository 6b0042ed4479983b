"""The JSON Schema of the desired-state YAML (reconciler/schema.py) agrees with the validator.

The schema is generated from the field catalogue, so these tests hold it to what `validate`
does: every shipped YAML meets it and names it; every bad-input case of the validator's own tests
(tests/unit/test_desired_state.py, and the single-file cases of tests/e2e/test_bad_input.py)
that one file's schema can express is rejected by it, at the key the validator names; and for
every catalogue field, the schema accepts a value exactly when the validator does.
"""

from __future__ import annotations

import re
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from reconciler import fields as F
from reconciler.cli import main
from reconciler.errors import DesiredStateError
from reconciler.operations import load_desired
from reconciler.schema import desired_schema, schema_text
from tests.e2e.test_bad_input import BAD_YAML
from tests.unit import test_desired_state as cases

REPO = Path(__file__).parents[2]
SCHEMA_FILE = REPO / "schema" / "desired.schema.json"
SHIPPED = sorted(
    [*REPO.glob("desired/**/*.yaml"), *REPO.glob("desired/**/*.yml")]
    + [*REPO.glob("examples/**/*.yaml")]
)
TODAY = date(2026, 11, 29)
#: Validator messages of rules one file's schema cannot state: they span fields that another
#: -d layer (or `defaults:`) may supply, or span files. `reconciler validate` checks them.
NOT_PER_FILE = ("run_as is set while", "required when", "declared twice")
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")

CHECK = Draft202012Validator(desired_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def as_json(value: Any) -> Any:
    """YAML data as an editor's YAML server sees it: timestamps are text, keys are text."""
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def schema_errors(data: Any) -> list[str]:
    """Each schema error as the key path it is located at, spelled like the validator's keys
    (`apps.A.exceptions[0].control`)."""
    located = []
    for error in CHECK.iter_errors(as_json(data)):
        key = ""
        for part in error.absolute_path:
            key += f"[{part}]" if isinstance(part, int) else f".{part}"
        located.append(key.lstrip("."))
    return located


def validator_issues(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    folder = tmp_path / "desired"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    try:
        load_desired(folder, today=TODAY)
    except DesiredStateError as exc:
        return [(issue.key, issue.message) for issue in exc.issues]
    return []


def assert_agree(tmp_path: Path, files: dict[str, str]) -> tuple[list, list[str]]:
    """The schema rejects every file the validator rejects for a per-file reason, locating an
    error at the key the validator names or at its parent (where an unknown or missing key is
    reported), and accepts every file the validator accepts or rejects for a cross-layer rule."""
    issues = validator_issues(tmp_path, files)
    located = [key for text in files.values() for key in schema_errors(yaml.safe_load(text))]
    per_file = [(key, msg) for key, msg in issues if not any(n in msg for n in NOT_PER_FILE)]
    if not per_file:
        assert located == [], (issues, located)
    for key, message in per_file:
        parent = key[: key.rindex("[")] if key.endswith("]") else key.rpartition(".")[0]
        assert key in located or parent in located, (key, message, located)
    return issues, located


def test_the_committed_schema_file_is_the_generated_one():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "schema/desired.schema.json is stale: run `reconciler schema > schema/desired.schema.json`"
    )


def test_the_schema_is_draft_2020_12_and_reconciler_schema_prints_it():
    Draft202012Validator.check_schema(desired_schema())
    assert desired_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.output == SCHEMA_FILE.read_text(encoding="utf-8")


def test_descriptions_and_enums_come_from_the_catalogue():
    defs = desired_schema()["$defs"]
    for spec in F.CATALOGUE:
        node = defs[spec.side]["properties"]
        for part in spec.key.split("."):
            node = node.get("properties", node)[part]
        assert spec.wire in node["description"], spec.path
        assert spec.doc[1:] in node["description"], spec.path
        if spec.kind == "enum":
            assert node["enum"] == list(spec.choices), spec.path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_yaml_names_the_schema_and_meets_it(path):
    text = path.read_text(encoding="utf-8")
    mode = MODELINE.match(text.splitlines()[0])
    assert mode, f"{path}: first line must be `# yaml-language-server: $schema=...`"
    assert (path.parent / mode.group(1)).resolve() == SCHEMA_FILE
    assert schema_errors(yaml.safe_load(text)) == []


def test_there_are_shipped_yaml_files_to_check():
    assert REPO / "desired" / "apps.yaml" in SHIPPED


def test_the_docs_example_meets_the_schema():
    page = (REPO / "docs" / "desired-state.md").read_text(encoding="utf-8")
    section = page[page.index("# Desired state") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n", 8)]
    assert "apps:" in example
    assert schema_errors(yaml.safe_load(example)) == []


@pytest.mark.parametrize(("snippet", "expected"), cases.BAD_VALUES)
def test_the_validators_bad_values_are_rejected_by_the_schema_too(tmp_path, snippet, expected):
    text = f"version: 1\napps:\n  A:\n    {snippet}\n"
    assert_agree(tmp_path, {"apps.yaml": text})
    if expected is not None and not any(n in expected for n in NOT_PER_FILE):
        assert schema_errors(yaml.safe_load(text)), "a bad value the schema lets through"


@pytest.mark.parametrize(
    "text", [cases.NEAR_MISS, cases.UNSUPPORTED_VERSION_NO_APPS, cases.TWO_PROBLEMS]
)
def test_the_validators_bad_documents_are_rejected_by_the_schema_too(tmp_path, text):
    issues, located = assert_agree(tmp_path, {"apps.yaml": text})
    assert len(located) == len(issues), (issues, located)  # one error per problem, too


@pytest.mark.parametrize(
    "files", [c[1] for c in BAD_YAML if "YAML syntax error" not in c[2]], ids=lambda f: str(f)[:40]
)
def test_the_e2e_bad_inputs_agree_with_the_schema(tmp_path, files):
    assert_agree(tmp_path, files)


PROBES: list[Any] = [
    True,
    False,
    None,
    0,
    7,
    -1,
    F.INT_MAX,
    F.INT_MAX + 1,
    1.5,
    "x",
    "",
    "  ",
    "true",
    "5",
    "https://acme.example/cb",
    [],
    ["a"],
    ["Standard User", "Sales"],
    ["a,b"],
    ["  "],
    ["a", 1],
    {"a": 1},
]


@pytest.mark.parametrize("spec", F.CATALOGUE, ids=lambda s: s.path)
def test_for_every_field_the_schema_accepts_exactly_what_the_validator_parses(spec):
    """Probe values, plus the field's enum values, through FieldSpec.parse (what `validate`
    uses) and through the schema. Not probed: 1.0, an integer to JSON Schema and a float to
    YAML (the validator refuses it; the schema cannot tell it from 1)."""
    for value in [*PROBES, *spec.choices]:
        try:
            spec.parse(value)
            parsed = True
        except ValueError:
            parsed = False
        inner: Any = value
        for part in reversed(spec.key.split(".")):
            inner = {part: inner}
        doc = {"version": 1, "apps": {"A": {spec.side: inner}}}
        assert (schema_errors(doc) == []) == parsed, (spec.path, value, parsed)


def test_a_missing_description_for_a_new_top_level_key_stops_generation(monkeypatch):
    from reconciler import schema

    monkeypatch.setattr(schema, "TOP_LEVEL_KEYS", (*schema.TOP_LEVEL_KEYS, "owners"))
    with pytest.raises(RuntimeError, match="top-level keys"):
        schema.desired_schema()


def test_layers_are_checked_per_file_like_the_validator(tmp_path):
    """A refresh_token policy whose period and unit come from another layer: each file meets
    the schema, and the merged layers meet the validator."""
    base = (
        "version: 1\napps:\n  A:\n    policies:\n      refresh_token: {policy: specific_lifetime}\n"
    )
    prod = textwrap.dedent(
        """\
        version: 1
        apps:
          A:
            policies:
              refresh_token: {period: 30, unit: days}
        """
    )
    for text in (base, prod):
        assert schema_errors(yaml.safe_load(text)) == []
    (tmp_path / "base").mkdir()
    (tmp_path / "prod").mkdir()
    (tmp_path / "base" / "apps.yaml").write_text(base)
    (tmp_path / "prod" / "apps.yaml").write_text(prod)
    load_desired([tmp_path / "base", tmp_path / "prod"], today=TODAY)
