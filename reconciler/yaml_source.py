"""YAML loading that remembers where every key came from.

PyYAML's plain loaders forget line numbers and silently let a duplicate key overwrite the first
one; both matter for a tool whose errors must point at `file:line`. This loader keeps the start
line of each mapping and each of its keys, and reports duplicate keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import Issue


class LocatedDict(dict):
    """A mapping that knows the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class _LocatingLoader(yaml.SafeLoader):
    """SafeLoader whose mappings are LocatedDicts; duplicate keys are recorded, not merged."""

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self.file = file
        self.issues: list[Issue] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LocatedDict:
        self.flatten_mapping(node)
        mapping = LocatedDict()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | bool | float) and key is not None:
                self.issues.append(Issue(self.file, line, str(key), "keys must be plain strings"))
                continue
            if key in mapping:
                self.issues.append(
                    Issue(
                        self.file,
                        line,
                        str(key),
                        f"duplicate key (first defined on line {mapping.key_lines[key]})",
                    )
                )
                continue
            try:
                mapping[key] = self.construct_object(value_node, deep=deep)
            except ValueError as exc:  # e.g. a date like 2027-02-30 that YAML cannot build
                self.issues.append(Issue(self.file, line, str(key), f"invalid value: {exc}"))
                mapping[key] = None
            mapping.key_lines[key] = line
        return mapping


_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    lambda loader, node: loader.construct_mapping(node, deep=True),
)


def load_yaml(path: Path, display: str) -> tuple[Any, list[Issue]]:
    """Parse one YAML file; syntax errors become an Issue with the parser's line, not a raise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Issue(display, None, "", f"cannot read file: {exc}")]
    loader = _LocatingLoader(text, display)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        return None, [Issue(display, line, "", f"YAML syntax error: {problem}{context}")]
    except yaml.YAMLError as exc:
        return None, [Issue(display, None, "", f"YAML error: {exc}")]
    finally:
        loader.dispose()
    return data, loader.issues
