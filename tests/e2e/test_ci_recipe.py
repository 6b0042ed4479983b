"""The CI recipe (examples/github-actions/, .pre-commit-hooks.yaml) is real, not prose.

Two checks. Statically: every `reconciler` command line in the workflows and the hook names a
command, flags and choices that exist (asked of click itself, so a renamed flag fails here).
Dynamically: the workflows' own `run:` scripts are executed as GitHub runs them
(`bash --noprofile --norc -eo pipefail`), with JWT login to the HTTPS emulator from "secrets",
so plan's exit 2 and audit's exit 3 must be handled under `bash -e`, and a real error (1) must
still fail the step. Steps that need GitHub itself (pip install, `gh`, `uses:` actions) are
skipped; the plan artifact is handed from the plan run to the apply run as the download would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from reconciler.cli import main
from reconciler.cli_options import GLOBAL_FLAGS
from reconciler.emulator.certs import make_self_signed
from reconciler.emulator.server import EmulatorServer
from tests import forked_cli
from tests.e2e.conftest import RECONCILER_BIN, REPO, SHIPPED_DESIRED, cli_env
from tests.support import Org, settings_of

RECIPE = REPO / "examples" / "github-actions"
WORKFLOWS = sorted(RECIPE.glob("*.yml"))
HOOKS = REPO / ".pre-commit-hooks.yaml"
JWT_APP = "Reporting_JWT"
JWT_USER = "billing.integration@acme.example"  # pre-authorized for Reporting_JWT (demo org)
OPERATORS = set(";|&<>()")


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def _steps(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in doc["jobs"].values():
        yield from job["steps"]


def _commands(script: str) -> Iterator[list[str]]:
    """Each `reconciler ...` simple command in a shell script, as tokens (up to an operator or
    a redirection)."""
    script = script.replace("\\\n", " ")
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        start = True
        for i, token in enumerate(tokens):
            if token == "reconciler" and start:
                words: list[str] = []
                for word in tokens[i:]:
                    if set(word) <= OPERATORS:
                        break
                    words.append(word)
                yield words
            start = set(token) <= OPERATORS or token in ("then", "do", "!", "else")


def _check_invocation(words: list[str], where: str) -> str:
    """Fail unless the command, every flag and every choice exist; returns the command."""
    assert words[0] == "reconciler", where
    global_opts = {opt for p in main.params for opt in p.opts + p.secondary_opts}
    rest = words[1:]
    while rest and rest[0] in global_opts:
        rest = rest[1:]
    assert rest, f"{where}: no subcommand in {words}"
    name, args = rest[0], rest[1:]
    assert name in main.commands, f"{where}: `reconciler {name}` does not exist"
    command = main.commands[name]
    by_opt = {opt: p for p in command.params for opt in p.opts + p.secondary_opts}
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if not word.startswith("-") or word == "-":
            continue
        flag, has_value, inline = word.partition("=")
        if flag in GLOBAL_FLAGS:
            continue
        assert flag in by_opt, f"{where}: `reconciler {name}` has no option {flag}"
        param = by_opt[flag]
        assert isinstance(param, click.Option)
        if param.is_flag:
            assert not has_value, f"{where}: {flag} takes no value"
            continue
        value = inline if has_value else args[i]
        i += 0 if has_value else 1
        if isinstance(param.type, click.Choice) and "$" not in value:
            assert value in param.type.choices, f"{where}: {flag} {value} is not a choice"
    return name


def test_recipe_files_exist():
    names = {path.name for path in WORKFLOWS}
    assert {"reconciler-plan.yml", "reconciler-apply.yml"} <= names
    assert HOOKS.is_file()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_reconciler_command_and_flag_in_the_workflows_exists(path):
    doc = _load(path)
    used = []
    for step in _steps(doc):
        for words in _commands(step.get("run", "")):
            used.append((_check_invocation(words, f"{path.name}: {step.get('name')}"), words))
    assert used, f"{path.name} runs no reconciler command"
    commands = {name for name, _ in used}
    if path.name == "reconciler-plan.yml":
        assert {"validate", "plan", "audit"} <= commands
        (plan,) = [w for name, w in used if name == "plan"]
        assert {"--out", "--detailed-exitcode", "--client-id", "--jwt-key-file"} <= set(plan)
        assert plan[plan.index("--format") + 1] == "markdown"
        (audit,) = [w for name, w in used if name == "audit"]
        assert audit[audit.index("--format") + 1] == "sarif"
    else:
        (apply,) = [w for name, w in used if name == "apply"]
        assert apply[2] == "plan/plan.json", "apply a saved PLANFILE"
        assert {"--client-id", "--username", "--jwt-key-file", "--login-url"} <= set(apply)
        assert "--auto-approve" not in apply  # a PLANFILE needs no prompt
        assert doc["concurrency"]["cancel-in-progress"] is False


def test_the_checker_catches_a_wrong_flag_and_choice():
    """The static check itself can fail (otherwise the test above proves nothing)."""
    with pytest.raises(AssertionError, match="no option --outfile"):
        _check_invocation(["reconciler", "plan", "--outfile", "x"], "t")
    with pytest.raises(AssertionError, match="not a choice"):
        _check_invocation(["reconciler", "audit", "--format", "html"], "t")
    with pytest.raises(AssertionError, match="does not exist"):
        _check_invocation(["reconciler", "--debug", "diff"], "t")
    assert _check_invocation(["reconciler", "plan", "--debug", "--output=x"], "t") == "plan"


def test_pre_commit_hook_runs_validate():
    (hook,) = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert hook["id"] == "reconciler-validate"
    assert hook["pass_filenames"] is False
    assert _check_invocation(shlex.split(hook["entry"]), "hook") == "validate"
    assert re.search(hook["files"], "desired/base/apps.yaml")


# -- running the workflows' scripts ----------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def _evaluate(text: str, context: dict[str, dict[str, str]]) -> str:
    """GitHub `${{ ... }}` for the forms the recipe uses: secrets.X, vars.X, `a || 'b'`."""

    def one(match: re.Match[str]) -> str:
        for part in match.group(1).split("||"):
            part = part.strip()
            if part.startswith("'") and part.endswith("'"):
                return part[1:-1]
            scope, _, name = part.partition(".")
            value = context.get(scope, {}).get(name, "")
            if value:
                return value
        return ""

    return EXPRESSION.sub(one, text)


def _runs_here(step: dict[str, Any]) -> bool:
    """Steps that need GitHub or the network are skipped (pip install, gh, actions)."""
    script = step.get("run", "")
    return bool(script) and "pip install" not in script and not re.search(r"\bgh\b", script)


class Runner:
    """Runs a workflow's runnable steps in a folder, as GitHub does for `shell: bash`."""

    def __init__(
        self, repo: Path, secrets: dict[str, str], variables: dict[str, str], ca_bundle: str
    ) -> None:
        self.repo = repo
        self.secrets = secrets
        self.vars = variables
        self.temp = repo.parent / "runner-temp"
        self.temp.mkdir(exist_ok=True)
        self.output = repo.parent / "github-output"
        self.summary = repo.parent / "step-summary"
        self.ca_bundle = ca_bundle

    def env(self, doc: dict[str, Any], step: dict[str, Any]) -> dict[str, str]:
        context = {"secrets": self.secrets, "vars": self.vars, "github": {}}
        # `reconciler` on PATH is the installed script, forked warm (tests/forked_cli.py).
        shim = forked_cli.shim(str(RECONCILER_BIN), str(self.repo.parent / "bin"))
        env = cli_env(
            PATH=os.pathsep.join((shim, str(RECONCILER_BIN.parent), os.environ["PATH"])),
            RUNNER_TEMP=str(self.temp),
            GITHUB_OUTPUT=str(self.output),
            GITHUB_STEP_SUMMARY=str(self.summary),
            REQUESTS_CA_BUNDLE=self.ca_bundle,
        )
        for name in ("SF_CLIENT_ID", "SF_USERNAME", "SF_JWT_KEY_FILE", "SF_TARGET_ORG"):
            env.pop(name, None)
        for scope in (doc.get("env", {}), step.get("env", {})):
            env.update({k: _evaluate(str(v), context) for k, v in scope.items()})
        return env

    def run(self, path: Path) -> list[tuple[str, subprocess.CompletedProcess]]:
        doc = _load(path)
        shell = doc["jobs"][next(iter(doc["jobs"]))]["defaults"]["run"]["shell"]
        assert shell == "bash", "steps must run under bash -e (shell: bash)"
        done = []
        for step in _steps(doc):
            if not _runs_here(step):
                continue
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.repo,
                env=self.env(doc, step),
                capture_output=True,
                text=True,
                timeout=120,
            )
            done.append((step["name"], proc))
            if proc.returncode != 0:
                break
        return done


