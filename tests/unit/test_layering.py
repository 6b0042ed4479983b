"""The layering, read from the imports: desired state -> look-ups -> pure planning -> views /
apply, the org behind one door, a library that owns the guarantees and a CLI on top.

Each module of reconciler/ belongs to one layer; a module may import only from its own layer
or from layers it is allowed to see. Pure planning and views see only the model and the
foundation, so neither can read the org or depend on how a plan was made. A new module must
be given a layer here (the test fails until it is), which is the point: decide, then write.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "reconciler"

#: layer -> the modules in it (dotted, relative to reconciler; a trailing "." is a package).
LAYERS: dict[str, set[str]] = {
    "foundation": {
        "__init__",
        "errors",
        "display",
        "redaction",
        "fields",
        "paths",
        "fileio",
        "stopping",
        "controls",
        "wsdl_schema",
        "yaml_source",
        "diffing",
    },
    "model": {"model", "desired_model", "safety"},
    "org": {"org."},
    "inputs": {
        "desired_state",
        "live_state",
        "risk_lookup",
        "usage_lookup",
        "approval_lookup",
        "lookups",
        "backup",
        "schema",
    },
    "planning": {
        "baseline",
        "planning",
        "risk",
        "audit",
        "usage",
        "export",
        "eca_source",
        "rollback",
    },
    "effects": {"applying", "locking", "evidence", "planfile"},
    "views": {"render.", "terminal"},
    "operations": {"operations"},
    "api": {"api"},
    "cli": {"cli", "cli_options", "cli_support", "__main__"},
    "emulator": {"emulator."},
}
BELOW = {"foundation": {"foundation"}, "model": {"foundation", "model"}}
ALLOWED: dict[str, set[str]] = {
    **BELOW,
    "org": {"foundation", "model", "org"},
    "inputs": {"foundation", "model", "org", "inputs"},
    # Pure: no look-up, no org, no I/O module; only data and the rules over it.
    "planning": {"foundation", "model", "planning"},
    "effects": {"foundation", "model", "org", "inputs", "planning", "effects"},
    # Views see results only: never how they were made.
    "views": {"foundation", "model", "effects", "views"},
    "operations": {"foundation", "model", "org", "inputs", "planning", "effects", "views"},
    "api": {"foundation", "model", "org", "operations", "views", "api"},
    # `reconciler emulator` runs the emulator: the one command that is not an operation.
    "cli": {"foundation", "model", "org", "operations", "views", "cli", "emulator"},
    # The emulator is a separate program that happens to share the package (and its model).
    "emulator": {"foundation", "model", "org", "inputs", "emulator"},
}
#: Imports that break a layer rule on purpose, with the reason. Keep this short.
EXCEPTIONS: dict[tuple[str, str], str] = {
    # The org door starts the in-process emulator for `-o emulator`: a test double of an org.
    ("org.registry", "emulator.server"): "in-process emulator for -o emulator",
    ("org.connect", "emulator.server"): "type of the in-process emulator server",
}


def layer_of(module: str) -> str:
    for layer, members in LAYERS.items():
        for member in members:
            if module == member or (member.endswith(".") and module.startswith(member)):
                return layer
    raise AssertionError(f"reconciler.{module} has no layer in test_layering.LAYERS")


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(
            parts[:-1] + (() if parts[-1] == "__init__" and len(parts) > 1 else parts[-1:])
        )
        if parts[-1] == "__init__" and len(parts) > 1:
            name += "."
        out.append((name, path))
    return out


def imports_of(module: str, path: Path) -> set[str]:
    """reconciler modules `path` imports (at any depth: a lazy import is still a dependency)."""
    package = (
        module.rstrip(".").split(".")[:-1]
        if not module.endswith(".")
        else module.rstrip(".").split(".")
    )
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("reconciler."):
                    found.add(node.module.removeprefix("reconciler."))
                elif node.module == "reconciler":
                    found.update(a.name for a in node.names)
                continue
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if node.module is None:
                for alias in node.names:
                    candidate = ".".join([*base, alias.name])
                    found.add(candidate if _exists(candidate) else ".".join(base) or "__init__")
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("reconciler.")
                for a in node.names
                if a.name.startswith("reconciler.")
            )
    return {f for f in found if f}


def _exists(name: str) -> bool:
    """A module or package of that dotted name exists (else it is an attribute)."""
    path = PACKAGE / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _resolve(name: str) -> str:
    """A module name as LAYERS spells it (a package `x` is `x.`)."""
    return name + "." if (PACKAGE / name.replace(".", "/") / "__init__.py").exists() else name


def violations() -> list[str]:
    out = []
    for module, path in _modules():
        mine = layer_of(module)
        for imported in sorted(imports_of(module, path)):
            target = _resolve(imported)
            theirs = layer_of(target)
            key = (module.rstrip("."), imported)
            if theirs not in ALLOWED[mine] and key not in EXCEPTIONS:
                out.append(f"{module} ({mine}) imports {imported} ({theirs})")
    return out


def test_no_module_imports_a_layer_it_may_not_see():
    assert violations() == []


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("planning", "from .lookups import look_up\n", "imports lookups (inputs)"),
        ("render.text_view", "from ..planning import build_plan\n", "imports planning (planning)"),
        ("desired_state", "from .baseline import check_desired\n", "imports baseline (planning)"),
        ("audit", "from .org.interface import Org\n", "imports org.interface (org)"),
        ("rollback", "from .org.interface import Org\n", "imports org.interface (org)"),
        ("rollback", "from .backup import load_backup\n", "imports backup (inputs)"),
    ],
)
def test_the_rules_catch_the_imports_they_forbid(tmp_path, monkeypatch, module, source, broken):
    """Each of the issue's four broken rules, re-introduced, is caught."""
    path = PACKAGE / (module.replace(".", "/") + ".py")
    mine = layer_of(module)
    imported = imports_of(module, path) | imports_of(module, _write(tmp_path, source))
    found = [
        f"{module} ({mine}) imports {i} ({layer_of(_resolve(i))})"
        for i in sorted(imported)
        if layer_of(_resolve(i)) not in ALLOWED[mine]
    ]
    assert any(broken in line for line in found), found


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "probe.py"
    path.write_text(source)
    return path
