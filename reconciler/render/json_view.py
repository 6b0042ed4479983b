"""Machine view: the plan-file document (planfile.py), printed. `apply` accepts either."""

from __future__ import annotations

from ..model import Plan
from ..planfile import dumps
from ..safety import SafetyCheck


def render_json(plan: Plan, safety: SafetyCheck | None = None) -> str:
    return dumps(plan, safety)
