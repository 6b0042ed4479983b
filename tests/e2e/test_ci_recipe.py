"""The CI recipe (action.yml, examples/github-actions/, .pre-commit-hooks.yaml) is real, not prose.

Statically: every use of the Action names inputs that exist, and its command, format and extra
arguments make a command line click accepts; every flag the Action's script adds exists on the
commands it adds it to (asked of click itself, so a renamed flag fails here). Dynamically: the
workflows' `run:` scripts and the Action's own steps are executed as GitHub runs them (`bash
--noprofile --norc -eo pipefail`) for two orgs (two emulator state files, each served over HTTPS,
JWT login from each org's environment secrets), so plan's exit 2 and audit's exit 3 must be
handled under `bash -e`, a real error (1) must still fail the step, each org gets one pull-request
comment found by its marker and updated in place (against a fake GitHub comments API on PATH as
`gh`), and the uploaded output is enough to roll back. Steps that need GitHub itself (pip
install, setup-python, artifact actions, `gh run`) are skipped; artifacts are handed over by
copying, as the download would.
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

from reconciler import __version__
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
ACTION = REPO / "action.yml"
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
    assert ACTION.is_file()


def _action_uses(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_name, job in doc["jobs"].items():
        for step in job["steps"]:
            if _is_action(step.get("uses", "")):
                yield job_name, step


def _is_action(uses: str) -> bool:
    return uses == "./" or bool(re.fullmatch(r"[\w.-]+/reconciler@[\w.-]+", uses))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_step_names_inputs_commands_flags_and_choices_that_exist(path):
    """Each `uses:` of the Action: its inputs exist in action.yml, and the command, format
    and extra arguments make a reconciler command line click accepts; the pinned tag is this
    version's."""
    doc = _load(path)
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    used = []
    for job_name, step in _action_uses(doc):
        where = f"{path.name}: {job_name}: {step.get('name')}"
        assert step["uses"].endswith(f"@v{__version__}"), f"{where}: pin the current release"
        given = step.get("with", {})
        assert set(given) <= set(action["inputs"]), (where, set(given) - set(action["inputs"]))
        command = given.get("command", action["inputs"]["command"]["default"])
        words = ["reconciler", command, *shlex.split(EXPRESSION.sub("X", given.get("args", "")))]
        if given.get("format"):
            words += ["--format", given["format"]]
        _check_invocation(words, where)
        used.append((job_name, command, given))
    commands = {command for _, command, _ in used}
    if path.name == "reconciler-plan.yml":
        assert commands == {"validate", "plan", "audit"}
        plan = next(given for _, command, given in used if command == "plan")
        assert plan["format"] == "markdown" and plan["comment"] == "true"
        assert doc["jobs"]["plan"]["strategy"]["matrix"]["org"], "a matrix over orgs"
        (sarif,) = [s for _, s in _steps_with_names(doc) if "upload-sarif" in s.get("uses", "")]
        assert sarif["continue-on-error"] is True
    else:
        assert commands == {"apply", "rollback"}
        for job in ("apply", "rollback"):
            group = doc["jobs"][job]["concurrency"]
            assert group["group"].startswith("reconciler-org-${{"), "one lock per org"
            assert group["cancel-in-progress"] is False
        apply = next(given for _, command, given in used if command == "apply")
        assert "--auto-approve" not in apply["args"]  # a PLANFILE needs no prompt


