"""One apply (or rollback) per org at a time: a lock file per org id.

Two runs writing the same org would each re-read, each pass the stale check, and the later
write would be checked against a state the earlier one is changing under it. The lock is a
file `.reconciler/locks/<org id>.lock` holding who has it (pid, host, start time, command). It
is created atomically: the record goes to a temp file that is then hard-linked to the lock
path, and link(2) fails if the path exists, so two runs can never both think they hold it.

A lock whose holder is gone (same host, pid not alive) is taken over with a warning. A lock
from another host cannot be judged from here and is treated as held.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .display import printable
from .errors import ReconcilerError
from .fileio import write_atomic
from .paths import safe_name, state_dir

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2


class LockHeld(ReconcilerError):
    """Another run holds the org's lock (and --lock-timeout, if any, ran out)."""


def lock_path(org_id: str, root: Path | None = None) -> Path:
    return (root or state_dir() / "locks") / f"{safe_name(org_id)}.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "an unreadable lock record"
    return printable(
        f"`{holder.get('command', '?')}` (pid {holder.get('pid', '?')} on "
        f"{holder.get('host', '?')}, since {holder.get('started', '?')})"
    )


def _is_stale(holder: dict[str, Any]) -> bool:
    pid = holder.get("pid")
    return (
        holder.get("host") == socket.gethostname()
        and isinstance(pid, int)
        and pid != os.getpid()
        and not _alive(pid)
    )


def _try_create(path: Path, record: dict[str, Any]) -> bool:
    """Create the lock atomically; False if it already exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{record['token']}")
    write_atomic(tmp, json.dumps(record, indent=2) + "\n")
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise ReconcilerError(f"cannot create lock {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _take_over(path: Path, holder: dict[str, Any], warn: Callable[[str], None]) -> None:
    """Remove a dead holder's lock, but only if it is still that holder's (no race with a
    concurrent taker: the lock is renamed aside first, and put back if it changed hands)."""
    aside = path.with_name(f".{path.name}.stale.{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if _read(aside) != holder:  # someone else took it over between our read and the rename
        with contextlib.suppress(OSError):
            os.link(aside, path)
    else:
        warn(f"taking over the lock {path} left by {describe(holder)}: that process is gone")
    with contextlib.suppress(OSError):
        os.unlink(aside)


@contextlib.contextmanager
def org_lock(
    org_id: str,
    command: str,
    timeout: float = 0.0,
    *,
    root: Path | None = None,
    warn: Callable[[str], None] = log.warning,
) -> Iterator[Path]:
    """Hold the org's lock for the block; wait up to `timeout` seconds for a live holder."""
    path = lock_path(org_id, root)
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "org_id": org_id,
        "token": secrets.token_hex(8),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReconcilerError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + max(0.0, timeout)
    waiting_said = False
    while not _try_create(path, record):
        holder = _read(path)
        if holder is None:
            continue  # released between our attempt and the read: try again at once
        if _is_stale(holder):
            _take_over(path, holder, warn)
            continue
        if time.monotonic() >= deadline:
            waited = f" (waited {timeout:g}s)" if timeout else ""
            raise LockHeld(
                f"org {org_id} is locked by {describe(holder)}{waited}: one apply or rollback "
                f"per org at a time. Wait for it (--lock-timeout SECONDS), or if you are sure "
                f"no run is active, delete {path}"
            )
        if not waiting_said:
            warn(f"waiting up to {timeout:g}s for the lock held by {describe(holder)}")
            waiting_said = True
        time.sleep(POLL_SECONDS)
    try:
        yield path
    finally:
        if _read(path) == record:  # never remove a lock that is not ours
            with contextlib.suppress(OSError):
                os.unlink(path)
