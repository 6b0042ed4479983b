"""The one way this tool writes a file: whole or not at all.

Plan files, backups, evidence records, reports, locks and the emulator's state all go through
`write_atomic`, so a crash, Ctrl-C or SIGTERM mid-write leaves either the old file or the new
one, never half of either (temp file in the same folder, fsync, then os.replace).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import ReconcilerError


def write_atomic(path: Path, data: str | bytes, *, mode: int | None = None) -> Path:
    """Write `data` to `path` atomically; errors name the path and the OS's reason."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ReconcilerError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ReconcilerError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path
