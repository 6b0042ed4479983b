"""Which declared fields differ: DeepDiff, configured once for the whole project.

Planning, the applier's stale checks and the plan-file comparison all ask the same question
of two {field path: value} maps, so they ask it here: list order is ignored (profiles and
permission sets are sets) and 30 == 30.0.
"""

from __future__ import annotations

from typing import Any

from deepdiff import DeepDiff

from . import fields as F

_ORDER = {spec.path: i for i, spec in enumerate(F.CATALOGUE)}


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Field paths whose values differ; list order is ignored (profiles are a set)."""
    diff = DeepDiff(before, after, ignore_order=True, ignore_numeric_type_changes=True)
    return sorted(diff.affected_root_keys, key=lambda p: _ORDER.get(p, len(_ORDER)))
