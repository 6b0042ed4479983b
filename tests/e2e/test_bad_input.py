"""Done-when 8: every bad input exits 1 with file, line and key, writes nothing, no traceback."""

from __future__ import annotations

import json

import pytest

from .conftest import SHIPPED_DESIRED, assert_clean_error, run

# (case id, {file name: YAML text}, needles that must all appear in stderr)
BAD_YAML = [
    (
        "yaml-syntax-error",
        {"apps.yaml": "version: 1\napps:\n  Billing_Sync:\n    settings:\n      device: true: x\n"},
        ["apps.yaml:5:", "YAML syntax error", "mapping values are not allowed here"],
    ),
    (
        "unknown-key-near-miss",
        {
            "apps.yaml": "version: 1\napps:\n  Billing_Sync:\n    settings:\n"
            "      pkce_required: true\n      client_credential: true\n"
        },
        [
            "apps.yaml:6:",
            "apps.Billing_Sync.settings.client_credential",
            "unknown key; did you mean 'client_credentials'?",
        ],
    ),
    (
        "wrong-type",
        {
            "apps.yaml": "version: 1\napps:\n  Mobile_Field_Service:\n    settings:\n"
            '      device: "yes"\n'
        },
        [
            "apps.yaml:5:",
            "apps.Mobile_Field_Service.settings.device",
            "invalid value 'yes'; allowed: true or false",
        ],
    ),
    (
        "bad-enum",
        {
            "apps.yaml": "version: 1\napps:\n  Reporting_JWT:\n    policies:\n"
            "      permitted_users: everyone\n"
        },
        [
            "apps.yaml:5:",
            "apps.Reporting_JWT.policies.permitted_users",
            "invalid value 'everyone'",
            "admin_approved | all_self_authorized",
        ],
    ),
    (
        "app-in-two-files",
        {
            "a.yaml": "version: 1\napps:\n  Billing_Sync:\n    settings: {pkce_required: true}\n",
            "b.yaml": "version: 1\n\napps:\n  Billing_Sync:\n"
            "    policies: {ip_relaxation: enforce}\n",
        },
        ["b.yaml:4:", "apps.Billing_Sync", "declared twice", "a.yaml:3"],
    ),
    (
        "run-as-with-flow-off",
        {
            "apps.yaml": "version: 1\napps:\n  Billing_Sync:\n    policies:\n"
            "      client_credentials: false\n      run_as: billing.integration@acme.example\n"
        },
        [
            "apps.yaml:6:",
            "apps.Billing_Sync.policies.run_as",
            "run_as is set while policies.client_credentials is false",
        ],
    ),
    (
        "run-as-with-flow-off-from-defaults",
        {
            "apps.yaml": "version: 1\ndefaults:\n  policies:\n    client_credentials: false\n"
            "apps:\n  Billing_Sync:\n    policies:\n"
            "      run_as: billing.integration@acme.example\n"
        },
        [
            "apps.yaml:8:",
            "apps.Billing_Sync.policies.run_as",
            "run_as is set while policies.client_credentials is false",
        ],
    ),
    (
        "unsupported-version",
        {"apps.yaml": "# header\nversion: 2\napps:\n  Billing_Sync: {}\n"},
        ["apps.yaml:2:", "version", "unsupported version 2; supported: 1"],
    ),
    (
        "secret-declared",
        {
            "apps.yaml": "version: 1\napps:\n  Billing_Sync:\n    settings:\n"
            "      consumer_secret: hunter2hunter2\n"
        },
        [
            "apps.yaml:5:",
            "apps.Billing_Sync.settings.consumer_secret",
            "secret",
            "can never be declared",
        ],
    ),
]


@pytest.mark.parametrize(
    ("files", "needles"), [c[1:] for c in BAD_YAML], ids=[c[0] for c in BAD_YAML]
)
@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
def test_bad_desired_state(command, files, needles, org, desired):
    for name, text in files.items():
        folder = desired(text, name=name)
    path = folder.parent
    before = org.bytes()
    if command == "validate":
        result = run("validate", "-d", path)
    elif command == "plan":
        result = run("plan", "-o", org.target, "-d", path)
    else:
        result = run("apply", "-o", org.target, "-d", path, "--auto-approve")
    assert_clean_error(result, "invalid desired state", *needles)
    assert result.stdout == ""
    assert org.bytes() == before
    if "consumer_secret" in files.get("apps.yaml", ""):
        assert "hunter2hunter2" not in result.output


def test_app_missing_from_org(org, desired):
    path = desired(
        "version: 1\napps:\n  Ghost_App:\n    policies: {ip_relaxation: enforce}\n"
        "  Legacy_Importer:\n    settings: {client_credentials: false}\n"
    )
    before = org.bytes()
    plan = run("plan", "-o", org.target, "-d", path)
    assert plan.exit_code == 1, plan.output
    assert "Ghost_App: not found in the org" in plan.stdout
    assert "Traceback" not in plan.output
    apply = run("apply", "-o", org.target, "-d", path, "--auto-approve")
    assert_clean_error(apply, "nothing was written")
    assert "Ghost_App" in apply.output
    assert org.bytes() == before, "an error in one app must stop the whole apply"


def test_app_option_naming_undeclared_app(org):
    before = org.bytes()
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--app", "Nope_App")
    assert_clean_error(result, "not declared in the desired state: Nope_App", "Billing_Sync")
    result = run(
        "apply", "-o", org.target, "-d", SHIPPED_DESIRED, "--app", "Nope_App", "--auto-approve"
    )
    assert_clean_error(result, "Nope_App")
    assert org.bytes() == before