def _steps_with_names(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_name, job in doc["jobs"].items():
        for step in job["steps"]:
            yield job_name, step


def test_every_flag_the_action_passes_exists_on_its_command():
    """The Action's script adds flags per command (login, --format, --out, --evidence-dir):
    each must exist on every command it is given to."""
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    script = next(s["run"] for s in action["runs"]["steps"] if s.get("id") == "run")
    added = " ".join(re.findall(r"args\+=\(([^)]*)\)", script))
    flags = {word for word in added.split() if word.startswith("-")}
    only = {
        "-d": ("validate", "plan", "apply", "audit"),  # rollback takes none (desired: "")
        "--format": ("validate", "plan", "audit"),
        "--detailed-exitcode": ("plan",),
        "--out": ("plan",),
        "--evidence-dir": ("plan", "apply", "rollback"),
    }
    login = {"-o", "--client-id", "--username", "--jwt-key-file", "--login-url"}
    login |= {"--sfdx-url-file", "--instance-url"}
    assert flags == set(only) | login, flags ^ (set(only) | login)
    for flag in flags:
        for command in only.get(flag, ("plan", "apply", "audit", "rollback")):
            words = ["reconciler", command, flag]
            param = (
                next(p for p in main.commands[command].params if flag in p.opts + p.secondary_opts)
                if flag in {o for p in main.commands[command].params for o in p.opts}
                else None
            )
            if param is not None and not (isinstance(param, click.Option) and param.is_flag):
                words.append("json" if flag == "--format" else "x")
            _check_invocation(words, f"action.yml: {command}")


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


# -- running the workflows' scripts and the Action's steps ----------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
REPOSITORY, PR = "acme/salesforce-config", "7"

FAKE_GH = r"""#!/usr/bin/env python3
# Stands in for GitHub's issue-comment REST API as `gh api` reaches it (the Action's comment
# step): comments live in a JSON file; GET pages them two at a time as gh --paginate prints.
import json, os, sys
args = sys.argv[1:]
assert args[0] == "api", args
state_file = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_file))
method = args[args.index("--method") + 1] if "--method" in args else "GET"
path = next(a for a in args[1:] if a.startswith("repos/"))
body = None
if "-F" in args:
    field = args[args.index("-F") + 1]
    assert field.startswith("body=@"), field
    body = open(field[len("body=@"):], encoding="utf-8").read()
state["calls"].append([method, path])
parts = path.split("/")
if method == "GET" and parts[3:5] == ["issues", os.environ["FAKE_GH_PR"]]:
    mine = [c for c in state["comments"] if c["pr"] == parts[4]]
    for i in range(0, max(len(mine), 1), 2):
        print(json.dumps(mine[i:i + 2]))
elif method == "POST":
    state["next_id"] += 1
    state["comments"].append({"id": state["next_id"], "pr": parts[4], "body": body})
elif method == "PATCH":
    (comment,) = [c for c in state["comments"] if c["id"] == int(parts[5])]
    comment["body"] = body
else:
    sys.exit(f"fake gh: unexpected {method} {path}")
json.dump(state, open(state_file, "w"))
"""


def _lookup(path: str, context: dict[str, Any]) -> str:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part, "")
    return "" if value is None else str(value)


def _value(expr: str, context: dict[str, Any]) -> str:
    """GitHub expressions for the forms the recipe uses: a.b.c, 'literal', `a || 'b'`."""
    for part in expr.split("||"):
        part = part.strip()
        if part.startswith("'") and part.endswith("'"):
            return part[1:-1]
        value = _lookup(part, context)
        if value:
            return value
    return ""


def _evaluate(text: str, context: dict[str, Any]) -> str:
    return EXPRESSION.sub(lambda m: _value(m.group(1), context), text)


def _condition(expr: str, context: dict[str, Any]) -> bool:
    """`if:` as the Action's comment step writes it: terms joined by &&, each `x == 'y'`,
    `x != 'y'` or a bare (truthy) value."""
    expr = EXPRESSION.sub(lambda m: m.group(1), expr)
    for term in expr.split("&&"):
        left, op, right = (*re.split(r"\s*(==|!=)\s*", term.strip(), maxsplit=1), "", "")[:3]
        if op == "==" and _value(left, context) != _value(right, context):
            return False
        if op == "!=" and _value(left, context) == _value(right, context):
            return False
        if not op and not _value(left, context):
            return False
    return True


def _runs_here(step: dict[str, Any]) -> bool:
    """Steps that need GitHub or the network are skipped (pip install, gh, actions)."""
    script = step.get("run", "")
    return bool(script) and "pip install" not in script and not re.search(r"\bgh\b", script)


