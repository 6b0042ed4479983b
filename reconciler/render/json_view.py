"""Machine view: the plan-file document (planfile.py), printed. `apply` accepts either."""

from __future__ import annotations

from ..model import Plan
from ..planfile import dumps


def render_json(plan: Plan) -> str:
    return dumps(plan)
