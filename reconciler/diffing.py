"""Which declared fields differ: DeepDiff, configured once for the whole project.

Planning, the applier's stale checks and the plan-file comparison all ask the same question
of two {field path: value} maps, so they ask it here: list order is ignored (profiles and
permission sets are sets) and 30 == 30.0.

DeepDiff is imported only when a pair needs it (about 0.1 s of start-up, asyncio included):
a plan in which no list field differs never loads it (tests/unit/test_lazy_imports.py).
"""

from __future__ import annotations

from typing import Any

from . import fields as F

_ORDER = {spec.path: i for i, spec in enumerate(F.ALL_SPECS)}


_SCALARS = (str, bool, int, float, type(None))


def _same_names(a: Any, b: Any) -> bool:
    """True when both are lists of strings holding the same names, in any order, repeats
    ignored: exactly when DeepDiff(ignore_order=True) finds no difference between them (it
    reports no repetition unless report_repetition is set), so the common case of an
    unchanged profile or permission set list is settled without it."""
    if not (isinstance(a, list) and isinstance(b, list)):
        return False
    if not all(type(item) is str for item in a) or not all(type(item) is str for item in b):
        return False
    return set(a) == set(b)


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Field paths whose values differ; list order is ignored (profiles are a set).

    Most declared fields are a bool, string or number on both sides, where DeepDiff would
    only say what `!=` says at a hundred times the cost, and equal name lists are settled by
    `_same_names`; DeepDiff is asked about the rest (lists that differ, mixed numeric types),
    in one call per pair of maps.
    """
    changed = set(before.keys() ^ after.keys())
    structural: list[str] = []
    for key in before.keys() & after.keys():
        a, b = before[key], after[key]
        if (type(a) is type(b) and isinstance(a, _SCALARS)) or a is None or b is None:
            if a != b:
                changed.add(key)
        elif not _same_names(a, b):
            structural.append(key)
    if structural:
        from deepdiff import DeepDiff  # lazily: see the module docstring

        diff = DeepDiff(
            {k: before[k] for k in structural},
            {k: after[k] for k in structural},
            ignore_order=True,
            ignore_numeric_type_changes=True,
        )
        changed |= set(diff.affected_root_keys)
    return sorted(changed, key=lambda p: _ORDER.get(p, len(_ORDER)))