@pytest.fixture(scope="module")
def signer() -> tuple[str, str]:
    return make_self_signed("ci recipe tests")


@pytest.fixture
def ci(tmp_path: Path, make_org, signer) -> Iterator[tuple[Runner, Org]]:
    """A repository laid out as the README says (desired/base + desired/production), an org
    that trusts our certificate for JWT, and a runner holding the secrets."""
    org = make_org(lambda doc: settings_of(doc, JWT_APP).update(certificate=signer[1]))
    repo = tmp_path / "repo"
    (repo / "desired" / "base").mkdir(parents=True)
    (repo / "desired" / "production").mkdir(parents=True)
    shutil.copy(SHIPPED_DESIRED / "apps.yaml", repo / "desired" / "base" / "apps.yaml")
    (repo / "desired" / "production" / "apps.yaml").write_text(
        "version: 1\napps:\n  Legacy_Importer:\n    settings:\n      device: true\n",
        encoding="utf-8",
    )
    with EmulatorServer(org.path) as server:
        secrets = {
            "SF_CLIENT_ID": str(settings_of(org.load(), JWT_APP)["consumerKey"]),
            "SF_USERNAME": JWT_USER,
            "SF_JWT_KEY": signer[0],
        }
        # The login URL is a repository variable (vars.SF_LOGIN_URL): here, the emulator.
        yield Runner(repo, secrets, {"SF_LOGIN_URL": server.instance_url}, server.ca_cert_path), org


