"""The look-up stage: everything planning needs from the org beyond the live components.

It runs after the live read and before pure planning; planning and audit receive its plain
result and never call the org. Today: who the run-as users are (risk_lookup.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import RiskLookups
from .org.interface import Org
from .risk_lookup import lookup_run_as


def look_up(org: Org, run_as: Iterable[str | None]) -> RiskLookups:
    """Every look-up the run needs, for the run-as usernames given."""
    return lookup_run_as(org, run_as)
