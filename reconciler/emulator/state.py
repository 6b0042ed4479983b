"""The org's state: a JSON document behind a lock, persisted atomically on every mutation.

Document shape (see demo_org.build_demo_org for a full example)::

    {
      "org": {"id", "name", "consumer_secret_api_access": bool,
              "secret_access_off_behaviour": "fault" | "omit",
              "passwords": {username: password},
              "jwt_audiences": [url, ...],  # JWT `aud` accepted besides the emulator's URL
              "refresh_tokens": {token: {"username", "client_id", "client_secret"?}},
              "fail_updates": {fullName: {"statusCode": str, "message": str}},
              "faults": [rule, ...],      # injected failures, see faults.py
              "latency_ms": int},         # added to every request
      "metadata": {TypeName: {fullName: {field: value}}},
      "metadata_info": {TypeName: {fullName: {"id", "createdDate", "lastModifiedDate"}}},
      "sobjects": {ObjectName: [{"Id": ..., ...}]}   # incl. LoginHistory (login_history.py)
    }
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.fileio import write_atomic


class OrgState:
    """In-memory org with a re-entrant lock; `save()` goes through the project's write_atomic."""

    def __init__(self, doc: dict[str, Any], path: str | os.PathLike[str] | None = None) -> None:
        self.doc = doc
        self.path = Path(path) if path is not None else None
        self.lock = threading.RLock()
        for key in ("metadata", "metadata_info", "sobjects"):
            doc.setdefault(key, {})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> OrgState:
        """Load the state file, creating it with the demo org when missing.

        A folder is an SFDX source folder: the org is seeded from it in memory (seed.py), and
        nothing is ever written back to the folder or anywhere else."""
        p = Path(path)
        if p.is_dir():
            from reconciler.emulator.seed import build_from_source

            return cls(build_from_source(p)[0])
        if not p.exists():
            from reconciler.emulator.demo_org import build_demo_org

            state = cls(build_demo_org(), p)
            state.save()
            return state
        return cls(json.loads(p.read_text(encoding="utf-8")), p)

    def save(self) -> None:
        """Persist atomically so a crash never leaves a half-written state file."""
        if self.path is None:
            return
        with self.lock:
            write_atomic(self.path, json.dumps(self.doc, indent=2, sort_keys=True))

    @contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """Yield a deep copy of the document; commit and save it only if the block succeeds."""
        with self.lock:
            work = copy.deepcopy(self.doc)
            yield work
            self.doc = work
            self.save()

    # --- read helpers -------------------------------------------------------------------
    @property
    def org(self) -> dict[str, Any]:
        org: dict[str, Any] = self.doc["org"]
        return org

    @property
    def org_id(self) -> str:
        return str(self.doc["org"]["id"])

    def components(self, type_name: str) -> dict[str, dict[str, Any]]:
        """Live mapping fullName → fields for one metadata type (copy before mutating)."""
        with self.lock:
            found: dict[str, dict[str, Any]] = self.doc["metadata"].get(type_name, {})
            return found

    def sobjects(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            rows: list[dict[str, Any]] = self.doc["sobjects"].get(name, [])
            return rows

    def find_user(self, username: str, active_only: bool = True) -> dict[str, Any] | None:
        """Usernames are case-insensitive in Salesforce."""
        for user in self.sobjects("User"):
            if str(user.get("Username", "")).lower() == username.strip().lower():
                if active_only and not user.get("IsActive"):
                    return None
                return user
        return None
