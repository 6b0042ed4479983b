"""Evidence records for auditors: one JSON file per plan or apply run.

Each record says who ran what, when, against which org and which desired state (digest),
what was planned, which exceptions were in force, and what happened. It is built from the
plan document, which holds declared fields only, so it can never contain a secret.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .fileio import write_atomic
from .model import Plan
from .paths import safe_name
from .planfile import plan_document

#: CI variables that identify the actor and the run, when present.
CI_VARIABLES = (
    "GITHUB_ACTOR",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_SHA",
    "GITLAB_USER_LOGIN",
    "CI_PIPELINE_ID",
    "CI_COMMIT_SHA",
    "BUILD_ID",
)


def _operator() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {"local_user": user, "ci": {k: os.environ[k] for k in CI_VARIABLES if k in os.environ}}


def write_evidence(directory: Path, command: str, plan: Plan, result: dict[str, Any]) -> Path:
    """Write the record atomically; returns its path."""
    now = datetime.now(UTC)
    exceptions = sorted(
        {
            (f.app, f.control, json.dumps(f.exception, sort_keys=True))
            for a in plan.apps
            for f in a.findings
            if f.exception
        }
    )
    record = {
        "record_version": "1",
        "command": command,
        "time": now.isoformat(timespec="seconds"),
        "org_id": plan.org_id,
        "instance_url": plan.instance_url,
        "operator": _operator(),
        "desired_digest": plan.desired_digest,
        "desired_files": plan.desired_files,
        "baseline": plan.controls,
        "exceptions_in_force": [
            {"app": app, "control": control, **json.loads(e)} for app, control, e in exceptions
        ],
        # Usage evidence (issue 15): what the decision to disable or hold rested on.
        "usage": {a.name: a.usage.to_dict() for a in plan.apps if a.usage is not None},
        "held": [h.to_dict() for h in plan.held],
        "plan": plan_document(plan),
        "result": result,
    }
    name = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{command}-{safe_name(plan.org_id)}"
    target = directory / f"{name}.json"
    counter = 1
    while target.exists():  # two runs in one second: keep both
        target = directory / f"{name}-{counter}.json"
        counter += 1
    return write_atomic(target, json.dumps(record, indent=2) + "\n")