def _ok(done: list[tuple[str, subprocess.CompletedProcess]]) -> dict[str, str]:
    for name, proc in done:
        assert proc.returncode == 0, (name, proc.returncode, proc.stdout, proc.stderr)
    return {name: proc.stderr for name, proc in done}


def test_pull_request_then_merge_against_the_org(ci):
    runner, org = ci
    before = org.bytes()
    done = runner.run(RECIPE / "reconciler-plan.yml")
    _ok(done)
    ran = [name for name, _ in done]
    assert ran == ["Validate", "Write the JWT key", "Plan", "Audit", "Remove the JWT key"]
    assert org.bytes() == before, "the pull-request workflow must not write to the org"
    # Plan exited 2 (changes) under bash -e and the step still succeeded, saying so.
    assert "changes=true" in runner.output.read_text()
    summary = runner.summary.read_text()
    assert "Legacy_Importer" in summary and "Data_Warehouse_ETL" in summary
    plan_doc = json.loads((runner.repo / "plan.json").read_text())
    assert any(
        c["app"] == "Legacy_Importer" and c["field"] == "device" for c in plan_doc["changes"]
    ), "the org layer (desired/production) is part of the plan"
    # Audit exited 3 (the demo org has violations) and its SARIF is there for the upload.
    sarif = json.loads((runner.repo / "audit.sarif").read_text())
    assert sarif["runs"][0]["results"]
    assert not (runner.temp / "jwt.key").exists(), "the key is removed at the end"
    # Merge: the artifact download hands plan.json over; apply writes exactly that plan.
    (runner.repo / "plan").mkdir()
    shutil.copy(runner.repo / "plan.json", runner.repo / "plan" / "plan.json")
    done = runner.run(RECIPE / "reconciler-apply.yml")
    _ok(done)
    assert [name for name, _ in done] == [
        "Write the JWT key",
        "Apply the reviewed plan",
        "Remove the JWT key",
    ]
    assert org.settings("Legacy_Importer")["isDeviceFlowEnabled"] is True
    assert org.policies("Data_Warehouse_ETL")["ipRelaxationPolicyType"] == "Enforce"
    assert list((runner.repo / "evidence").iterdir()), "evidence kept for the audit trail"


def test_a_real_error_still_fails_the_plan_step(ci):
    """Exit 1 (here: a login the org refuses) is not swallowed by the 2/3 handling."""
    runner, org = ci
    runner.secrets["SF_USERNAME"] = "nobody@acme.example"
    done = runner.run(RECIPE / "reconciler-plan.yml")
    name, proc = done[-1]
    assert name == "Plan"
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert not runner.summary.exists() or "Plan:" not in runner.summary.read_text()


def test_a_stale_plan_is_refused_on_merge(ci):
    runner, org = ci
    _ok(runner.run(RECIPE / "reconciler-plan.yml"))
    (runner.repo / "plan").mkdir()
    shutil.copy(runner.repo / "plan.json", runner.repo / "plan" / "plan.json")
    layer = runner.repo / "desired" / "production" / "apps.yaml"
    layer.write_text(layer.read_text().replace("device: true", "device: false"), "utf-8")
    before = org.bytes()
    done = runner.run(RECIPE / "reconciler-apply.yml")
    name, proc = done[-1]
    assert (name, proc.returncode) == ("Apply the reviewed plan", 1), proc.stdout
    assert "desired/production/apps.yaml: modified since the plan was made" in proc.stdout + (
        proc.stderr
    )
    assert org.bytes() == before
