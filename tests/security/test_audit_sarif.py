"""`audit`: exit codes, formats, --output; the SARIF 2.1.0 document (schema-valid, stable
ruleIds and fingerprints, security-severity, locations, suppressions)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.controls import CONTROLS

from .conftest import ORG_ID, SARIF_SCHEMA, VALID, Org, demo_doc, line_of, run

SARIF_YAML = f"""version: 1
# the baseline for every app
baseline: [ECA-OAUTH-001, ECA-OAUTH-004, ECA-OAUTH-006]
unlisted: report

apps:
  Billing_Sync:
    settings:
      client_credentials: true
    policies:
      client_credentials: true
      run_as: billing.integration@acme.example
    exceptions:
      - control: ECA-OAUTH-001
        justification: nightly invoice sync
        owner: payments@acme.example
        ticket: SEC-1234
        expires: {VALID}

  Data_Warehouse_ETL:
    policies:
      ip_relaxation: bypass
    exceptions:
      - control: ECA-OAUTH-006
        justification: vendor egress IPs change weekly
        owner: data@acme.example
        expires: {VALID}
"""


class Runs:
    def __init__(self, root: Path) -> None:
        self.org = Org(root / "org.json")
        self.org.save(demo_doc())
        self.desired = root / "desired" / "apps.yaml"
        self.desired.parent.mkdir()
        self.desired.write_text(SARIF_YAML, encoding="utf-8")
        self.files = [root / "one.sarif", root / "two.sarif"]
        self.results = [
            run("audit", "-o", self.org.target, "-d", self.desired, "--format", "sarif",
                "--output", f)
            for f in self.files
        ]  # fmt: skip
        self.docs = [json.loads(f.read_text()) for f in self.files]
        self.doc = self.docs[0]
        self.run = self.doc["runs"][0]


@pytest.fixture(scope="module")
def sarif(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("sarif"))


def results_of(sarif: Runs, app: str, control: str | None = None) -> list[dict]:
    return [
        r
        for r in sarif.run["results"]
        if r["properties"]["app"] == app and (control is None or r["ruleId"] == control)
    ]


def test_sarif_exit_code_and_output_file(sarif):
    for result, path in zip(sarif.results, sarif.files, strict=True):
        assert result.exit_code == 3, result.output  # unlisted apps violate
        assert result.stdout == ""
        assert f"Wrote the sarif report to {path}." in result.stderr


def test_sarif_validates_against_oasis_schema(sarif):
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    assert validator_cls is jsonschema.Draft4Validator
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(sarif.doc), key=str)
    assert errors == [], [e.message for e in errors[:5]]
    assert sarif.doc["version"] == "2.1.0"


def test_schema_check_can_fail(sarif):
    """The validation above has teeth: a broken document is rejected."""
    schema = json.loads(SARIF_SCHEMA.read_text())
    broken = json.loads(json.dumps(sarif.doc))
    broken["runs"][0]["results"][0]["level"] = "catastrophic"
    assert list(jsonschema.Draft4Validator(schema).iter_errors(broken))


def test_rules_are_the_controls_with_security_severity(sarif):
    rules = sarif.run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [f"ECA-OAUTH-00{i}" for i in range(1, 8)] + [
        *(f"ECA-PARTNER-00{i}" for i in range(1, 5)),  # the partner controls (issue 18)
        "ECA-APPROVAL-001",  # who can bypass app approval (issue 18)
    ]
    for rule, control in zip(rules, CONTROLS, strict=True):
        severity = rule["properties"]["security-severity"]
        assert isinstance(severity, str)
        assert float(severity) == control.security_severity
        assert 0.0 < float(severity) <= 10.0
        assert rule["shortDescription"]["text"] == control.title
    assert float(rules[0]["properties"]["security-severity"]) >= 7.0  # 001 is high


def test_rule_ids_and_indexes_are_stable(sarif):
    rules = sarif.run["tool"]["driver"]["rules"]
    for result in sarif.run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert [r["id"] for r in sarif.docs[1]["runs"][0]["tool"]["driver"]["rules"]] == [
        r["id"] for r in rules
    ]


def test_partial_fingerprints_stable_and_distinct(sarif):
    def prints(doc):
        return [
            (r["ruleId"], r["properties"]["app"], r["properties"]["field"],
             r["partialFingerprints"]["reconcilerFinding/v1"])
            for r in doc["runs"][0]["results"]
        ]  # fmt: skip

    one, two = prints(sarif.docs[0]), prints(sarif.docs[1])
    assert one == two
    assert len({p[3] for p in one}) == len(one)


def _location(result: dict) -> tuple[str, int]:
    phys = result["locations"][0]["physicalLocation"]
    return phys["artifactLocation"]["uri"], phys["region"]["startLine"]


def test_result_located_at_declared_field_line(sarif):
    [ip] = results_of(sarif, "Data_Warehouse_ETL", "ECA-OAUTH-006")
    uri, line = _location(ip)
    assert uri.endswith("desired/apps.yaml")
    assert line == line_of(sarif.desired, "ip_relaxation: bypass")
    billing = {r["properties"]["field"]: _location(r)[1] for r in results_of(sarif, "Billing_Sync")}
    assert billing == {
        "settings.client_credentials": line_of(sarif.desired, "client_credentials: true"),
        "policies.client_credentials": line_of(
            sarif.desired, "client_credentials: true", after="policies:"
        ),
    }


def test_result_for_undeclared_field_located_at_app_line(sarif):
    app_line = line_of(sarif.desired, "Data_Warehouse_ETL:")
    refresh = results_of(sarif, "Data_Warehouse_ETL", "ECA-OAUTH-004")
    assert [_location(r)[1] for r in refresh] == [app_line]
    assert refresh[0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == (
        "Data_Warehouse_ETL.policies.refresh_token.policy"
    )


def test_unlisted_results_located_at_baseline_line(sarif):
    baseline_line = line_of(sarif.desired, "baseline: [")
    unlisted = results_of(sarif, "Support_Exporter")
    assert unlisted
    for r in unlisted:
        uri, line = _location(r)
        assert uri.endswith("desired/apps.yaml") and line == baseline_line
        assert "not listed in the desired state" in r["message"]["text"]


def test_exceptions_become_suppressions_with_justification(sarif):
    [ip] = results_of(sarif, "Data_Warehouse_ETL", "ECA-OAUTH-006")
    [sup] = ip["suppressions"]
    assert sup["kind"] == "external" and sup["status"] == "accepted"
    assert "vendor egress IPs change weekly" in sup["justification"]
    assert f"expires {VALID}" in sup["justification"]
    for r in results_of(sarif, "Billing_Sync"):
        assert "nightly invoice sync" in r["suppressions"][0]["justification"]
        assert "SEC-1234" in r["suppressions"][0]["justification"]
    unsuppressed = results_of(sarif, "Data_Warehouse_ETL", "ECA-OAUTH-001")
    assert len(unsuppressed) == 2 and all("suppressions" not in r for r in unsuppressed)


def test_result_properties_carry_org_and_risk(sarif):
    assert sarif.run["properties"]["orgId"] == ORG_ID
    [ip] = results_of(sarif, "Data_Warehouse_ETL", "ECA-OAUTH-006")
    assert ip["properties"]["risk"] == "high"
    assert ip["level"] == "warning"
    assert results_of(sarif, "Support_Exporter", "ECA-OAUTH-001")[0]["level"] == "error"


# --- exit codes and other formats -------------------------------------------------------------


def test_audit_exit_0_when_compliant(make_org, write_yaml):
    def comply(doc):
        pol = doc["metadata"]["ExtlClntAppOauthConfigurablePolicies"]
        pol["Data_Warehouse_ETL_oauth_defaultPolicy"]["ipRelaxationPolicyType"] = "Enforce"

    org = make_org(comply)
    desired = write_yaml("version: 1\nbaseline: [ECA-OAUTH-006]\nunlisted: report\napps: {}\n")
    result = run("audit", "-o", org.target, "-d", desired)
    assert result.exit_code == 0, result.output
    assert "Summary: compliant; 13 apps checked against ECA-OAUTH-006; 0 violations" in (
        result.stdout
    )
    assert "Violations:" not in result.stdout


def test_audit_exit_3_text_lists_violations_by_severity(org, write_yaml):
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-001, ECA-OAUTH-006]\nunlisted: report\napps: {}\n"
    )
    result = run("audit", "-o", org.target, "-d", desired)
    assert result.exit_code == 3, result.output
    lines = result.stdout.split("Violations:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert lines[0].startswith("  [HIGH]") and lines[-1].startswith("  [MEDIUM]")
    assert (
        "  [MEDIUM] Data_Warehouse_ETL: ECA-OAUTH-006 IP restrictions not bypassed: "
        'policies.ip_relaxation is "bypass" (not listed in the desired state)'
    ) in lines
    assert "Summary: NOT compliant; 13 apps checked"  # 10 ECAs + 3 Connected Apps in result.stdout


def test_audit_without_desired_uses_default_baseline(org):
    """No -d and no desired/ in the working directory: baseline 001, every app checked."""
    result = run("audit", "-o", org.target, "--format", "json")
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    assert doc["controls"] == ["ECA-OAUTH-001"]
    assert len(doc["apps_checked"]) == 13  # 10 ECAs + 3 Connected Apps
    assert {f["control"] for f in doc["findings"]} == {"ECA-OAUTH-001"}
    assert all(f["listed"] is False for f in doc["findings"])


def test_audit_picks_up_desired_folder_in_cwd(org):
    Path("desired").mkdir()
    Path("desired/apps.yaml").write_text(
        "version: 1\nbaseline: [ECA-OAUTH-003]\nunlisted: report\napps: {}\n"
    )
    result = run("audit", "-o", org.target, "--format", "json")
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["controls"] == ["ECA-OAUTH-003"]


def test_audit_exit_1_on_invalid_desired_state(org, write_yaml):
    desired = write_yaml("version: 1\nbaseline: [ECA-OAUTH-999]\napps: {}\n")
    result = run("audit", "-o", org.target, "-d", desired)
    assert result.exit_code == 1, result.output
    assert "unknown control 'ECA-OAUTH-999'" in result.stderr
    assert result.stdout == ""


def test_audit_exit_1_on_org_error(tmp_path, monkeypatch):
    result = run("audit", "-o", "not-an-org", "-d", tmp_path / "none.yaml")
    assert result.exit_code == 1, result.output
    assert "no such file or folder" in result.stderr
    monkeypatch.setenv("PATH", str(tmp_path))  # -o ALIAS asks the sf CLI; here it is absent
    result = run("audit", "-o", "not-an-org")
    assert result.exit_code == 1, result.output
    assert "-o not-an-org: the Salesforce CLI (`sf`) is not on PATH" in result.stderr


def test_audit_is_read_only_and_json_output_file(org, write_yaml, tmp_path):
    desired = write_yaml("version: 1\nbaseline: [ECA-OAUTH-005]\nunlisted: report\napps: {}\n")
    out = tmp_path / "reports" / "audit.json"
    before = org.bytes()
    result = run("audit", "-o", org.target, "-d", desired, "--format", "json", "--output", out)
    assert result.exit_code == 3, result.output
    assert org.bytes() == before
    assert result.stdout == ""
    doc = json.loads(out.read_text())
    assert doc["compliant"] is False
    assert sorted({f["app"] for f in doc["findings"]}) == [
        "Data_Warehouse_ETL",
        "Legacy_Importer",
        "Marketing_Events",
        "Mobile_Field_Service",
    ]
    assert doc["summary"]["violations"] == 4
