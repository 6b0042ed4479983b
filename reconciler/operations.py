"""Operations: one function per command, each owning its whole sequence and every guarantee.

(Being built: see issue 14.)
"""

from __future__ import annotations

from datetime import date

from .audit import build_audit, run_as_to_look_up
from .baseline import check_desired
from .desired_model import DesiredState
from .desired_state import DesiredPaths, raise_sorted
from .desired_state import load_desired as _load
from .live_state import read_live
from .lookups import DEFAULT_USAGE_WINDOW, look_up
from .model import AuditReport
from .org.interface import Org


def load_desired(path: DesiredPaths, today: date | None = None) -> DesiredState:
    """Load the desired state and run the baseline's checks on it (expired exceptions,
    declared violations without one); DesiredStateError lists every issue."""
    state = _load(path)
    problems, state.warnings = check_desired(state, today or date.today())
    if problems:
        raise_sorted(problems, state.files)
    return state


def audit_org(
    org: Org, desired: DesiredState | None, usage_window_days: int | None = DEFAULT_USAGE_WINDOW
) -> AuditReport:
    """Read the org, look up the run-as users of apps with client credentials on and their
    client-credentials logins over `usage_window_days` (None: no usage look-up), judge."""
    live = read_live(org)
    lookups = look_up(org, run_as_to_look_up(live, desired), usage_window_days)
    return build_audit(desired, live, lookups, org.instance_url)
