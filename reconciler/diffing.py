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


_SCALARS = (str, bool, int, float, type(None))


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Field paths whose values differ; list order is ignored (profiles are a set).

    Most declared fields are a bool, string or number on both sides, where DeepDiff would
    only say what `!=` says at a hundred times the cost; it is asked about the rest (lists,
    mixed numeric types), in one call per pair of maps.
    """
    changed = set(before.keys() ^ after.keys())
    structural: list[str] = []
    for key in before.keys() & after.keys():
        a, b = before[key], after[key]
        if (type(a) is type(b) and isinstance(a, _SCALARS)) or a is None or b is None:
            if a != b:
                changed.add(key)
        else:
            structural.append(key)
    if structural:
        diff = DeepDiff(
            {k: before[k] for k in structural},
            {k: after[k] for k in structural},
            ignore_order=True,
            ignore_numeric_type_changes=True,
        )
        changed |= set(diff.affected_root_keys)
    return sorted(changed, key=lambda p: _ORDER.get(p, len(_ORDER)))
