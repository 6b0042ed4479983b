"""Commands the tool suggests (`apply it with ...`, `undo with ...`), spelled so that pasting
them back works: the org arguments the user gave and any -d paths, shell-quoted."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

DEFAULT_DESIRED = (Path("desired"),)


def command(*words: str) -> str:
    """`reconciler WORDS...`, each word quoted for a POSIX shell where it needs it."""
    return shlex.join(["reconciler", *words])


def desired_args(paths: Sequence[Path]) -> list[str]:
    """`-d PATH` for each desired-state path, or nothing when it is the default (desired/)."""
    if tuple(paths) == DEFAULT_DESIRED:
        return []
    return [arg for path in paths for arg in ("-d", str(path))]


def apply_saved(plan_file: Path, desired: Sequence[Path], org_args: Iterable[str]) -> str:
    return command("apply", str(plan_file), *desired_args(desired), *org_args)


def rollback(backup: Path, org_args: Iterable[str]) -> str:
    return command("rollback", str(backup), *org_args)