class Runner:
    """Runs a workflow job's steps in a folder, as GitHub does for `shell: bash`; a step that
    uses the reconciler Action runs the Action's own steps (all but setup-python and its pip
    install) with the step's `with:` as inputs. Comments go to a fake GitHub API (FAKE_GH)."""

    def __init__(
        self,
        repo: Path,
        secrets: dict[str, dict[str, str]],
        variables: dict[str, dict[str, str]],
        ca_bundles: dict[str, str],
    ) -> None:
        self.repo = repo
        #: Environment name (the matrix org) -> its secrets and variables.
        self.secrets = secrets
        self.vars = variables
        self.temp = repo.parent / "runner-temp"
        self.temp.mkdir(exist_ok=True)
        self.output = repo.parent / "github-output"  # every step's outputs, appended
        self.summary = repo.parent / "step-summary"
        #: Environment name -> the CA file its org's certificate needs (REQUESTS_CA_BUNDLE, as
        #: a runner reaching a private CA would set it).
        self.ca_bundles = ca_bundles
        self.ca_bundle = ""
        bin_dir = repo.parent / "bin"
        forked_cli.shim(str(RECONCILER_BIN), str(bin_dir))
        (bin_dir / "gh").write_text(FAKE_GH, encoding="utf-8")
        (bin_dir / "gh").chmod(0o755)
        self.path = os.pathsep.join((str(bin_dir), str(RECONCILER_BIN.parent), os.environ["PATH"]))
        self.gh_state = repo.parent / "gh-state.json"
        self.gh_state.write_text(
            json.dumps(
                {
                    "next_id": 100,
                    "calls": [],
                    "comments": [
                        {"id": 1, "pr": PR, "body": "LGTM, but check staging"},
                        {"id": 2, "pr": "8", "body": "<!-- reconciler-plan:production -->\\nold"},
                        {"id": 3, "pr": PR, "body": "Looks right."},
                    ],
                }
            )
        )

    def comments(self) -> list[dict[str, Any]]:
        return json.loads(self.gh_state.read_text())["comments"]

    def base_env(self) -> dict[str, str]:
        env = cli_env(
            PATH=self.path,
            RUNNER_TEMP=str(self.temp),
            GITHUB_STEP_SUMMARY=str(self.summary),
            **({"REQUESTS_CA_BUNDLE": self.ca_bundle} if self.ca_bundle else {}),
            FAKE_GH_STATE=str(self.gh_state),
            FAKE_GH_PR=PR,
        )
        for name in ("SF_CLIENT_ID", "SF_USERNAME", "SF_JWT_KEY_FILE", "SF_TARGET_ORG"):
            env.pop(name, None)
        return env

    def _bash(
        self, script: str, env: dict[str, str], outputs: dict[str, str]
    ) -> subprocess.CompletedProcess:
        step_output = self.temp / "step-output"
        step_output.write_text("")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=self.repo,
            env={**env, "GITHUB_OUTPUT": str(step_output)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        text = step_output.read_text()
        with self.output.open("a") as fh:
            fh.write(text)
        for line in text.splitlines():
            key, _, value = line.partition("=")
            outputs[key] = value
        return proc

    def action(
        self, inputs: dict[str, str], github: dict[str, Any]
    ) -> tuple[dict[str, str], list[tuple[str, subprocess.CompletedProcess]]]:
        """The Action's steps with these inputs; returns its outputs and the steps run."""
        action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
        given = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
        given.update(inputs)
        steps: dict[str, Any] = {}
        context = {"inputs": given, "github": {**github, "action_path": str(REPO)}}
        context["steps"] = steps
        done = []
        for step in action["runs"]["steps"]:
            script = step.get("run", "")
            if not script or "pip install" in script:
                continue
            if "if" in step and not _condition(step["if"], context):
                continue
            env = {**self.base_env(), "GITHUB_ACTION_PATH": str(REPO)}
            env.update({k: _evaluate(str(v), context) for k, v in step.get("env", {}).items()})
            outputs: dict[str, str] = {}
            proc = self._bash(script, env, outputs)
            steps[step.get("id", "")] = {"outputs": outputs}
            done.append((step["name"], proc))
            if proc.returncode != 0:
                break
        results = {k: _evaluate(v["value"], context) for k, v in action["outputs"].items()}
        return results, done

    def run(
        self,
        path: Path,
        job: str,
        matrix: dict[str, str] | None = None,
        inputs: dict[str, str] | None = None,
    ) -> list[tuple[str, subprocess.CompletedProcess]]:
        doc = _load(path)
        spec = doc["jobs"][job]
        assert spec["defaults"]["run"]["shell"] == "bash", "steps run under bash -e"
        github = {
            "repository": REPOSITORY,
            "run_id": "4242",
            "event": {"pull_request": {"number": PR}},
            "token": "fake-token",
        }
        context: dict[str, Any] = {"matrix": matrix or {}, "inputs": inputs or {}}
        context["github"] = github
        environment = _evaluate(str(spec.get("environment", "")), context)
        context["secrets"] = self.secrets.get(environment, {})
        self.ca_bundle = self.ca_bundles.get(environment, "")
        context["vars"] = self.vars.get(environment, {})
        steps: dict[str, Any] = {}
        context["steps"] = steps
        done: list[tuple[str, subprocess.CompletedProcess]] = []
        for step in spec["steps"]:
            if _is_action(step.get("uses", "")):
                with_ = {k: _evaluate(str(v), context) for k, v in step.get("with", {}).items()}
                outputs, ran = self.action(with_, github)
                steps[step.get("id", "")] = {"outputs": outputs}
                done += [(f"{step['name']}: {name}", proc) for name, proc in ran]
            elif _runs_here(step):
                env = self.base_env()
                for scope in (doc.get("env", {}), step.get("env", {})):
                    env.update({k: _evaluate(str(v), context) for k, v in scope.items()})
                outputs = {}
                proc = self._bash(step["run"], env, outputs)
                steps[step.get("id", "")] = {"outputs": outputs}
                done.append((step["name"], proc))
            else:
                continue
            if done and done[-1][1].returncode != 0:
                break
        return done


ORGS = ("production", "staging")


@pytest.fixture(scope="module")
def signer() -> tuple[str, str]:
    return make_self_signed("ci recipe tests")


@pytest.fixture
def ci(tmp_path: Path, make_org, signer) -> Iterator[tuple[Runner, dict[str, Org]]]:
    """A repository laid out as docs/ci.md says (desired/base + one folder per org), two orgs
    (two emulator state files, each served over HTTPS) that trust our certificate for JWT, and
    a runner holding each org's secrets in its environment."""
    orgs = {
        name: make_org(
            lambda doc: settings_of(doc, JWT_APP).update(certificate=signer[1]), name=f"{name}.json"
        )
        for name in ORGS
    }
    repo = tmp_path / "repo"
    (repo / "desired" / "base").mkdir(parents=True)
    shutil.copy(SHIPPED_DESIRED / "apps.yaml", repo / "desired" / "base" / "apps.yaml")
    layers = {"production": "device: true", "staging": "pkce_required: false"}
    for name, setting in layers.items():
        (repo / "desired" / name).mkdir()
        (repo / "desired" / name / "apps.yaml").write_text(
            f"version: 1\napps:\n  Legacy_Importer:\n    settings:\n      {setting}\n",
            encoding="utf-8",
        )
    with (
        EmulatorServer(orgs["production"].path) as prod,
        EmulatorServer(orgs["staging"].path) as staging,
    ):
        servers = {"production": prod, "staging": staging}
        bundles = {name: server.ca_cert_path for name, server in servers.items()}
        secrets = {
            name: {
                "SF_CLIENT_ID": str(settings_of(orgs[name].load(), JWT_APP)["consumerKey"]),
                "SF_USERNAME": JWT_USER,
                "SF_JWT_KEY": signer[0],
            }
            for name in ORGS
        }
        # The login URL is an environment variable (vars.SF_LOGIN_URL): here, each emulator.
        variables = {name: {"SF_LOGIN_URL": servers[name].instance_url} for name in ORGS}
        yield Runner(repo, secrets, variables, bundles), orgs


def _ok(done: list[tuple[str, subprocess.CompletedProcess]]) -> dict[str, str]:
    for name, proc in done:
        assert proc.returncode == 0, (name, proc.returncode, proc.stdout, proc.stderr)
    return {name: proc.stderr for name, proc in done}


KEY_STEP = "Cache key for pip"
COMMENT_STEP = "Comment the plan on the pull request (one comment per org, updated in place)"
PLAN_STEPS = [
    f"Validate: {KEY_STEP}",
    "Validate: Run reconciler",
    f"Plan: {KEY_STEP}",
    "Plan: Run reconciler",
    f"Plan: {COMMENT_STEP}",
    f"Audit: {KEY_STEP}",
    "Audit: Run reconciler",
]


def test_pull_request_for_two_orgs_then_merge(ci):
    runner, orgs = ci
    before = {name: org.bytes() for name, org in orgs.items()}
    for name in ORGS:
        done = runner.run(RECIPE / "reconciler-plan.yml", "plan", {"org": name})
        _ok(done)
        assert [step for step, _ in done] == PLAN_STEPS
    for name, org in orgs.items():
        assert org.bytes() == before[name], "the pull-request workflow must not write to the org"
    # Plan exited 2 (changes) under bash -e and the step still succeeded, saying so.
    assert runner.output.read_text().count("changes=true") == 2
    summary = runner.summary.read_text()
    assert "Legacy_Importer" in summary and "Data_Warehouse_ETL" in summary
    for name, change in (("production", "device"), ("staging", "pkce_required")):
        plan_doc = json.loads((runner.repo / "reconciler-out" / name / "plan.json").read_text())
        assert any(
            c["app"] == "Legacy_Importer" and c["field"] == change for c in plan_doc["changes"]
        ), f"the org layer desired/{name} is part of its plan"
        # Audit exited 3 (the demo org has violations) and its SARIF is there for the upload.
        sarif = json.loads((runner.repo / "reconciler-out" / name / "audit.sarif").read_text())
        assert sarif["runs"][0]["results"]
    # One comment per org on this pull request, each with its own marker; other comments (and
    # another pull request's) untouched.
    comments = runner.comments()
    mine = {c["body"].splitlines()[0]: c for c in comments if c["pr"] == PR and c["id"] > 3}
    assert set(mine) == {f"<!-- reconciler-plan:{name} -->" for name in ORGS}
    assert "`settings.device`" in mine["<!-- reconciler-plan:production -->"]["body"]
    assert "`settings.device`" not in mine["<!-- reconciler-plan:staging -->"]["body"]
    assert [c["body"] for c in comments if c["id"] <= 3] == [
        "LGTM, but check staging",
        "<!-- reconciler-plan:production -->\\nold",
        "Looks right.",
    ]
    assert not list(runner.temp.glob("reconciler.*")), "the key files are removed at the end"
    # A new push: production's plan changes; its comment is updated in place, staging's kept.
    layer = runner.repo / "desired" / "production" / "apps.yaml"
    layer.write_text(layer.read_text().replace("device: true", "token_exchange: false"))
    _ok(runner.run(RECIPE / "reconciler-plan.yml", "plan", {"org": "production"}))
    after = {c["id"]: c for c in runner.comments()}
    prod, stage = (mine[f"<!-- reconciler-plan:{n} -->"]["id"] for n in ORGS)
    assert len(after) == len(comments)
    assert "`settings.device`" not in after[prod]["body"]
    assert after[prod]["body"].startswith("<!-- reconciler-plan:production -->")
    assert after[stage]["body"] == mine["<!-- reconciler-plan:staging -->"]["body"]
    # Merge, org by org: the artifact download hands plan.json over; apply writes that plan.
    layer.write_text(layer.read_text().replace("token_exchange: false", "device: true"))
    for name in ORGS:
        _ok(runner.run(RECIPE / "reconciler-plan.yml", "plan", {"org": name}))
        (runner.repo / f"reviewed-{name}").mkdir()
        shutil.copy(
            runner.repo / "reconciler-out" / name / "plan.json",
            runner.repo / f"reviewed-{name}" / "plan.json",
        )
        done = runner.run(RECIPE / "reconciler-apply.yml", "apply", {"org": name})
        _ok(done)
        assert [step for step, _ in done] == [
            f"Apply the reviewed plan: {KEY_STEP}",
            "Apply the reviewed plan: Run reconciler",
        ]
    assert orgs["production"].settings("Legacy_Importer")["isDeviceFlowEnabled"] is True
    assert orgs["staging"].settings("Legacy_Importer")["isPkceRequired"] is False
    assert orgs["staging"].settings("Legacy_Importer")["isDeviceFlowEnabled"] is False
    for org in orgs.values():
        assert org.policies("Data_Warehouse_ETL")["ipRelaxationPolicyType"] == "Enforce"
    # What the artifact upload keeps: the backup and the evidence, per org.
    for name in ORGS:
        out = runner.repo / "reconciler-out" / name
        assert len(list((out / "state" / "backups").rglob("*.json"))) == 1, name
        assert list((out / "evidence").iterdir()), "evidence kept for the audit trail"


def test_rollback_after_a_pipeline_apply_from_the_artifact(ci):
    """What the apply job uploads is enough to roll back on another runner: the rollback job
    runs from a fresh checkout holding only the downloaded artifact."""
    runner, orgs = ci
    org = orgs["staging"]
    before = org.load()
    _ok(runner.run(RECIPE / "reconciler-plan.yml", "plan", {"org": "staging"}))
    (runner.repo / "reviewed-staging").mkdir()
    shutil.copy(
        runner.repo / "reconciler-out" / "staging" / "plan.json",
        runner.repo / "reviewed-staging" / "plan.json",
    )
    _ok(runner.run(RECIPE / "reconciler-apply.yml", "apply", {"org": "staging"}))
    assert org.settings("Legacy_Importer")["isPkceRequired"] is False
    # "gh run download" of reconciler-apply-staging-<run id> into applied/, on a new runner.
    shutil.copytree(runner.repo / "reconciler-out" / "staging", runner.repo / "applied")
    shutil.rmtree(runner.repo / "reconciler-out")
    done = runner.run(
        RECIPE / "reconciler-apply.yml", "rollback", inputs={"org": "staging", "run-id": "4242"}
    )
    _ok(done)
    assert [step for step, _ in done] == [
        "Find the backup",
        f"Roll back: {KEY_STEP}",
        "Roll back: Run reconciler",
    ]
    restored = org.load()
    for app in ("Legacy_Importer", "Data_Warehouse_ETL"):
        assert settings_of(restored, app) == settings_of(before, app)


def test_a_real_error_still_fails_the_plan_step(ci):
    """Exit 1 (here: a login the org refuses) is not swallowed by the 2/3 handling."""
    runner, _ = ci
    runner.secrets["production"]["SF_USERNAME"] = "nobody@acme.example"
    done = runner.run(RECIPE / "reconciler-plan.yml", "plan", {"org": "production"})
    name, proc = done[-1]
    assert name == "Plan: Run reconciler"
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert not runner.summary.exists() or "Plan:" not in runner.summary.read_text()
    assert [c["id"] for c in runner.comments()] == [1, 2, 3], "no comment for a failed plan"


def test_a_stale_plan_is_refused_on_merge(ci):
    runner, orgs = ci
    _ok(runner.run(RECIPE / "reconciler-plan.yml", "plan", {"org": "production"}))
    (runner.repo / "reviewed-production").mkdir()
    shutil.copy(
        runner.repo / "reconciler-out" / "production" / "plan.json",
        runner.repo / "reviewed-production" / "plan.json",
    )
    layer = runner.repo / "desired" / "production" / "apps.yaml"
    layer.write_text(layer.read_text().replace("device: true", "device: false"), "utf-8")
    before = orgs["production"].bytes()
    done = runner.run(RECIPE / "reconciler-apply.yml", "apply", {"org": "production"})
    name, proc = done[-1]
    assert (name, proc.returncode) == ("Apply the reviewed plan: Run reconciler", 1), proc.stdout
    assert "desired/production/apps.yaml: modified since the plan was made" in proc.stdout + (
        proc.stderr
    )
    assert orgs["production"].bytes() == before


def test_the_action_alone_for_two_orgs_gives_one_comment_each(tmp_path, make_org):
    """The Action's steps with `target-org: emulator:FILE` (two state files, two orgs), as a
    workflow without secrets would use it: one plan and one comment body per org, each with
    its own marker, and the plan's exit 2 a result, not a failure."""
    repo = tmp_path / "repo"
    shutil.copytree(SHIPPED_DESIRED, repo / "desired")
    runner = Runner(repo, {}, {}, {})
    github = {"repository": REPOSITORY, "event": {"pull_request": {"number": PR}}}
    bodies = {}
    for name in ("east", "west"):
        org = make_org(name=f"{name}.json")
        inputs = {"command": "plan", "org-name": name, "format": "markdown", "comment": "true"}
        outputs, done = runner.action({**inputs, "target-org": org.target}, github)
        _ok(done)
        assert [step for step, _ in done] == [KEY_STEP, "Run reconciler", COMMENT_STEP]
        assert outputs["changes"] == "true" and outputs["exit-code"] == "2"
        body = (repo / outputs["comment-file"]).read_text()
        assert body.startswith(f"<!-- reconciler-plan:{name} -->\n")
        assert "Plan:" in body or "apps to change" in body
        bodies[name] = body
    ours = [c for c in runner.comments() if c["id"] > 3]
    assert [c["body"] for c in ours] == [bodies["east"], bodies["west"]]
