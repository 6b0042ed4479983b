"""Where this tool keeps its own files, named once: backups and locks under the state folder
(`.reconciler/`, or RECONCILER_DIR), and the built-in emulator's default org file.

A leaf module (stdlib only), so the CLI can name these paths without importing the org stack.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: Where backups and locks live; RECONCILER_DIR moves them (tests give each test its own).
STATE_DIR_ENV = "RECONCILER_DIR"
#: The org `-o emulator` serves when no state file is named (created with the demo org).
DEFAULT_EMULATOR_STATE = Path(".reconciler/emulator-org.json")


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or ".reconciler")


def safe_name(org_id: str) -> str:
    """An org id as a file name: Salesforce ids are alphanumeric; anything else is replaced."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", org_id) or "unknown-org"
