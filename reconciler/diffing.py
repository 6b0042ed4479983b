"""Which declared fields differ, decided in one place for the whole project.

Planning, the applier's stale checks and the plan-file comparison all ask the same question
of two {field path: value} maps, so they ask it here: list order is ignored (profiles and
permission sets are sets), a repeated name is not a change, and 30 == 30.0.

This used to hand the lists that differ to DeepDiff(ignore_order=True,
ignore_numeric_type_changes=True), after a fast path had already settled every scalar and every
equal name list: DeepDiff only confirmed what the fast path had found, for ~0.1 s of import
(asyncio included) and a runtime dependency. The comparison below says exactly what it said on
the values a desired state or a Metadata read can hold (tests/unit/test_lazy_imports.py keeps
DeepDiff as the oracle), in a few lines that need no import.
"""

from __future__ import annotations

from typing import Any

from . import fields as F

_ORDER = {spec.path: i for i, spec in enumerate(F.ALL_SPECS)}


_SCALARS = (str, bool, int, float, type(None))


def _canonical(value: Any) -> Any:
    """A hashable form in which equal values (as this module defines equal) are equal:
    lists as sets of their items' forms (order and repeats ignored), numbers as numbers
    whatever their type (30 == 30.0; and True == 1, as DeepDiff said)."""
    if value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list | tuple):
        return ("list", frozenset(_canonical(item) for item in value))
    if isinstance(value, dict):
        return ("dict", frozenset((k, _canonical(v)) for k, v in value.items()))
    return ("other", repr(value))


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Field paths whose values differ; list order is ignored (profiles are a set)."""
    changed = set(before.keys() ^ after.keys())
    for key in before.keys() & after.keys():
        a, b = before[key], after[key]
        if type(a) is type(b) and isinstance(a, _SCALARS):
            if a != b:
                changed.add(key)
        elif _canonical(a) != _canonical(b):
            changed.add(key)
    return sorted(changed, key=lambda p: _ORDER.get(p, len(_ORDER)))


def same(a: Any, b: Any) -> bool:
    """One field's two values mean the same (as changed_paths judges a pair of maps): the
    applier's stale check and rollback ask it of a single value."""
    return not changed_paths({"v": a}, {"v": b})
