"""Evidence records of plan and apply, and no secret in evidence, SARIF or audit output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.emulator.demo_org import build_demo_org

from .conftest import ORG_ID, VALID, Org, exception_yaml, run

MARKER = "SEKRET-7f3a9c"
KEYS = {"time", "org_id", "operator", "desired_digest", "plan", "exceptions_in_force", "result"}


def evidence_yaml() -> str:
    return (
        "version: 1\nbaseline: [ECA-OAUTH-001, ECA-OAUTH-004]\nunlisted: report\napps:\n"
        "  Billing_Sync:\n" + exception_yaml("ECA-OAUTH-001") + "  Legacy_Importer: {}\n"
    )


class Marked:
    """The demo org with a secret marker in every key, secret and certificate; plan, apply
    and audit (three formats, stdout and --output) all run once against it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.org = Org(root / "org.json")
        self.org.save(build_demo_org(secret_marker=MARKER))
        self.desired = root / "apps.yaml"
        self.desired.write_text(evidence_yaml(), encoding="utf-8")
        self.plan_dir, self.apply_dir = root / "ev-plan", root / "ev-apply"
        self.saved = root / "plan.json"
        args = ("-o", self.org.target, "-d", self.desired)
        self.plan = run("plan", *args, "--evidence-dir", self.plan_dir, "--out", self.saved)
        self.outputs = {}
        for fmt in ("text", "json", "sarif"):
            self.outputs[fmt] = run("audit", *args, "--format", fmt)
        self.sarif_file = root / "audit.sarif"
        self.sarif_run = run(
            "--debug", "audit", *args, "--format", "sarif", "--output", self.sarif_file
        )
        self.apply = run("apply", *args, "--auto-approve", "--evidence-dir", self.apply_dir)

    def records(self, directory: Path) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


@pytest.fixture(scope="module")
def marked(tmp_path_factory) -> Marked:
    return Marked(tmp_path_factory.mktemp("evidence"))


def test_runs_succeed(marked):
    assert marked.plan.exit_code == 0, marked.plan.output
    assert marked.apply.exit_code == 0, marked.apply.output
    assert all(r.exit_code == 3 for r in marked.outputs.values())
    assert marked.sarif_run.exit_code == 3


def test_plan_writes_one_evidence_record(marked):
    files = list(marked.plan_dir.iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"
    assert f"Evidence: {files[0]}" in marked.plan.stderr
    [record] = marked.records(marked.plan_dir)
    assert set(record) >= KEYS
    assert record["command"] == "plan"
    assert record["org_id"] == ORG_ID
    assert record["time"].startswith(("20", "21"))
    assert "local_user" in record["operator"]
    saved = json.loads(marked.saved.read_text())
    assert record["desired_digest"] == saved["desired_digest"]
    assert len(record["desired_digest"]) == 64
    assert record["plan"]["changes"] == saved["changes"]
    assert record["result"] == {"outcome": "changes"}
    assert record["baseline"] == ["ECA-OAUTH-001", "ECA-OAUTH-004"]


def test_evidence_lists_exceptions_in_force(marked):
    [record] = marked.records(marked.plan_dir)
    assert record["exceptions_in_force"] == [
        {
            "app": "Billing_Sync",
            "control": "ECA-OAUTH-001",
            "justification": "needed by the nightly job",
            "owner": "team@acme.example",
            "ticket": "SEC-1",
            "expires": VALID,
        }
    ]


def test_apply_writes_one_evidence_record_with_result(marked):
    [record] = marked.records(marked.apply_dir)
    assert set(record) >= KEYS
    assert record["command"] == "apply"
    assert record["org_id"] == ORG_ID
    assert record["result"]["ok"] is True
    assert {a["app"]: a["status"] for a in record["result"]["apps"]} == {
        "Legacy_Importer": "applied"
    }
    assert [c["app"] for c in record["plan"]["changes"]] == ["Legacy_Importer"] * 4
    [plan_record] = marked.records(marked.plan_dir)
    assert record["desired_digest"] == plan_record["desired_digest"]
    assert record["exceptions_in_force"] == plan_record["exceptions_in_force"]


def test_marker_really_is_in_the_org(marked):
    """Sanity: the assertions below could fail, the marker is in the org's secrets."""
    text = marked.org.path.read_text()
    assert text.count(MARKER) >= 20  # 10 apps x (key, secret), plus certificates


def test_no_secret_in_evidence(marked):
    for directory in (marked.plan_dir, marked.apply_dir):
        for path in directory.iterdir():
            assert MARKER not in path.read_text(), path
            assert "3MVG9" not in path.read_text(), path


def test_no_secret_in_audit_outputs_or_sarif(marked):
    for fmt, result in marked.outputs.items():
        assert MARKER not in result.output, fmt
        assert "BEGIN CERTIFICATE" not in result.output, fmt
    assert MARKER not in marked.sarif_file.read_text()
    assert MARKER not in marked.sarif_run.output  # --debug logging included


def test_no_secret_in_plan_or_apply_output(marked):
    for result in (marked.plan, marked.apply):
        assert MARKER not in result.output
    assert MARKER not in marked.saved.read_text()


def test_evidence_dir_from_environment(org, write_yaml, tmp_path):
    desired = write_yaml(evidence_yaml())
    target = tmp_path / "from-env"
    result = CliRunnerEnv.invoke("plan", "-o", org.target, "-d", desired, env_dir=target)
    assert result.exit_code == 0, result.output
    [record] = [json.loads(p.read_text()) for p in target.glob("*.json")]
    assert record["command"] == "plan" and record["result"] == {"outcome": "changes"}


class CliRunnerEnv:
    @staticmethod
    def invoke(*args, env_dir: Path):
        from click.testing import CliRunner

        from reconciler.cli import main

        return CliRunner().invoke(
            main,
            [str(a) for a in args],
            env={"RECONCILER_EVIDENCE_DIR": str(env_dir)},
            catch_exceptions=False,
        )


def test_saved_plan_apply_evidence_keeps_exceptions_in_force(org, write_yaml, tmp_path):
    desired = write_yaml(evidence_yaml())
    saved = tmp_path / "plan.json"
    plan = run("plan", "-o", org.target, "-d", desired, "--out", saved)
    assert plan.exit_code == 0, plan.output
    evidence = tmp_path / "ev"
    applied = run("apply", saved, "-o", org.target, "-d", desired, "--evidence-dir", evidence)
    assert applied.exit_code == 0, applied.output
    [record] = [json.loads(p.read_text()) for p in evidence.glob("*.json")]
    assert record["result"]["ok"] is True  # the apply itself worked
    assert [e["app"] for e in record["exceptions_in_force"]] == ["Billing_Sync"]
    assert record["baseline"] == ["ECA-OAUTH-001", "ECA-OAUTH-004"]


def test_noop_apply_still_writes_evidence(org, write_yaml, tmp_path):
    desired = write_yaml(
        "version: 1\nbaseline: [ECA-OAUTH-001]\nunlisted: ignore\napps:\n  Billing_Sync:\n"
        + exception_yaml("ECA-OAUTH-001")
    )
    evidence = tmp_path / "ev"
    applied = run(
        "apply", "-o", org.target, "-d", desired, "--auto-approve", "--evidence-dir", evidence
    )
    assert applied.exit_code == 0, applied.output
    assert "No changes." in applied.stdout
    records = list(evidence.glob("*.json")) if evidence.exists() else []
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["exceptions_in_force"][0]["control"] == "ECA-OAUTH-001"