def test_unknown_org(tmp_path, monkeypatch):
    """Any other -o value is a Salesforce CLI alias (issue 8); with no `sf` on PATH that is a
    clean error naming the alias (tests/e2e/test_login.py covers the alias logins)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run("plan", "-o", "production", "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "-o production", "is not on PATH")


def test_no_org_given():
    result = run("plan", "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "no org given")


def test_instance_url_without_token(monkeypatch):
    monkeypatch.delenv("SF_ACCESS_TOKEN", raising=False)
    result = run("plan", "--instance-url", "https://acme.my.salesforce.com", "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "SF_ACCESS_TOKEN")


def test_instance_url_plain_http_refused(monkeypatch):
    monkeypatch.setenv("SF_ACCESS_TOKEN", "00D000000000001!AQfaketoken")
    result = run("plan", "--instance-url", "http://example.com", "-d", SHIPPED_DESIRED)
    assert_clean_error(result, "plain http", "http://example.com")
    assert "AQfaketoken" not in result.output


def test_instance_url_and_target_org_together(org, monkeypatch):
    monkeypatch.setenv("SF_ACCESS_TOKEN", "00D000000000001!AQfaketoken")
    result = run(
        "plan", "-o", org.target, "--instance-url", "https://x.example", "-d", SHIPPED_DESIRED
    )
    assert_clean_error(result, "not both")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"format_version": "1", "changes": [\n', "not JSON (line 2)"),
        ('{"format_version": "1"}', "malformed plan file"),
        ("[1, 2, 3]", "not a reconciler plan file"),
        ('{"format_version": "9", "changes": []}', "format_version 9 is not supported"),
    ],
    ids=["not-json", "missing-keys", "not-a-plan", "future-version"],
)
def test_malformed_plan_file(content, needle, org, tmp_path):
    plan_file = tmp_path / "p.json"
    plan_file.write_text(content)
    before = org.bytes()
    result = run("apply", plan_file, "-o", org.target)
    assert_clean_error(result, str(plan_file), needle)
    assert org.bytes() == before


def test_plan_file_with_unknown_field_is_refused(org, tmp_path):
    plan_file = tmp_path / "p.json"
    made = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--out", plan_file)
    assert made.exit_code == 0, made.output
    doc = json.loads(plan_file.read_text())
    doc["changes"][0]["field"] = "consumerSecret"
    plan_file.write_text(json.dumps(doc))
    before = org.bytes()
    result = run("apply", plan_file, "-o", org.target)
    assert_clean_error(result, str(plan_file), "malformed plan file")
    assert org.bytes() == before


def test_missing_desired_path(org, tmp_path):
    result = run("plan", "-o", org.target, "-d", tmp_path / "nowhere")
    assert_clean_error(result, "nowhere", "no such file or folder")


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "version: 1\napps:\n  Billing_Sync:\n    settings: {}\n  Billing_Sync:\n"
            "    policies: {}\n",
            ["apps.yaml:5:", "Billing_Sync", "duplicate key (first defined on line 3)"],
        ),
        ("", ["apps.yaml", "file is empty"]),
        (
            "version: 1\napps:\n  Billing_Sync:\n    policies:\n"
            "      refresh_token: {policy: specific_lifetime}\n",
            ["apps.yaml:5:", "apps.Billing_Sync.policies.refresh_token.period", "required"],
        ),
    ],
    ids=["duplicate-key", "empty-file", "refresh-token-without-period"],
)
def test_more_bad_desired_state(text, needles, org, desired):
    path = desired(text)
    before = org.bytes()
    result = run("apply", "-o", org.target, "-d", path, "--auto-approve")
    assert_clean_error(result, "invalid desired state", *needles)
    assert org.bytes() == before


def test_non_utf8_yaml_is_a_clean_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\napps:\n  Caf\xe9_App: {}\n")
    result = run("validate", "-d", path)
    assert_clean_error(result, "latin1.yaml", "cannot read file")


TAMPER_YAML = """\
version: 1
baseline: []
apps:
  Mobile_Field_Service:
    settings:
      client_credentials: true
    policies:
      client_credentials: true
      run_as: billing.integration@acme.example
  Partner_Portal:
    policies:
      permitted_users: all_self_authorized
"""


def test_plan_file_with_invalid_value_is_refused_before_writing(org, desired, tmp_path):
    plan_file = tmp_path / "p.json"
    made = run("plan", "-o", org.target, "-d", desired(TAMPER_YAML), "--out", plan_file)
    assert made.exit_code == 0, made.output
    doc = json.loads(plan_file.read_text())
    change = next(c for c in doc["changes"] if c["field"] == "permitted_users")
    change["after"] = "everyone"  # not a value of the permitted_users enum
    plan_file.write_text(json.dumps(doc))
    before = org.bytes()
    result = run("apply", plan_file, "-o", org.target)
    assert org.bytes() == before, "a malformed plan must not write anything"
    assert_clean_error(result, str(plan_file))


def test_plan_out_to_a_directory_is_a_clean_error(org, tmp_path):
    out_dir = tmp_path / "plans"
    out_dir.mkdir()
    result = run("plan", "-o", org.target, "-d", SHIPPED_DESIRED, "--out", out_dir)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".plans.")]
    assert leftovers == [], leftovers
    assert_clean_error(result, "plans")
