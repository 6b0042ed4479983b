"""The runtime dependencies are exactly the third-party packages reconciler/ imports.

A declared dependency nothing imports (zeep was one) costs every user an install and a supply-
chain risk; an imported package nobody declared works only while another dependency happens to
pull it in.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).parents[2]
#: Distribution name (as declared, lower case) -> the module it provides, where they differ.
MODULE_OF = {"pyyaml": "yaml", "simple-salesforce": "simple_salesforce", "pyjwt": "jwt"}


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {
        re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]
    }
    return {MODULE_OF.get(name, name) for name in names}


def imported() -> set[str]:
    """Top-level modules imported anywhere under reconciler/ (lazy imports included) that are
    neither the standard library nor the package itself."""
    found: set[str] = set()
    for path in (REPO / "reconciler").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "reconciler"}


def test_runtime_dependencies_are_what_the_package_imports():
    assert declared() == imported()


def test_zeep_is_not_a_runtime_dependency():
    assert "zeep" not in declared()
    assert "zeep" not in imported()
